//! The generated tables, read back by hand and through the `acpi` crate over a host buffer
//! standing in for guest-physical memory.

use alloc::vec;
use alloc::vec::Vec;
use core::ptr::NonNull;

use ::acpi::address::{AccessSize, AddressSpace};
use ::acpi::fadt::Fadt;
use ::acpi::madt::Madt;
use ::acpi::platform::interrupt::{Polarity, TriggerMode};
use ::acpi::{AcpiHandler, AcpiTable, AcpiTables as Parsed, InterruptModel, PhysicalMapping};

use super::*;

/// Guest-physical memory `[base, base + len)` backed by an 8-byte aligned host buffer.
#[derive(Clone)]
struct BufferHandler {
    base: usize,
    host: NonNull<u8>,
    len: usize,
}

impl AcpiHandler for BufferHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let offset = physical_address
            .checked_sub(self.base)
            .filter(|offset| offset + size <= self.len)
            .unwrap_or_else(|| panic!("map of {physical_address:#x}+{size:#x} outside tables"));
        // SAFETY: `offset + size` lies within the buffer (checked above), which outlives the
        // handler in every test.
        let pointer = unsafe { self.host.add(offset) }.cast::<T>();
        // SAFETY: the region is mapped host memory of `size` bytes; the caller vouches for `T`.
        unsafe { PhysicalMapping::new(physical_address, pointer, size, size, self.clone()) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// The tables copied into an aligned buffer (kept alive by the caller) and a handler over it.
fn memory(tables: &AcpiTables) -> (Vec<u64>, BufferHandler) {
    let mut words = vec![0u64; tables.bytes.len().div_ceil(8)];
    let host = NonNull::new(words.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: `words` holds at least `bytes.len()` bytes and does not overlap `bytes`.
    unsafe {
        core::ptr::copy_nonoverlapping(tables.bytes.as_ptr(), host.as_ptr(), tables.bytes.len())
    };
    let handler = BufferHandler {
        base: tables.base as usize,
        host,
        len: tables.bytes.len(),
    };
    (words, handler)
}

fn pc_tables() -> AcpiTables {
    build(TABLES_BASE, &AcpiPlatform::PC).unwrap()
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap())
}

/// The table whose guest-physical address is `address`, by its header's length.
fn table_at(tables: &AcpiTables, address: u64) -> &[u8] {
    let offset = (address - tables.base) as usize;
    let length = u32_at(&tables.bytes, offset + HEADER_LENGTH_OFFSET) as usize;
    &tables.bytes[offset..offset + length]
}

fn sums_to_zero(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b)) == 0
}

/// The tables the XSDT lists, plus the DSDT the FADT names.
fn all_tables(tables: &AcpiTables) -> Vec<&[u8]> {
    let rsdp = &tables.bytes[..RSDP_LENGTH];
    let xsdt = table_at(tables, u64_at(rsdp, RSDP_XSDT_ADDRESS));
    let mut found = vec![xsdt];
    let (entries, _) = xsdt[HEADER_LENGTH..].as_chunks::<8>();
    for entry in entries {
        found.push(table_at(tables, u64::from_le_bytes(*entry)));
    }
    let fadt = found[1];
    found.push(table_at(tables, u64_at(fadt, FADT_X_DSDT)));
    found
}

#[test]
fn rsdp_has_both_checksums_and_finds_the_xsdt() {
    let tables = pc_tables();
    let rsdp = &tables.bytes[..RSDP_LENGTH];
    assert_eq!(&rsdp[..8], b"RSD PTR ");
    assert_eq!(rsdp[RSDP_REVISION_OFFSET], 2);
    assert!(sums_to_zero(&rsdp[..RSDP_V1_LENGTH]));
    assert!(sums_to_zero(rsdp));
    assert_eq!(u32_at(rsdp, RSDP_LENGTH_OFFSET), 36);
    let xsdt = table_at(&tables, u64_at(rsdp, RSDP_XSDT_ADDRESS));
    assert_eq!(&xsdt[..4], b"XSDT");
    assert_eq!(tables.rsdp, TABLES_BASE);
}

#[test]
fn every_table_checksums_to_zero_with_oem_ids_set() {
    let tables = pc_tables();
    let found = all_tables(&tables);
    let signatures: Vec<&[u8]> = found.iter().map(|t| &t[..4]).collect();
    assert_eq!(
        signatures,
        [&b"XSDT"[..], &b"FACP"[..], &b"APIC"[..], &b"DSDT"[..]]
    );
    for table in found {
        assert!(sums_to_zero(table), "{:?}", &table[..4]);
        assert_eq!(&table[HEADER_OEM_ID..HEADER_OEM_ID + 6], b"UHVISR");
        assert_eq!(
            &table[HEADER_OEM_TABLE_ID..HEADER_OEM_TABLE_ID + 8],
            b"UHVMACHN"
        );
    }
}

#[test]
fn rsdp_is_found_by_the_bios_area_search() {
    let tables = pc_tables();
    // The legacy search: 16-byte boundaries of 0xE0000–0xFFFFF, signature and checksum.
    let hit = (TABLES_BASE..RSDP_SEARCH_END)
        .step_by(16)
        .map(|gpa| (gpa, (gpa - tables.base) as usize))
        .take_while(|&(_, offset)| offset + RSDP_LENGTH <= tables.bytes.len())
        .find(|&(_, offset)| {
            let candidate = &tables.bytes[offset..offset + RSDP_LENGTH];
            &candidate[..8] == RSDP_SIGNATURE && sums_to_zero(&candidate[..RSDP_V1_LENGTH])
        });
    assert_eq!(hit.map(|(gpa, _)| gpa), Some(0xE_0000));
}

#[test]
fn madt_lists_lapic_0_ioapic_1_and_isa_overrides_0_to_2_and_sci_level() {
    let tables = pc_tables();
    let (_words, handler) = memory(&tables);
    // SAFETY: the handler maps the buffer holding the tables just built.
    let parsed = unsafe { Parsed::from_rsdp(handler, tables.rsdp as usize) }.unwrap();
    let madt = parsed.find_table::<Madt>().unwrap();
    assert!(madt.get().supports_8259());
    let platform = parsed.platform_info().unwrap();
    let InterruptModel::Apic(apic) = &platform.interrupt_model else {
        panic!("no APIC interrupt model");
    };
    assert_eq!(apic.local_apic_address, 0xFEE0_0000);
    assert!(apic.also_has_legacy_pics);
    assert_eq!(apic.io_apics.len(), 1);
    let io = &apic.io_apics[0];
    assert_eq!(
        (io.id, io.address, io.global_system_interrupt_base),
        (1, 0xFEC0_0000, 0)
    );
    let overrides: Vec<_> = apic
        .interrupt_source_overrides
        .iter()
        .map(|o| {
            (
                o.isa_source,
                o.global_system_interrupt,
                o.polarity,
                o.trigger_mode,
            )
        })
        .collect();
    assert_eq!(
        overrides,
        [
            (0, 2, Polarity::SameAsBus, TriggerMode::SameAsBus),
            (9, 9, Polarity::ActiveHigh, TriggerMode::Level),
        ]
    );
    let processors = platform.processor_info.unwrap();
    assert_eq!(processors.boot_processor.local_apic_id, 0);
    assert!(processors.application_processors.is_empty());
}

#[test]
fn fadt_is_revision_6_with_sci_9_boot_arch_and_cf9_reset() {
    let tables = pc_tables();
    let (_words, handler) = memory(&tables);
    // SAFETY: the handler maps the buffer holding the tables just built.
    let parsed = unsafe { Parsed::from_rsdp(handler, tables.rsdp as usize) }.unwrap();
    let fadt = parsed.find_table::<Fadt>().unwrap();
    let header = *fadt.header();
    assert_eq!({ header.revision }, 6);
    assert_eq!({ header.length }, 276);
    assert_eq!(header.oem_id, *b"UHVISR");
    assert_eq!({ fadt.sci_interrupt }, 9);
    let boot_arch = { fadt.iapc_boot_arch };
    assert!(boot_arch.legacy_devices_are_accessible());
    assert!(boot_arch.motherboard_implements_8042());
    let flags = { fadt.flags };
    assert!(flags.supports_system_reset_via_fadt());
    assert!(!flags.system_is_hw_reduced_acpi());
    let reset = fadt.reset_register().unwrap();
    assert_eq!(reset.address_space, AddressSpace::SystemIo);
    assert_eq!(reset.access_size, AccessSize::ByteAccess);
    assert_eq!((reset.address, reset.bit_width), (0xCF9, 8));
    assert_eq!({ fadt.reset_value }, 6);
}

#[test]
fn fadt_names_the_pm_models_event_control_and_timer_blocks() {
    let tables = pc_tables();
    let (_words, handler) = memory(&tables);
    // SAFETY: the handler maps the buffer holding the tables just built.
    let parsed = unsafe { Parsed::from_rsdp(handler, tables.rsdp as usize) }.unwrap();
    let fadt = parsed.find_table::<Fadt>().unwrap();
    let event = fadt.pm1a_event_block().unwrap();
    assert_eq!(event.address_space, AddressSpace::SystemIo);
    assert_eq!((event.address, event.bit_width), (0x600, 32));
    assert_eq!(event.access_size, AccessSize::WordAccess);
    let control = fadt.pm1a_control_block().unwrap();
    assert_eq!(control.address_space, AddressSpace::SystemIo);
    assert_eq!((control.address, control.bit_width), (0x604, 16));
    assert_eq!(control.access_size, AccessSize::WordAccess);
    let timer = fadt.pm_timer_block().unwrap().unwrap();
    assert_eq!(timer.address_space, AddressSpace::SystemIo);
    assert_eq!((timer.address, timer.bit_width), (0x608, 32));
    assert_eq!(timer.access_size, AccessSize::DWordAccess);
    let flags = { fadt.flags };
    assert!(!flags.pm_timer_is_32_bit(), "the model's timer has 24 bits");
    assert_eq!(fadt.pm1b_event_block().unwrap(), None);
    assert_eq!(fadt.pm1b_control_block().unwrap(), None);
    assert_eq!(fadt.gpe0_block().unwrap(), None);
    assert_eq!({ fadt.smi_cmd_port }, 0, "always in ACPI mode");
    assert_eq!({ fadt.worst_c2_latency }, 101, "no C2");
    assert_eq!({ fadt.worst_c3_latency }, 1001, "no C3");
    assert_eq!(
        [event.address, control.address, timer.address],
        [
            u64::from(devices::acpi_pm::PM1A_EVT_PORT),
            u64::from(devices::acpi_pm::PM1A_CNT_PORT),
            u64::from(devices::acpi_pm::PM_TMR_PORT),
        ]
    );
}

#[test]
fn fadt_32_bit_block_fields_and_lengths_agree_with_the_x_fields() {
    // ACPICA (tbfadt.c) warns on an address or length mismatch between the two.
    let fadt = fadt_bytes(&pc_tables());
    let fields = [
        (FADT_PM1A_EVT_BLK, FADT_PM1_EVT_LEN, FADT_X_PM1A_EVT_BLK),
        (FADT_PM1A_CNT_BLK, FADT_PM1_CNT_LEN, FADT_X_PM1A_CNT_BLK),
        (FADT_PM_TMR_BLK, FADT_PM_TMR_LEN, FADT_X_PM_TMR_BLK),
    ];
    let expected = [(0x600, 4), (0x604, 2), (0x608, 4)];
    for ((port_field, length_field, gas_field), (port, length)) in fields.into_iter().zip(expected)
    {
        assert_eq!(u32_at(&fadt, port_field), port);
        assert_eq!(fadt[length_field], length);
        assert_eq!(fadt[gas_field], GAS_SYSTEM_IO);
        assert_eq!(fadt[gas_field + 1], length * 8);
        assert_eq!(u64_at(&fadt, gas_field + 4), u64::from(port));
    }
    let lengths = [FADT_PM1_EVT_LEN, FADT_PM1_CNT_LEN, FADT_PM_TMR_LEN].map(|field| fadt[field]);
    assert_eq!(
        lengths,
        [
            devices::acpi_pm::PM1_EVT_LEN,
            devices::acpi_pm::PM1_CNT_LEN,
            devices::acpi_pm::PM_TMR_LEN,
        ]
    );
}

#[test]
fn dsdt_holds_exactly_the_s5_package_with_the_models_sleep_type() {
    let tables = pc_tables();
    let (_words, handler) = memory(&tables);
    // SAFETY: the handler maps the buffer holding the tables just built.
    let parsed = unsafe { Parsed::from_rsdp(handler, tables.rsdp as usize) }.unwrap();
    let dsdt = parsed.dsdt().unwrap();
    let dsdt_address = u64::from(u32_at(&fadt_bytes(&tables), FADT_DSDT));
    assert_eq!(dsdt.address as u64, dsdt_address + 36);
    // Name (\_S5, Package (0x04) { 0x05, Zero, Zero, Zero }), as iasl compiles it.
    let expected: [u8; 14] = [
        0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x07, 0x04, 0x0A, 0x05, 0x00, 0x00, 0x00,
    ];
    assert_eq!(dsdt.length as usize, expected.len());
    let table = table_at(&tables, dsdt_address);
    assert_eq!(&table[HEADER_LENGTH..], &expected);
    assert_eq!(expected[10], devices::acpi_pm::SLP_TYP_S5);
}

#[test]
fn aml_byte_integers_use_the_short_constants() {
    assert_eq!(aml_byte_integer(0), [AML_ZERO_OP]);
    assert_eq!(aml_byte_integer(1), [AML_ONE_OP]);
    assert_eq!(aml_byte_integer(5), [AML_BYTE_PREFIX, 5]);
    assert_eq!(aml_byte_integer(0xFF), [AML_BYTE_PREFIX, 0xFF]);
}

fn fadt_bytes(tables: &AcpiTables) -> Vec<u8> {
    all_tables(tables)[1].to_vec()
}

#[test]
fn tables_follow_the_base_address() {
    let tables = build(0x10_0000, &AcpiPlatform::PC).unwrap();
    let rsdp = &tables.bytes[..RSDP_LENGTH];
    let xsdt = u64_at(rsdp, RSDP_XSDT_ADDRESS);
    assert_eq!(xsdt, 0x10_0000 + 0x30);
    let fadt = fadt_bytes(&tables);
    assert_eq!(
        u64_at(&fadt, FADT_X_DSDT),
        u64::from(u32_at(&fadt, FADT_DSDT))
    );
    assert!(u64_at(&fadt, FADT_X_DSDT) > xsdt);
}

#[test]
fn misaligned_or_high_bases_are_refused() {
    assert_eq!(
        build(0xE_0008, &AcpiPlatform::PC),
        Err(AcpiError::MisalignedBase { base: 0xE_0008 })
    );
    assert!(matches!(
        build(0xFFFF_FF00, &AcpiPlatform::PC),
        Err(AcpiError::AboveFourGiB { .. })
    ));
    assert!(matches!(
        build(u64::MAX - 15, &AcpiPlatform::PC),
        Err(AcpiError::AboveFourGiB { .. })
    ));
}
