//! ACPI tables the hypervisor generates for a VM (`vm_acpi=on`), following the ACPI
//! Specification 6.0: an RSDP (revision 2, both checksums, §5.2.5), an XSDT (§5.2.8) listing a
//! FADT and a MADT, the FADT (revision 6 layout, §5.2.9) pointing at a DSDT (§5.2.11.1) whose
//! AML ([`dsdt`], encoded by [`aml`]) names `\_S5` and the PCI root bridge `\_SB.PCI0` with
//! its resources and INTx routing, and the MADT (§5.2.12) describing the VM's one local APIC,
//! its I/O APIC and the PC's ISA interrupt source overrides.
//!
//! The tables describe the machine `machine::install_apics` builds: local APIC id 0 at
//! 0xFEE0_0000, I/O APIC id 1 at 0xFEC0_0000 with GSI base 0, ISA IRQ 0 (the PIT) wired to pin 2
//! (`interrupts::ioapic_pin`), and the SCI on ISA IRQ 9, level-triggered, active high. The FADT
//! is not hardware-reduced: IAPC_BOOT_ARCH says legacy devices and an 8042 exist, and the reset
//! register is the PIIX3 Reset Control port 0xCF9 (value 6: full reset), which the VM's PCI
//! model turns into a VM reset.
//!
//! The fixed power-management hardware is `devices::acpi_pm`'s: the FADT names its PM1a event
//! block, PM1a control block and 24-bit PM timer (32-bit fields and the X_ Generic Address
//! Structures, at the ports and lengths the model exports; no PM1b, PM2 or GPE blocks), and
//! SMI_CMD = 0, so the system is always in ACPI mode (the model's SCI_EN reads 1). With those
//! blocks Linux's ACPICA keeps its interpreter (without them it logged "Required FADT field
//! Pm1aEventBlock has zero address or length" and disabled ACPI), and `\_S5` gives the SLP_TYP
//! the model turns into a clean power-off, so `poweroff -f` ends the VM with status 0. With the
//! interpreter on, Linux's `acpi_reboot` also uses RESET_REG (0xCF9 ← 6) before the 8042. A VM
//! built with these tables needs the `acpi_pm` device on its bus.
//!
//! [`build`] is pure (host-tested) and lays the tables out for a given guest-physical base;
//! [`install`] writes them into a VM's RAM and, for a Linux guest, points the zero page's
//! `acpi_rsdp_addr` at the RSDP. Other guests find the RSDP by the standard search: a 16-byte
//! aligned "RSD PTR " in 0xE0000–0xFFFFF, where [`TABLES_BASE`] puts it.

use alloc::vec::Vec;
use core::fmt;

use devices::interface::DmaError;

use super::memory::GuestMemory;

mod aml;
mod dsdt;

pub use aml::AmlError;

/// Where [`install`] puts the tables: the start of the BIOS read-only area the RSDP search
/// scans (0xE0000–0xFFFFF); the e820 map gives the OS no RAM there.
pub const TABLES_BASE: u64 = 0xE_0000;
/// The end (exclusive) of the area the legacy RSDP search scans.
pub const RSDP_SEARCH_END: u64 = 0x10_0000;
/// `struct boot_params.acpi_rsdp_addr` (Linux `arch/x86/include/uapi/asm/bootparam.h`).
pub const ZERO_PAGE_ACPI_RSDP_ADDR: u64 = 0x070;

/// The OEM ID every table carries.
pub const OEM_ID: [u8; 6] = *b"UHVISR";
/// The OEM table ID every table carries.
pub const OEM_TABLE_ID: [u8; 8] = *b"UHVMACHN";
const OEM_REVISION: u32 = 1;
const CREATOR_ID: [u8; 4] = *b"UHV ";
const CREATOR_REVISION: u32 = 1;

// RSDP (ACPI 6.0 §5.2.5.3).
const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";
/// Revision 2: ACPI 2.0+ with the XSDT address and the extended checksum.
const RSDP_REVISION: u8 = 2;
const RSDP_LENGTH: usize = 36;
/// The first checksum covers the ACPI 1.0 part.
const RSDP_V1_LENGTH: usize = 20;
const RSDP_CHECKSUM: usize = 8;
const RSDP_OEM_ID: usize = 9;
const RSDP_REVISION_OFFSET: usize = 15;
const RSDP_RSDT_ADDRESS: usize = 16;
const RSDP_LENGTH_OFFSET: usize = 20;
const RSDP_XSDT_ADDRESS: usize = 24;
const RSDP_EXTENDED_CHECKSUM: usize = 32;
/// The RSDP search looks at 16-byte boundaries.
const RSDP_ALIGNMENT: u64 = 16;
/// Each table starts on this boundary (not required, but tidy for readers).
const TABLE_ALIGNMENT: usize = 16;

// System description table header (§5.2.6).
const HEADER_LENGTH: usize = 36;
const HEADER_LENGTH_OFFSET: usize = 4;
const HEADER_REVISION: usize = 8;
const HEADER_CHECKSUM: usize = 9;
const HEADER_OEM_ID: usize = 10;
const HEADER_OEM_TABLE_ID: usize = 16;
const HEADER_OEM_REVISION: usize = 24;
const HEADER_CREATOR_ID: usize = 28;
const HEADER_CREATOR_REVISION: usize = 32;

const XSDT_SIGNATURE: &[u8; 4] = b"XSDT";
const XSDT_REVISION: u8 = 1;

// FADT (§5.2.9, Table 5-34), revision 6 (ACPI 6.0): 276 bytes.
const FADT_SIGNATURE: &[u8; 4] = b"FACP";
const FADT_REVISION: u8 = 6;
const FADT_MINOR_REVISION: u8 = 0;
const FADT_LENGTH: usize = 276;
const FADT_DSDT: usize = 40;
const FADT_PREFERRED_PM_PROFILE: usize = 45;
const FADT_SCI_INT: usize = 46;
const FADT_SMI_CMD: usize = 48;
const FADT_PM1A_EVT_BLK: usize = 56;
const FADT_PM1A_CNT_BLK: usize = 64;
const FADT_PM_TMR_BLK: usize = 76;
const FADT_PM1_EVT_LEN: usize = 88;
const FADT_PM1_CNT_LEN: usize = 89;
const FADT_PM_TMR_LEN: usize = 91;
const FADT_P_LVL2_LAT: usize = 96;
const FADT_P_LVL3_LAT: usize = 98;
const FADT_IAPC_BOOT_ARCH: usize = 109;
const FADT_FLAGS: usize = 112;
const FADT_RESET_REG: usize = 116;
const FADT_RESET_VALUE: usize = 128;
const FADT_MINOR_VERSION: usize = 131;
const FADT_X_DSDT: usize = 140;
const FADT_X_PM1A_EVT_BLK: usize = 148;
const FADT_X_PM1A_CNT_BLK: usize = 172;
const FADT_X_PM_TMR_BLK: usize = 208;
const FADT_HYPERVISOR_VENDOR: usize = 268;
/// Preferred_PM_Profile 0: unspecified.
const PM_PROFILE_UNSPECIFIED: u8 = 0;
/// IAPC_BOOT_ARCH bit 0: the motherboard has user-visible legacy (ISA) devices.
pub const IAPC_LEGACY_DEVICES: u16 = 1 << 0;
/// IAPC_BOOT_ARCH bit 1: an 8042 keyboard controller exists.
pub const IAPC_8042: u16 = 1 << 1;
/// FADT flag 0: WBINVD works.
const FLAG_WBINVD: u32 = 1 << 0;
/// FADT flag 4: the power button is not a fixed feature (there is none).
const FLAG_PWR_BUTTON: u32 = 1 << 4;
/// FADT flag 5: the sleep button is not a fixed feature (there is none).
const FLAG_SLP_BUTTON: u32 = 1 << 5;
/// FADT flag 10: RESET_REG is supported.
pub const FLAG_RESET_REG_SUP: u32 = 1 << 10;
/// SMI_CMD 0: no SMI command port; the system is always in ACPI mode (§5.2.9, §4.8.2.1.1).
const NO_SMI_COMMAND_PORT: u32 = 0;
/// P_LVL2_LAT above 100 µs: C2 is not supported.
const C2_NOT_SUPPORTED: u16 = 101;
/// P_LVL3_LAT above 1000 µs: C3 is not supported.
const C3_NOT_SUPPORTED: u16 = 1001;
/// The SCI's ISA IRQ (as on PIIX4 chipsets): the PM device's line.
pub const SCI_IRQ: u8 = devices::acpi_pm::SCI_LINE.0;
/// The PM1a event block (PM1_STS, PM1_EN) of the `acpi_pm` device.
const PM1A_EVT_PORT: u16 = devices::acpi_pm::PM1A_EVT_PORT;
/// The PM1a control block (PM1_CNT).
const PM1A_CNT_PORT: u16 = devices::acpi_pm::PM1A_CNT_PORT;
/// The PM timer block.
const PM_TMR_PORT: u16 = devices::acpi_pm::PM_TMR_PORT;
/// The reset register: the PIIX3 Reset Control port.
pub const RESET_PORT: u16 = devices::bus::RESET_CONTROL_PORT;
/// Reset Control value 6: system reset (bit 1) + reset CPU (bit 2), a full reset.
pub const RESET_VALUE: u8 = RESET_CONTROL_SYSTEM_RESET | devices::bus::RESET_CONTROL_RESET_CPU;
/// PIIX3 Reset Control bit 1: the reset is a hard (system) reset.
const RESET_CONTROL_SYSTEM_RESET: u8 = 1 << 1;
/// "UHV" in the FADT's Hypervisor Vendor Identity.
const HYPERVISOR_VENDOR: u64 = u64::from_le_bytes(*b"UHV\0\0\0\0\0");

// Generic Address Structure (§5.2.3.2).
const GAS_SYSTEM_IO: u8 = 1;
const GAS_BYTE_ACCESS: u8 = 1;
const GAS_WORD_ACCESS: u8 = 2;
const GAS_DWORD_ACCESS: u8 = 3;
const BITS_PER_BYTE: u8 = 8;

const DSDT_SIGNATURE: &[u8; 4] = b"DSDT";
/// DSDT revision 2: AML integers are 64 bits.
const DSDT_REVISION: u8 = 2;

// MADT (§5.2.12).
const MADT_SIGNATURE: &[u8; 4] = b"APIC";
/// MADT revision 4 (ACPI 6.0).
const MADT_REVISION: u8 = 4;
const MADT_LOCAL_APIC_ADDRESS: usize = 36;
const MADT_FLAGS: usize = 40;
const MADT_ENTRIES: usize = 44;
/// MADT flag 0: the PC's dual 8259A is present too.
pub const MADT_PCAT_COMPAT: u32 = 1 << 0;
const ENTRY_LOCAL_APIC: u8 = 0;
const ENTRY_LOCAL_APIC_LENGTH: u8 = 8;
const ENTRY_IO_APIC: u8 = 1;
const ENTRY_IO_APIC_LENGTH: u8 = 12;
const ENTRY_SOURCE_OVERRIDE: u8 = 2;
const ENTRY_SOURCE_OVERRIDE_LENGTH: u8 = 10;
/// Processor Local APIC flag 0: enabled.
const LOCAL_APIC_ENABLED: u32 = 1 << 0;
/// Interrupt source override bus 0: ISA.
const BUS_ISA: u8 = 0;
/// MPS INTI flags: polarity active high (bits 1:0 = 01).
pub const INTI_ACTIVE_HIGH: u16 = 0b01;
/// MPS INTI flags: level-triggered (bits 3:2 = 11).
pub const INTI_LEVEL: u16 = 0b11 << 2;
/// MPS INTI flags: both conform to the bus (ISA: edge, active high).
pub const INTI_CONFORMS: u16 = 0;
/// The PIT's ISA IRQ.
const PIT_IRQ: u8 = 0;

/// The interrupt hardware the MADT describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcpiPlatform {
    pub local_apic_id: u8,
    pub local_apic_address: u32,
    pub io_apic_id: u8,
    pub io_apic_address: u32,
    pub io_apic_gsi_base: u32,
    /// The GSI the PIT (ISA IRQ 0) reaches.
    pub pit_gsi: u32,
}

impl AcpiPlatform {
    /// The VM `machine::install_apics` builds: LAPIC 0 at 0xFEE0_0000, I/O APIC 1 at
    /// 0xFEC0_0000 with GSI base 0, the PIT on pin 2.
    pub const PC: AcpiPlatform = AcpiPlatform {
        local_apic_id: 0,
        local_apic_address: 0xFEE0_0000,
        io_apic_id: 1,
        io_apic_address: 0xFEC0_0000,
        io_apic_gsi_base: 0,
        pit_gsi: 2,
    };

    /// The GSI ISA IRQ `irq` reaches: the PIT's override, otherwise the identity mapping
    /// from the I/O APIC's GSI base (the MADT lists no other override that moves a line).
    pub fn isa_gsi(&self, irq: u8) -> u32 {
        if irq == PIT_IRQ {
            self.pit_gsi
        } else {
            self.io_apic_gsi_base.saturating_add(u32::from(irq))
        }
    }
}

/// Tables laid out for a guest-physical base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiTables {
    /// The bytes to place at `base`.
    pub bytes: Vec<u8>,
    pub base: u64,
    /// The RSDP's guest-physical address (`base`).
    pub rsdp: u64,
}

/// Why the tables could not be built or installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcpiError {
    /// The RSDP must sit on a 16-byte boundary.
    MisalignedBase { base: u64 },
    /// The tables must end below 4 GiB (the FADT's 32-bit DSDT field, the RSDT field).
    AboveFourGiB { end: u64 },
    /// The VM's RAM refused the write (too small a VM).
    Memory(DmaError),
    /// The DSDT's AML could not be encoded (a hypervisor bug: its content is fixed).
    Aml(AmlError),
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcpiError::MisalignedBase { base } => {
                write!(
                    f,
                    "ACPI tables at {base:#x}: the RSDP needs 16-byte alignment"
                )
            }
            AcpiError::AboveFourGiB { end } => {
                write!(f, "ACPI tables would end at {end:#x}, above 4 GiB")
            }
            AcpiError::Memory(error) => write!(f, "ACPI tables: guest memory: {error:?}"),
            AcpiError::Aml(error) => write!(f, "ACPI tables: DSDT AML: {error:?}"),
        }
    }
}

fn put_u16(bytes: &mut [u8], offset: usize, value: u16) {
    bytes[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], offset: usize, value: u32) {
    bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], offset: usize, value: u64) {
    bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}

/// The byte that makes `bytes` sum to 0 (mod 256) when stored in a zeroed checksum field.
fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |sum, &byte| sum.wrapping_add(byte))
        .wrapping_neg()
}

/// A table with its header filled in (length, revision, OEM fields) and a zeroed body of
/// `length - HEADER_LENGTH` bytes; [`seal`] sets the checksum once the body is written.
fn table(signature: &[u8; 4], revision: u8, length: usize) -> Vec<u8> {
    let mut bytes = alloc::vec![0u8; length];
    bytes[..4].copy_from_slice(signature);
    put_u32(&mut bytes, HEADER_LENGTH_OFFSET, length as u32);
    bytes[HEADER_REVISION] = revision;
    bytes[HEADER_OEM_ID..HEADER_OEM_ID + OEM_ID.len()].copy_from_slice(&OEM_ID);
    bytes[HEADER_OEM_TABLE_ID..HEADER_OEM_TABLE_ID + OEM_TABLE_ID.len()]
        .copy_from_slice(&OEM_TABLE_ID);
    put_u32(&mut bytes, HEADER_OEM_REVISION, OEM_REVISION);
    bytes[HEADER_CREATOR_ID..HEADER_CREATOR_ID + CREATOR_ID.len()].copy_from_slice(&CREATOR_ID);
    put_u32(&mut bytes, HEADER_CREATOR_REVISION, CREATOR_REVISION);
    bytes
}

fn seal(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes[HEADER_CHECKSUM] = 0;
    bytes[HEADER_CHECKSUM] = checksum(&bytes);
    bytes
}

fn rsdp(xsdt: u64) -> [u8; RSDP_LENGTH] {
    let mut bytes = [0u8; RSDP_LENGTH];
    bytes[..8].copy_from_slice(RSDP_SIGNATURE);
    bytes[RSDP_OEM_ID..RSDP_OEM_ID + OEM_ID.len()].copy_from_slice(&OEM_ID);
    bytes[RSDP_REVISION_OFFSET] = RSDP_REVISION;
    // No RSDT: an ACPI 2.0+ OS uses the XSDT, and the RSDT field may be 0.
    put_u32(&mut bytes, RSDP_RSDT_ADDRESS, 0);
    put_u32(&mut bytes, RSDP_LENGTH_OFFSET, RSDP_LENGTH as u32);
    put_u64(&mut bytes, RSDP_XSDT_ADDRESS, xsdt);
    bytes[RSDP_CHECKSUM] = checksum(&bytes[..RSDP_V1_LENGTH]);
    bytes[RSDP_EXTENDED_CHECKSUM] = checksum(&bytes);
    bytes
}

fn xsdt(entries: &[u64]) -> Vec<u8> {
    let mut bytes = table(
        XSDT_SIGNATURE,
        XSDT_REVISION,
        HEADER_LENGTH + 8 * entries.len(),
    );
    for (index, &entry) in entries.iter().enumerate() {
        put_u64(&mut bytes, HEADER_LENGTH + 8 * index, entry);
    }
    seal(bytes)
}

/// A Generic Address Structure for one byte-wide I/O port.
fn io_port_gas(bytes: &mut [u8], offset: usize, port: u16) {
    io_block_gas(bytes, offset, port, 1, GAS_BYTE_ACCESS);
}

/// A Generic Address Structure for `length` bytes of I/O ports from `port`, accessed
/// `access_size` at a time.
fn io_block_gas(bytes: &mut [u8], offset: usize, port: u16, length: u8, access_size: u8) {
    bytes[offset] = GAS_SYSTEM_IO;
    bytes[offset + 1] = length * BITS_PER_BYTE;
    bytes[offset + 2] = 0;
    bytes[offset + 3] = access_size;
    put_u64(bytes, offset + 4, u64::from(port));
}

/// An I/O register block in the FADT: the 32-bit port field, its length byte and the X_ GAS.
struct PmBlock {
    port: u16,
    length: u8,
    access_size: u8,
    port_field: usize,
    length_field: usize,
    gas_field: usize,
}

/// The `acpi_pm` device's blocks (its PM1 registers are 16 bits wide, its timer 32).
const PM_BLOCKS: [PmBlock; 3] = [
    PmBlock {
        port: PM1A_EVT_PORT,
        length: devices::acpi_pm::PM1_EVT_LEN,
        access_size: GAS_WORD_ACCESS,
        port_field: FADT_PM1A_EVT_BLK,
        length_field: FADT_PM1_EVT_LEN,
        gas_field: FADT_X_PM1A_EVT_BLK,
    },
    PmBlock {
        port: PM1A_CNT_PORT,
        length: devices::acpi_pm::PM1_CNT_LEN,
        access_size: GAS_WORD_ACCESS,
        port_field: FADT_PM1A_CNT_BLK,
        length_field: FADT_PM1_CNT_LEN,
        gas_field: FADT_X_PM1A_CNT_BLK,
    },
    PmBlock {
        port: PM_TMR_PORT,
        length: devices::acpi_pm::PM_TMR_LEN,
        access_size: GAS_DWORD_ACCESS,
        port_field: FADT_PM_TMR_BLK,
        length_field: FADT_PM_TMR_LEN,
        gas_field: FADT_X_PM_TMR_BLK,
    },
];

fn fadt(dsdt: u64) -> Vec<u8> {
    let mut bytes = table(FADT_SIGNATURE, FADT_REVISION, FADT_LENGTH);
    // `build` keeps every table below 4 GiB, so the 32-bit field holds the address too.
    put_u32(&mut bytes, FADT_DSDT, dsdt as u32);
    bytes[FADT_PREFERRED_PM_PROFILE] = PM_PROFILE_UNSPECIFIED;
    put_u16(&mut bytes, FADT_SCI_INT, u16::from(SCI_IRQ));
    put_u32(&mut bytes, FADT_SMI_CMD, NO_SMI_COMMAND_PORT);
    for block in &PM_BLOCKS {
        put_u32(&mut bytes, block.port_field, u32::from(block.port));
        bytes[block.length_field] = block.length;
        io_block_gas(
            &mut bytes,
            block.gas_field,
            block.port,
            block.length,
            block.access_size,
        );
    }
    put_u16(&mut bytes, FADT_P_LVL2_LAT, C2_NOT_SUPPORTED);
    put_u16(&mut bytes, FADT_P_LVL3_LAT, C3_NOT_SUPPORTED);
    put_u16(
        &mut bytes,
        FADT_IAPC_BOOT_ARCH,
        IAPC_LEGACY_DEVICES | IAPC_8042,
    );
    put_u32(
        &mut bytes,
        FADT_FLAGS,
        FLAG_WBINVD | FLAG_PWR_BUTTON | FLAG_SLP_BUTTON | FLAG_RESET_REG_SUP,
    );
    io_port_gas(&mut bytes, FADT_RESET_REG, RESET_PORT);
    bytes[FADT_RESET_VALUE] = RESET_VALUE;
    bytes[FADT_MINOR_VERSION] = FADT_MINOR_REVISION;
    put_u64(&mut bytes, FADT_X_DSDT, dsdt);
    put_u64(&mut bytes, FADT_HYPERVISOR_VENDOR, HYPERVISOR_VENDOR);
    seal(bytes)
}

/// The DSDT: a header and [`dsdt::definition_block`]'s AML.
fn dsdt(platform: &AcpiPlatform) -> Result<Vec<u8>, AcpiError> {
    let aml = dsdt::definition_block(platform).map_err(AcpiError::Aml)?;
    let mut bytes = table(DSDT_SIGNATURE, DSDT_REVISION, HEADER_LENGTH + aml.len());
    bytes[HEADER_LENGTH..].copy_from_slice(&aml);
    Ok(seal(bytes))
}

fn madt(platform: &AcpiPlatform) -> Vec<u8> {
    let mut entries = Vec::new();
    entries.extend_from_slice(&[
        ENTRY_LOCAL_APIC,
        ENTRY_LOCAL_APIC_LENGTH,
        platform.local_apic_id, // ACPI processor UID
        platform.local_apic_id,
    ]);
    entries.extend_from_slice(&LOCAL_APIC_ENABLED.to_le_bytes());
    entries.extend_from_slice(&[ENTRY_IO_APIC, ENTRY_IO_APIC_LENGTH, platform.io_apic_id, 0]);
    entries.extend_from_slice(&platform.io_apic_address.to_le_bytes());
    entries.extend_from_slice(&platform.io_apic_gsi_base.to_le_bytes());
    for (irq, gsi, flags) in [
        (PIT_IRQ, platform.pit_gsi, INTI_CONFORMS),
        (
            SCI_IRQ,
            platform.isa_gsi(SCI_IRQ),
            INTI_LEVEL | INTI_ACTIVE_HIGH,
        ),
    ] {
        entries.extend_from_slice(&[
            ENTRY_SOURCE_OVERRIDE,
            ENTRY_SOURCE_OVERRIDE_LENGTH,
            BUS_ISA,
            irq,
        ]);
        entries.extend_from_slice(&gsi.to_le_bytes());
        entries.extend_from_slice(&flags.to_le_bytes());
    }
    let mut bytes = table(MADT_SIGNATURE, MADT_REVISION, MADT_ENTRIES + entries.len());
    put_u32(
        &mut bytes,
        MADT_LOCAL_APIC_ADDRESS,
        platform.local_apic_address,
    );
    put_u32(&mut bytes, MADT_FLAGS, MADT_PCAT_COMPAT);
    bytes[MADT_ENTRIES..].copy_from_slice(&entries);
    seal(bytes)
}

/// Append `table` to `blob` at the next [`TABLE_ALIGNMENT`] boundary; returns its offset.
fn append(blob: &mut Vec<u8>, table: &[u8]) -> usize {
    let offset = blob.len().next_multiple_of(TABLE_ALIGNMENT);
    blob.resize(offset, 0);
    blob.extend_from_slice(table);
    offset
}

/// Lay out RSDP, XSDT, FADT, DSDT and MADT for `platform` at guest-physical `base`.
///
/// The DSDT and MADT are built first (their sizes depend on `platform`), so every address is
/// known before the tables that hold them are written.
pub fn build(base: u64, platform: &AcpiPlatform) -> Result<AcpiTables, AcpiError> {
    if !base.is_multiple_of(RSDP_ALIGNMENT) {
        return Err(AcpiError::MisalignedBase { base });
    }
    let fadt_size = FADT_LENGTH;
    let dsdt_table = dsdt(platform)?;
    let dsdt_size = dsdt_table.len();
    let xsdt_size = HEADER_LENGTH + 2 * 8;
    let at = |offset: usize| base.checked_add(offset as u64);
    let align = |offset: usize| offset.next_multiple_of(TABLE_ALIGNMENT);
    let xsdt_offset = align(RSDP_LENGTH);
    let fadt_offset = align(xsdt_offset + xsdt_size);
    let dsdt_offset = align(fadt_offset + fadt_size);
    let madt_offset = align(dsdt_offset + dsdt_size);
    let madt_table = madt(platform);
    let end = madt_offset + madt_table.len();
    let overflow = AcpiError::AboveFourGiB { end: u64::MAX };
    let end_address = at(end).ok_or(overflow.clone())?;
    if end_address > u64::from(u32::MAX) + 1 {
        return Err(AcpiError::AboveFourGiB { end: end_address });
    }
    let address = |offset: usize| at(offset).ok_or(overflow.clone());
    let mut bytes = Vec::with_capacity(end);
    bytes.extend_from_slice(&rsdp(address(xsdt_offset)?));
    let placed = [
        append(
            &mut bytes,
            &xsdt(&[address(fadt_offset)?, address(madt_offset)?]),
        ),
        append(&mut bytes, &fadt(address(dsdt_offset)?)),
        append(&mut bytes, &dsdt_table),
        append(&mut bytes, &madt_table),
    ];
    debug_assert_eq!(placed, [xsdt_offset, fadt_offset, dsdt_offset, madt_offset]);
    Ok(AcpiTables {
        bytes,
        base,
        rsdp: base,
    })
}

/// Build the tables for `platform` at [`TABLES_BASE`] and write them into `memory`; for a Linux
/// guest whose zero page is at `linux_zero_page`, also set its `acpi_rsdp_addr`. Returns the
/// RSDP's address.
pub fn install(
    memory: &GuestMemory,
    platform: &AcpiPlatform,
    linux_zero_page: Option<u64>,
) -> Result<u64, AcpiError> {
    let tables = build(TABLES_BASE, platform)?;
    memory
        .write(tables.base, &tables.bytes)
        .map_err(AcpiError::Memory)?;
    if let Some(zero_page) = linux_zero_page {
        let field = zero_page
            .checked_add(ZERO_PAGE_ACPI_RSDP_ADDR)
            .ok_or(AcpiError::Memory(DmaError::OutOfRange {
                gpa: zero_page,
                len: ZERO_PAGE_ACPI_RSDP_ADDR as usize,
            }))?;
        memory
            .write_u64(field, tables.rsdp)
            .map_err(AcpiError::Memory)?;
    }
    Ok(tables.rsdp)
}

#[cfg(test)]
mod tests;
