//! A small AML encoder (ACPI 6.0 §20, "ACPI Machine Language (AML) Specification") and the
//! resource descriptors a `_CRS` buffer holds (§6.4, "Resource Data Types for ACPI"): enough for
//! the DSDT's named integers, packages, buffers, scopes and devices, byte for byte what iasl
//! compiles from the same ASL (iasl picks the shortest integer encoding too).
//!
//! Each function returns the bytes of one term; terms nest by handing the inner bytes to the
//! outer constructor, which puts its opcode and PkgLength (§20.2.4) in front. Every length is
//! checked: a term too long for a PkgLength, or a package with more elements than its one-byte
//! count holds, is an [`AmlError`], not a truncated encoding.

use alloc::vec::Vec;

// Data objects (§20.2.3, §20.2.5.4).
/// The constant 0 (`Zero`).
pub const ZERO_OP: u8 = 0x00;
/// The constant 1 (`One`).
pub const ONE_OP: u8 = 0x01;
/// ByteConst: BytePrefix ByteData.
pub const BYTE_PREFIX: u8 = 0x0A;
/// WordConst: WordPrefix WordData (little endian).
pub const WORD_PREFIX: u8 = 0x0B;
/// DWordConst: DWordPrefix DWordData.
pub const DWORD_PREFIX: u8 = 0x0C;
/// QWordConst: QWordPrefix QWordData.
pub const QWORD_PREFIX: u8 = 0x0E;

// Named objects and their containers (§20.2.5.1–§20.2.5.2, §20.2.5.4).
/// DefName: NameOp NameString DataRefObject.
pub const NAME_OP: u8 = 0x08;
/// DefScope: ScopeOp PkgLength NameString TermList.
pub const SCOPE_OP: u8 = 0x10;
/// DefBuffer: BufferOp PkgLength BufferSize ByteList.
pub const BUFFER_OP: u8 = 0x11;
/// DefPackage: PackageOp PkgLength NumElements PackageElementList.
pub const PACKAGE_OP: u8 = 0x12;
/// The first byte of the two-byte opcodes.
pub const EXT_OP_PREFIX: u8 = 0x5B;
/// DefDevice: ExtOpPrefix DeviceOp PkgLength NameString TermList.
pub const DEVICE_OP: u8 = 0x82;

// Names (§20.2.2).
/// A NameString's leading `\`: the path starts at the namespace root.
pub const ROOT_CHAR: u8 = b'\\';
/// DualNamePath: DualNamePrefix NameSeg NameSeg.
pub const DUAL_NAME_PREFIX: u8 = 0x2E;
/// MultiNamePath: MultiNamePrefix SegCount NameSeg(SegCount).
pub const MULTI_NAME_PREFIX: u8 = 0x2F;
/// NullName: a NamePath with no segments.
pub const NULL_NAME: u8 = 0x00;

// PkgLength (§20.2.4): bits 7:6 of the lead byte count the bytes that follow (0–3). Alone,
// the lead byte holds the length in bits 5:0; with followers it holds the low nibble in bits
// 3:0 and each following byte the next eight bits. The length counts the PkgLength's own bytes.
/// The largest length the one-byte form holds.
pub const PKG_LENGTH_ONE_BYTE_MAX: usize = 0x3F;
/// The most bytes a PkgLength takes.
pub const PKG_LENGTH_MAX_BYTES: usize = 4;
/// The largest length: a nibble and three bytes, 28 bits.
pub const PKG_LENGTH_MAX: usize = (1 << 28) - 1;
/// Where the lead byte keeps the count of following bytes.
const PKG_LENGTH_FOLLOWING_SHIFT: u32 = 6;
/// The lead byte's share of a multi-byte length: the low nibble.
const PKG_LENGTH_LEAD_BITS: u32 = 4;
const PKG_LENGTH_LEAD_MASK: usize = (1 << PKG_LENGTH_LEAD_BITS) - 1;
const BITS_PER_BYTE: u32 = 8;

/// EISA ID (§6.1.5, `_HID`; §19.6.35 `EISAID`): three letters of five bits each (`A` = 1) in
/// a big-endian word, then four hex digits in two bytes, stored as a little-endian DWord.
const EISA_LETTER_BITS: u32 = 5;
const EISA_LETTER_BASE: u8 = b'A' - 1;
const EISA_LETTERS: usize = 3;
const EISA_DIGITS: usize = 4;
const HEX_RADIX: u32 = 16;

// Resource descriptors (§6.4). A small item's tag byte is its item name in bits 6:3 and its
// data length in bits 2:0 (§6.4.2); a large item's tag byte has bit 7 set with the item name
// in bits 6:0, then a 16-bit data length (§6.4.3).
const SMALL_ITEM_NAME_SHIFT: u32 = 3;
/// I/O Port Descriptor (§6.4.2.5): small item name 0x08, seven data bytes (tag 0x47).
pub const IO_PORT_TAG: u8 = (0x08 << SMALL_ITEM_NAME_SHIFT) | IO_PORT_DATA_LENGTH;
const IO_PORT_DATA_LENGTH: u8 = 7;
/// I/O Port Descriptor information bit 0: the device decodes all 16 address bits.
pub const IO_PORT_DECODE_16: u8 = 1 << 0;
/// End Tag (§6.4.2.9): small item name 0x0F, one data byte, the checksum (tag 0x79).
pub const END_TAG: u8 = (0x0F << SMALL_ITEM_NAME_SHIFT) | END_TAG_DATA_LENGTH;
const END_TAG_DATA_LENGTH: u8 = 1;
/// An End Tag checksum of 0: "the checksum is ignored" (what iasl writes).
pub const END_TAG_CHECKSUM_IGNORED: u8 = 0;
/// Large item: bit 7 of the tag byte.
const LARGE_ITEM: u8 = 1 << 7;
/// DWord Address Space Descriptor (§6.4.3.5.2), tag 0x87.
pub const DWORD_ADDRESS_SPACE_TAG: u8 = LARGE_ITEM | 0x07;
/// Word Address Space Descriptor (§6.4.3.5.3), tag 0x88.
pub const WORD_ADDRESS_SPACE_TAG: u8 = LARGE_ITEM | 0x08;
/// A large item's tag and 16-bit length.
const LARGE_HEADER_BYTES: usize = 3;
/// Bytes of a Word Address Space Descriptor without a resource source.
pub const WORD_ADDRESS_SPACE_BYTES: usize = 16;
/// Bytes of a DWord Address Space Descriptor without a resource source.
pub const DWORD_ADDRESS_SPACE_BYTES: usize = 26;
/// Bytes of an I/O Port Descriptor.
pub const IO_PORT_BYTES: usize = 8;
// Address space descriptor general flags (byte 4): bit 0 set consumes the resource, clear
// produces it (a bridge's window); bit 1 set is subtractive decode, clear positive decode.
/// General flags bit 2 (`_MIF`): the minimum address is fixed.
pub const ADDRESS_MIN_FIXED: u8 = 1 << 2;
/// General flags bit 3 (`_MAF`): the maximum address is fixed.
pub const ADDRESS_MAX_FIXED: u8 = 1 << 3;
/// I/O type-specific flags bits 1:0 (`_RNG`) = 3: both ISA and non-ISA ranges
/// (`EntireRange`).
pub const IO_ENTIRE_RANGE: u8 = 0b11;
/// Memory type-specific flags bit 0 (`_RW`): read/write.
pub const MEMORY_READ_WRITE: u8 = 1 << 0;
/// Memory type-specific flags bits 2:1 (`_MEM`) = 0: non-cacheable.
pub const MEMORY_NON_CACHEABLE: u8 = 0b00 << 1;
/// Memory type-specific flags bits 2:1 (`_MEM`) = 1: cacheable.
pub const MEMORY_CACHEABLE: u8 = 0b01 << 1;

/// Why a term could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmlError {
    /// A term's contents are longer than a PkgLength can count ([`PKG_LENGTH_MAX`]).
    TooLong { content: usize },
    /// More package elements, or name segments, than a one-byte count holds.
    TooManyElements { elements: usize },
    /// A resource range whose maximum is below its minimum, or whose length does not fit the
    /// descriptor's length field.
    BadRange { min: u64, max: u64 },
}

/// One NameSeg (§20.2.2): a LeadNameChar (`A`–`Z`, `_`) and three NameChars (`A`–`Z`,
/// `0`–`9`, `_`); shorter ASL names are padded with `_` (`_S5` is `_S5_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameSeg([u8; 4]);

impl NameSeg {
    /// The segment `name`. Meant for constants, where an invalid name fails the build; at run
    /// time it panics on one (a hypervisor bug, never guest input).
    pub const fn new(name: [u8; 4]) -> Self {
        assert!(
            name[0] == b'_' || name[0].is_ascii_uppercase(),
            "a NameSeg starts with A-Z or _"
        );
        let mut index = 1;
        while index < name.len() {
            let char = name[index];
            assert!(
                char == b'_' || char.is_ascii_uppercase() || char.is_ascii_digit(),
                "a NameSeg continues with A-Z, 0-9 or _"
            );
            index += 1;
        }
        NameSeg(name)
    }
}

/// A NameString (§20.2.2): `\` when `from_root`, then the NamePath: NullName, one NameSeg, a
/// DualNamePath or a MultiNamePath.
pub fn name_string(from_root: bool, segments: &[NameSeg]) -> Result<Vec<u8>, AmlError> {
    let mut bytes = Vec::with_capacity(2 + 4 * segments.len());
    if from_root {
        bytes.push(ROOT_CHAR);
    }
    match segments.len() {
        0 => bytes.push(NULL_NAME),
        1 => {}
        2 => bytes.push(DUAL_NAME_PREFIX),
        count => {
            let count = u8::try_from(count).map_err(|_| AmlError::TooManyElements {
                elements: segments.len(),
            })?;
            bytes.extend_from_slice(&[MULTI_NAME_PREFIX, count]);
        }
    }
    for segment in segments {
        bytes.extend_from_slice(&segment.0);
    }
    Ok(bytes)
}

/// The NameString of one segment relative to the current scope (`_HID`, `PCI0`).
pub fn relative_name(segment: NameSeg) -> Vec<u8> {
    segment.0.to_vec()
}

/// The PkgLength of a term whose bytes after the PkgLength number `content`: the shortest of
/// the one- to four-byte forms (as iasl writes it).
pub fn pkg_length(content: usize) -> Result<Vec<u8>, AmlError> {
    let too_long = AmlError::TooLong { content };
    if content > PKG_LENGTH_MAX - PKG_LENGTH_MAX_BYTES {
        return Err(too_long);
    }
    for size in 1..=PKG_LENGTH_MAX_BYTES {
        let length = content.checked_add(size).ok_or(too_long)?;
        let following = size - 1;
        if following == 0 {
            if length <= PKG_LENGTH_ONE_BYTE_MAX {
                return Ok(alloc::vec![length.to_le_bytes()[0]]);
            }
            continue;
        }
        let capacity_bits = PKG_LENGTH_LEAD_BITS + BITS_PER_BYTE * following as u32;
        if length >> capacity_bits != 0 {
            continue;
        }
        let lead = ((following as u8) << PKG_LENGTH_FOLLOWING_SHIFT)
            | (length & PKG_LENGTH_LEAD_MASK).to_le_bytes()[0];
        let mut bytes = alloc::vec![lead];
        bytes.extend_from_slice(&(length >> PKG_LENGTH_LEAD_BITS).to_le_bytes()[..following]);
        return Ok(bytes);
    }
    Err(too_long)
}

/// `opcode` (one or two bytes), the PkgLength of what follows, then `parts` in order.
fn with_pkg_length(opcode: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, AmlError> {
    let content = parts.iter().map(|part| part.len()).sum();
    let length = pkg_length(content)?;
    let mut bytes = Vec::with_capacity(opcode.len() + length.len() + content);
    bytes.extend_from_slice(opcode);
    bytes.extend_from_slice(&length);
    for part in parts {
        bytes.extend_from_slice(part);
    }
    Ok(bytes)
}

/// An integer constant in its shortest form: ZeroOp, OneOp, or a Byte/Word/DWord/QWordConst.
pub fn integer(value: u64) -> Vec<u8> {
    let bytes = value.to_le_bytes();
    let (prefix, width) = match value {
        0 => return alloc::vec![ZERO_OP],
        1 => return alloc::vec![ONE_OP],
        2..=0xFF => (BYTE_PREFIX, 1),
        0x100..=0xFFFF => (WORD_PREFIX, 2),
        0x1_0000..=0xFFFF_FFFF => (DWORD_PREFIX, 4),
        _ => (QWORD_PREFIX, 8),
    };
    let mut encoded = alloc::vec![prefix];
    encoded.extend_from_slice(&bytes[..width]);
    encoded
}

/// The compressed EISA ID of `id` (`*b"PNP0A03"` → 0x030A_D041), the integer ASL's
/// `EISAID ("PNP0A03")` compiles to. Meant for constants: an ID that is not three uppercase
/// letters and four uppercase hex digits fails the build there (and panics at run time).
pub const fn eisa_id(id: [u8; 7]) -> u32 {
    let mut vendor: u32 = 0;
    let mut index = 0;
    while index < EISA_LETTERS {
        assert!(
            id[index].is_ascii_uppercase(),
            "EISA vendor letters are A-Z"
        );
        vendor = (vendor << EISA_LETTER_BITS) | (id[index] - EISA_LETTER_BASE) as u32;
        index += 1;
    }
    let mut product: u32 = 0;
    while index < EISA_LETTERS + EISA_DIGITS {
        let char = id[index];
        let digit = match char {
            b'0'..=b'9' => char - b'0',
            b'A'..=b'F' => char - b'A' + 10,
            _ => panic!("EISA product digits are 0-9 or A-F"),
        };
        product = product * HEX_RADIX + digit as u32;
        index += 1;
    }
    let vendor = (vendor as u16).to_be_bytes();
    let product = (product as u16).to_be_bytes();
    u32::from_le_bytes([vendor[0], vendor[1], product[0], product[1]])
}

/// `Name (name, object)`: NameOp, the NameString `name`, the data object `object`.
pub fn name(name: &[u8], object: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + name.len() + object.len());
    bytes.push(NAME_OP);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(object);
    bytes
}

/// `Package () { elements }`: each element an encoded data object (integer, string, package,
/// name).
pub fn package(elements: &[Vec<u8>]) -> Result<Vec<u8>, AmlError> {
    let count = u8::try_from(elements.len()).map_err(|_| AmlError::TooManyElements {
        elements: elements.len(),
    })?;
    let mut parts: Vec<&[u8]> = Vec::with_capacity(elements.len() + 1);
    let count = [count];
    parts.push(&count);
    parts.extend(elements.iter().map(Vec::as_slice));
    with_pkg_length(&[PACKAGE_OP], &parts)
}

/// `Buffer () { bytes }`: the BufferSize is the byte count, as an integer.
pub fn buffer(bytes: &[u8]) -> Result<Vec<u8>, AmlError> {
    let size = integer(bytes.len() as u64);
    with_pkg_length(&[BUFFER_OP], &[&size, bytes])
}

/// `Scope (name) { terms }`.
pub fn scope(name: &[u8], terms: &[u8]) -> Result<Vec<u8>, AmlError> {
    with_pkg_length(&[SCOPE_OP], &[name, terms])
}

/// `Device (name) { terms }`.
pub fn device(name: &[u8], terms: &[u8]) -> Result<Vec<u8>, AmlError> {
    with_pkg_length(&[EXT_OP_PREFIX, DEVICE_OP], &[name, terms])
}

/// Address space descriptor Resource Type (byte 3; §6.4.3.5, Table 6-234).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AddressSpace {
    Memory = 0,
    Io = 1,
    BusNumber = 2,
}

/// Address space descriptor byte 3: the resource type ([`AddressSpace`]).
const ADDRESS_RESOURCE_TYPE: usize = 3;
/// Byte 4: general flags.
const ADDRESS_GENERAL_FLAGS: usize = 4;
/// Byte 5: type-specific flags.
const ADDRESS_TYPE_FLAGS: usize = 5;
/// Word Address Space Descriptor (ACPI §6.4.3.5.3): minimum at 8, maximum at 10, length at
/// 14 (granularity at 6 and translation offset at 12 stay 0).
const WORD_MIN: usize = 8;
const WORD_MAX: usize = 10;
const WORD_LENGTH: usize = 14;
/// DWord Address Space Descriptor (ACPI §6.4.3.5.2): minimum at 10, maximum at 14, length at
/// 22 (granularity at 6 and translation offset at 18 stay 0).
const DWORD_MIN: usize = 10;
const DWORD_MAX: usize = 14;
const DWORD_LENGTH: usize = 22;

/// The general flags of a bridge window: produced (bit 0 clear), positive decode (bit 1
/// clear), minimum and maximum fixed.
const WINDOW_FLAGS: u8 = ADDRESS_MIN_FIXED | ADDRESS_MAX_FIXED;

/// The length of `[min, max]`, or [`AmlError::BadRange`].
fn range_length(min: u64, max: u64, field_max: u64) -> Result<u64, AmlError> {
    max.checked_sub(min)
        .and_then(|span| span.checked_add(1))
        .filter(|&length| length <= field_max)
        .ok_or(AmlError::BadRange { min, max })
}

/// Copies `field` into `bytes` at `offset` (both sized at compile time by the callers).
fn put(bytes: &mut [u8], offset: usize, field: &[u8]) {
    bytes[offset..offset + field.len()].copy_from_slice(field);
}

/// A large item header: `tag`, then the length of the `total`-byte descriptor's data.
fn large_header(tag: u8, total: usize) -> [u8; LARGE_HEADER_BYTES] {
    let length = ((total - LARGE_HEADER_BYTES) as u16).to_le_bytes();
    [tag, length[0], length[1]]
}

/// A Word Address Space Descriptor for a bridge window `[min, max]` of `space`
/// (`WordIO`/`WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, …)`): granularity
/// and translation 0, length `max - min + 1` (Table 6-233: fixed size, fixed location).
pub fn word_window(
    space: AddressSpace,
    type_flags: u8,
    min: u16,
    max: u16,
) -> Result<[u8; WORD_ADDRESS_SPACE_BYTES], AmlError> {
    let length = range_length(min.into(), max.into(), u16::MAX.into())?;
    let mut bytes = [0u8; WORD_ADDRESS_SPACE_BYTES];
    bytes[..LARGE_HEADER_BYTES].copy_from_slice(&large_header(
        WORD_ADDRESS_SPACE_TAG,
        WORD_ADDRESS_SPACE_BYTES,
    ));
    bytes[ADDRESS_RESOURCE_TYPE] = space as u8;
    bytes[ADDRESS_GENERAL_FLAGS] = WINDOW_FLAGS;
    bytes[ADDRESS_TYPE_FLAGS] = type_flags;
    put(&mut bytes, WORD_MIN, &min.to_le_bytes());
    put(&mut bytes, WORD_MAX, &max.to_le_bytes());
    put(&mut bytes, WORD_LENGTH, &(length as u16).to_le_bytes());
    Ok(bytes)
}

/// A DWord Address Space Descriptor for a bridge window `[min, max]` of `space`
/// (`DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, …)`): granularity and
/// translation 0, length `max - min + 1`.
pub fn dword_window(
    space: AddressSpace,
    type_flags: u8,
    min: u32,
    max: u32,
) -> Result<[u8; DWORD_ADDRESS_SPACE_BYTES], AmlError> {
    let length = range_length(min.into(), max.into(), u32::MAX.into())?;
    let mut bytes = [0u8; DWORD_ADDRESS_SPACE_BYTES];
    bytes[..LARGE_HEADER_BYTES].copy_from_slice(&large_header(
        DWORD_ADDRESS_SPACE_TAG,
        DWORD_ADDRESS_SPACE_BYTES,
    ));
    bytes[ADDRESS_RESOURCE_TYPE] = space as u8;
    bytes[ADDRESS_GENERAL_FLAGS] = WINDOW_FLAGS;
    bytes[ADDRESS_TYPE_FLAGS] = type_flags;
    put(&mut bytes, DWORD_MIN, &min.to_le_bytes());
    put(&mut bytes, DWORD_MAX, &max.to_le_bytes());
    put(&mut bytes, DWORD_LENGTH, &(length as u32).to_le_bytes());
    Ok(bytes)
}

/// An I/O Port Descriptor with 16-bit decode (`IO (Decode16, min, max, alignment, length)`).
pub fn io_port(min: u16, max: u16, alignment: u8, length: u8) -> [u8; IO_PORT_BYTES] {
    let min = min.to_le_bytes();
    let max = max.to_le_bytes();
    [
        IO_PORT_TAG,
        IO_PORT_DECODE_16,
        min[0],
        min[1],
        max[0],
        max[1],
        alignment,
        length,
    ]
}

/// `ResourceTemplate () { descriptors }`: a buffer of the descriptors and an End Tag.
pub fn resource_template(descriptors: &[&[u8]]) -> Result<Vec<u8>, AmlError> {
    let mut bytes: Vec<u8> = descriptors.concat();
    bytes.extend_from_slice(&[END_TAG, END_TAG_CHECKSUM_IGNORED]);
    buffer(&bytes)
}

#[cfg(test)]
mod tests;
