//! AML encodings checked against the bytes iasl 20200925 compiles for the same ASL.

use alloc::vec;
use alloc::vec::Vec;

use super::*;

#[test]
fn pkg_length_uses_the_one_byte_form_up_to_63() {
    assert_eq!(pkg_length(0), Ok(vec![0x01]));
    assert_eq!(pkg_length(62), Ok(vec![0x3F]));
}

#[test]
fn pkg_length_uses_the_two_byte_form_from_64_to_4095() {
    // 63 bytes of content + 2 PkgLength bytes = 65 = 0x41: lead 0x40 | 0x1, then 0x04.
    assert_eq!(pkg_length(63), Ok(vec![0x41, 0x04]));
    // 0x0FFF - 2 bytes of content: the largest two-byte length.
    assert_eq!(pkg_length(0x0FFD), Ok(vec![0x4F, 0xFF]));
}

#[test]
fn pkg_length_uses_the_three_and_four_byte_forms_beyond() {
    // 0x0FFE + 3 = 0x1001: lead 0x80 | 0x1, then 0x00, 0x01.
    assert_eq!(pkg_length(0x0FFE), Ok(vec![0x81, 0x00, 0x01]));
    assert_eq!(pkg_length(0x000F_FFFC), Ok(vec![0x8F, 0xFF, 0xFF]));
    assert_eq!(pkg_length(0x000F_FFFD), Ok(vec![0xC1, 0x00, 0x00, 0x01]));
    assert_eq!(
        pkg_length(PKG_LENGTH_MAX - 4),
        Ok(vec![0xCF, 0xFF, 0xFF, 0xFF])
    );
}

#[test]
fn pkg_length_refuses_more_than_28_bits() {
    let content = PKG_LENGTH_MAX - 3;
    assert_eq!(pkg_length(content), Err(AmlError::TooLong { content }));
    assert_eq!(
        pkg_length(usize::MAX),
        Err(AmlError::TooLong {
            content: usize::MAX
        })
    );
}

#[test]
fn integers_take_the_shortest_encoding() {
    assert_eq!(integer(0), [ZERO_OP]);
    assert_eq!(integer(1), [ONE_OP]);
    assert_eq!(integer(2), [BYTE_PREFIX, 0x02]);
    assert_eq!(integer(0xFF), [BYTE_PREFIX, 0xFF]);
    assert_eq!(integer(0x100), [WORD_PREFIX, 0x00, 0x01]);
    assert_eq!(integer(0xFFFF), [WORD_PREFIX, 0xFF, 0xFF]);
    assert_eq!(integer(0x0001_FFFF), [DWORD_PREFIX, 0xFF, 0xFF, 0x01, 0x00]);
    assert_eq!(
        integer(0x1_0000_0000),
        [QWORD_PREFIX, 0, 0, 0, 0, 0x01, 0, 0, 0]
    );
}

#[test]
fn eisa_id_compresses_the_vendor_letters_and_keeps_the_product_digits() {
    // iasl: EisaId ("PNP0A03") → 0x030AD041, EisaId ("PNP0A08") → 0x080AD041.
    assert_eq!(eisa_id(*b"PNP0A03"), 0x030A_D041);
    assert_eq!(eisa_id(*b"PNP0A08"), 0x080A_D041);
    assert_eq!(eisa_id(*b"PNP0C0F"), 0x0F0C_D041);
    assert_eq!(
        integer(eisa_id(*b"PNP0A03").into()),
        [DWORD_PREFIX, 0x41, 0xD0, 0x0A, 0x03]
    );
}

#[test]
fn name_strings_use_root_dual_and_multi_prefixes() {
    const SB: NameSeg = NameSeg::new(*b"_SB_");
    const PCI0: NameSeg = NameSeg::new(*b"PCI0");
    assert_eq!(name_string(true, &[SB]), Ok(b"\\_SB_".to_vec()));
    assert_eq!(name_string(false, &[PCI0]), Ok(b"PCI0".to_vec()));
    assert_eq!(relative_name(PCI0), b"PCI0");
    assert_eq!(
        name_string(true, &[SB, PCI0]),
        Ok(b"\\\x2E_SB_PCI0".to_vec())
    );
    assert_eq!(
        name_string(false, &[SB, PCI0, SB]),
        Ok(b"\x2F\x03_SB_PCI0_SB_".to_vec())
    );
    assert_eq!(name_string(true, &[]), Ok(vec![ROOT_CHAR, NULL_NAME]));
    let many = vec![SB; 256];
    assert_eq!(
        name_string(false, &many),
        Err(AmlError::TooManyElements { elements: 256 })
    );
}

#[test]
#[should_panic(expected = "NameSeg")]
fn name_segments_refuse_lowercase_and_leading_digits() {
    let _ = NameSeg::new(*b"1abc");
}

#[test]
fn name_of_a_package_matches_iasl() {
    // Name (\_S5, Package (0x04) { 0x05, Zero, Zero, Zero })
    let s5 = NameSeg::new(*b"_S5_");
    let package = package(&[integer(5), integer(0), integer(0), integer(0)]).unwrap();
    let object = name(&name_string(true, &[s5]).unwrap(), &package);
    assert_eq!(
        object,
        [
            0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x07, 0x04, 0x0A, 0x05, 0x00, 0x00, 0x00
        ]
    );
}

#[test]
fn packages_count_elements_in_a_byte() {
    assert_eq!(package(&[]), Ok(vec![PACKAGE_OP, 0x02, 0x00]));
    let many = vec![integer(0); 256];
    assert_eq!(
        package(&many),
        Err(AmlError::TooManyElements { elements: 256 })
    );
    // 255 Zeros: 256 content bytes, a two-byte PkgLength of 258 (0x102).
    let full = package(&vec![integer(0); 255]).unwrap();
    assert_eq!(&full[..4], [PACKAGE_OP, 0x42, 0x10, 0xFF]);
    assert_eq!(full.len(), 1 + 2 + 1 + 255);
}

#[test]
fn scope_and_device_wrap_their_terms_with_a_pkg_length() {
    // Scope (\_SB) { Device (PCI0) { Name (_UID, Zero) } }
    let uid = name(b"_UID", &integer(0));
    let device = device(b"PCI0", &uid).unwrap();
    assert_eq!(
        device,
        [
            EXT_OP_PREFIX,
            DEVICE_OP,
            0x0B,
            b'P',
            b'C',
            b'I',
            b'0',
            NAME_OP,
            b'_',
            b'U',
            b'I',
            b'D',
            ZERO_OP
        ]
    );
    let scope = scope(b"\\_SB_", &device).unwrap();
    assert_eq!(&scope[..7], [SCOPE_OP, 0x13, b'\\', b'_', b'S', b'B', b'_']);
    assert_eq!(&scope[7..], device.as_slice());
}

#[test]
fn buffers_carry_their_size_as_an_integer() {
    assert_eq!(
        buffer(&[0x79, 0x00]),
        Ok(vec![BUFFER_OP, 0x05, BYTE_PREFIX, 0x02, 0x79, 0x00])
    );
    // 100 bytes: size ByteConst 0x64, PkgLength 2 + 100 + 2 = 104 (0x68) in two bytes.
    let long = buffer(&[0xAA; 100]).unwrap();
    assert_eq!(&long[..5], [BUFFER_OP, 0x48, 0x06, BYTE_PREFIX, 0x64]);
    assert_eq!(long.len(), 105);
}

#[test]
fn word_bus_number_window_matches_iasl() {
    // WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
    //     0x0000, 0x0000, 0x00FF, 0x0000, 0x0100)
    assert_eq!(
        word_window(AddressSpace::BusNumber, 0, 0, 0xFF),
        Ok([
            0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x00,
            0x00, 0x01
        ])
    );
}

#[test]
fn word_io_window_matches_iasl() {
    // WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
    //     0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300)
    assert_eq!(
        word_window(AddressSpace::Io, IO_ENTIRE_RANGE, 0x0D00, 0xFFFF),
        Ok([
            0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x0D, 0xFF, 0xFF, 0x00, 0x00,
            0x00, 0xF3
        ])
    );
}

#[test]
fn windows_refuse_empty_or_unencodable_ranges() {
    assert_eq!(
        word_window(AddressSpace::Io, 0, 0x10, 0x0F),
        Err(AmlError::BadRange {
            min: 0x10,
            max: 0x0F
        })
    );
    // 0x0000–0xFFFF is 0x10000 ports: the Word length field cannot hold it.
    assert_eq!(
        word_window(AddressSpace::Io, 0, 0, 0xFFFF),
        Err(AmlError::BadRange {
            min: 0,
            max: 0xFFFF
        })
    );
    assert!(dword_window(AddressSpace::Memory, 0, 0, u32::MAX).is_err());
}

#[test]
fn dword_memory_window_matches_iasl() {
    // DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,
    //     0x00000000, 0x000A0000, 0x000BFFFF, 0x00000000, 0x00020000)
    let expected: [u8; 26] = [
        0x87, 0x17, 0x00, 0x00, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0A, 0x00, 0xFF,
        0xFF, 0x0B, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
    ];
    assert_eq!(
        dword_window(
            AddressSpace::Memory,
            MEMORY_CACHEABLE | MEMORY_READ_WRITE,
            0x000A_0000,
            0x000B_FFFF
        ),
        Ok(expected)
    );
    // NonCacheable, ReadWrite: type-specific flags 0x01.
    let mmio = dword_window(
        AddressSpace::Memory,
        MEMORY_NON_CACHEABLE | MEMORY_READ_WRITE,
        0xE000_0000,
        0xFEAF_FFFF,
    )
    .unwrap();
    assert_eq!(mmio[5], 0x01);
    assert_eq!(&mmio[22..], 0x1EB0_0000u32.to_le_bytes());
}

#[test]
fn io_port_descriptor_matches_iasl() {
    // IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)
    assert_eq!(
        io_port(0x0CF8, 0x0CF8, 1, 8),
        [0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08]
    );
}

#[test]
fn resource_template_ends_with_an_end_tag_with_checksum_zero() {
    // ResourceTemplate () { IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08) }
    let port = io_port(0x0CF8, 0x0CF8, 1, 8);
    let template = resource_template(&[&port]).unwrap();
    let expected: Vec<u8> = [
        &[BUFFER_OP, 0x0D, BYTE_PREFIX, 0x0A][..],
        &port[..],
        &[0x79, 0x00][..],
    ]
    .concat();
    assert_eq!(template, expected);
    assert_eq!(END_TAG, 0x79);
    assert_eq!(IO_PORT_TAG, 0x47);
    assert_eq!(WORD_ADDRESS_SPACE_TAG, 0x88);
    assert_eq!(DWORD_ADDRESS_SPACE_TAG, 0x87);
}
