//! The DSDT's AML (ACPI 6.0 §5.2.11.1): the `\_S5` sleep package and the PCI root bridge
//! `\_SB.PCI0`. In ASL:
//!
//! ```text
//! Name (\_S5, Package (0x04) { 0x05, Zero, Zero, Zero })
//! Scope (\_SB)
//! {
//!     Device (PCI0)
//!     {
//!         Name (_HID, EisaId ("PNP0A03"))
//!         Name (_UID, Zero)
//!         Name (_SEG, Zero)
//!         Name (_BBN, Zero)
//!         Name (_CRS, ResourceTemplate ()
//!         {
//!             WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
//!                 0x0000, 0x0000, 0x0000, 0x0000, 0x0001)
//!             IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)
//!             WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
//!                 0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8)
//!             WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
//!                 0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300)
//!             DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable,
//!                 ReadWrite, 0x00000000, 0x000A0000, 0x000BFFFF, 0x00000000, 0x00020000)
//!             DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable,
//!                 ReadWrite, 0x00000000, 0xE0000000, 0xFEAFFFFF, 0x00000000, 0x1EB00000)
//!         })
//!         Name (_PRT, Package (0x7C)
//!         {
//!             Package (0x04) { 0x0001FFFF, Zero, Zero, 0x0B },
//!             Package (0x04) { 0x0001FFFF, One, Zero, 0x0A },
//!             // … every slot 1–31, pins INTA–INTD
//!         })
//!     }
//! }
//! ```
//!
//! `\_S5` (§7.3.4) gives SLP_TYPa (the `acpi_pm` model's S5 type) and SLP_TYPb (no PM1b block:
//! 0); the last two elements are reserved.
//!
//! `PCI0` is the VM's one PCI segment and bus: the i440FX host bridge at 00:00.0 behind
//! configuration mechanism #1. With ACPI on, Linux (`pci_acpi_init`) enumerates only the root
//! bridges the namespace lists, so without it the virtio functions are never found. `_HID`
//! PNP0A03 is a conventional PCI bus (no `_CID` PNP0A08: there is no ECAM/MCFG). `_CRS` lists
//! what the bridge decodes: bus 0, the configuration ports (consumed; Linux drops them from the
//! windows), every other I/O port, the legacy VGA memory hole and an MMIO window above the
//! most RAM a VM gets and below the platform devices (the MMIO test device at 0xFEB0_0000, the
//! I/O APIC, HPET range and local APIC from 0xFEC0_0000 up). `_PRT` (§6.2.13) routes each
//! slot's INTA–INTD the way the VMM wires them (`devices::pci::intx_line` with
//! [`DEFAULT_PIRQ_LINES`]), in the GSI form (Source = Zero, Source Index = the GSI): the OS
//! programs those inputs level-triggered, active low, which the I/O APIC model honours with the
//! VMM's `set_irq(line, true)` meaning "asserted".

use alloc::vec::Vec;

use devices::interface::Bdf;
use devices::pci::{DEFAULT_PIRQ_LINES, InterruptPin, intx_line};

use super::AcpiPlatform;
use super::aml::{self, AddressSpace, AmlError, NameSeg};

/// `\_S5`: the soft-off sleep object.
pub const S5: NameSeg = NameSeg::new(*b"_S5_");
/// `\_S5`'s package: SLP_TYPa, SLP_TYPb and two reserved elements.
pub const S5_PACKAGE_ELEMENTS: usize = 4;

/// The system bus scope every device lives under (§5.3.1).
pub const SYSTEM_BUS: NameSeg = NameSeg::new(*b"_SB_");
/// The PCI root bridge.
pub const PCI0: NameSeg = NameSeg::new(*b"PCI0");
/// Hardware ID (§6.1.5).
pub const HID: NameSeg = NameSeg::new(*b"_HID");
/// Unique ID among devices with the same `_HID` (§6.1.12).
pub const UID: NameSeg = NameSeg::new(*b"_UID");
/// PCI segment group (§6.5.6).
pub const SEG: NameSeg = NameSeg::new(*b"_SEG");
/// Base bus number (§6.5.5).
pub const BBN: NameSeg = NameSeg::new(*b"_BBN");
/// Current resource settings (§6.2.2).
pub const CRS: NameSeg = NameSeg::new(*b"_CRS");
/// PCI routing table (§6.2.13).
pub const PRT: NameSeg = NameSeg::new(*b"_PRT");

/// PNP0A03: a PCI host bridge / root bus (PCI Firmware Specification 3.0, §4.1.1).
pub const PCI_HOST_BRIDGE_HID: u32 = aml::eisa_id(*b"PNP0A03");
/// The root bridge's `_UID`.
pub const PCI0_UID: u64 = 0;
/// The VM's one PCI segment group.
pub const PCI_SEGMENT: u64 = 0;
/// The root bus number: the VM has bus 0 only.
pub const PCI_ROOT_BUS: u16 = 0;

/// The configuration mechanism #1 ports, CONFIG_ADDRESS (0xCF8) through the end of
/// CONFIG_DATA (0xCFF).
pub const CONFIG_PORTS_FIRST: u16 = devices::bus::CONFIG_ADDRESS_PORT;
/// Ports in the configuration block: the CONFIG_ADDRESS and CONFIG_DATA dwords.
pub const CONFIG_PORTS_COUNT: u8 = 8;
/// The configuration block's I/O Port Descriptor alignment (the block is fixed).
const CONFIG_PORTS_ALIGNMENT: u8 = 1;
/// The last I/O port (16-bit port space).
const LAST_IO_PORT: u16 = u16::MAX;

/// The legacy VGA frame buffer window (0xA0000–0xBFFFF), routed to PCI on a PC.
pub const VGA_WINDOW: (u32, u32) = (0x000A_0000, 0x000B_FFFF);
/// Where the PCI MMIO window starts: above the most RAM a VM gets
/// (`devices::vm_config::MAX_RAM_MIB`, 2 GiB) with the PC's usual 3.5 GiB split.
pub const PCI_MMIO_FIRST: u32 = 0xE000_0000;
/// Where it ends: below the MMIO test device's page (`devices::test_device::DEFAULT_BASE`)
/// and the I/O APIC/HPET/local APIC region from 0xFEC0_0000.
pub const PCI_MMIO_LAST: u32 = 0xFEAF_FFFF;

/// `_PRT` Address for every function of device `slot`: the device number in the high word,
/// 0xFFFF (all functions) in the low word (§6.2.13, Table 6-211).
const PRT_DEVICE_SHIFT: u32 = 16;
const PRT_ALL_FUNCTIONS: u32 = 0xFFFF;
/// The first slot with interrupt pins: 00:00.0 is the host bridge, which has none.
pub const FIRST_INTX_SLOT: u8 = 1;
/// INTA–INTD, in `_PRT` Pin order (0 = INTA).
const PINS: [InterruptPin; 4] = [
    InterruptPin::IntA,
    InterruptPin::IntB,
    InterruptPin::IntC,
    InterruptPin::IntD,
];
/// `_PRT` Source 0: Source Index is a GSI, not an index into a link device's resources.
const PRT_SOURCE_GSI: u64 = 0;

/// `Name (\_S5, Package (0x04) { SLP_TYP_S5, Zero, Zero, Zero })`.
fn s5_object() -> Result<Vec<u8>, AmlError> {
    let mut elements = alloc::vec![aml::integer(u64::from(devices::acpi_pm::SLP_TYP_S5))];
    // SLP_TYPb (there is no PM1b block) and the two reserved elements.
    elements.resize(S5_PACKAGE_ELEMENTS, aml::integer(0));
    Ok(aml::name(
        &aml::name_string(true, &[S5])?,
        &aml::package(&elements)?,
    ))
}

/// The root bridge's `_CRS` buffer.
fn pci0_resources() -> Result<Vec<u8>, AmlError> {
    let config_last = CONFIG_PORTS_FIRST + u16::from(CONFIG_PORTS_COUNT) - 1;
    let bus = aml::word_window(AddressSpace::BusNumber, 0, PCI_ROOT_BUS, PCI_ROOT_BUS)?;
    let config = aml::io_port(
        CONFIG_PORTS_FIRST,
        CONFIG_PORTS_FIRST,
        CONFIG_PORTS_ALIGNMENT,
        CONFIG_PORTS_COUNT,
    );
    let io_low = aml::word_window(
        AddressSpace::Io,
        aml::IO_ENTIRE_RANGE,
        0,
        CONFIG_PORTS_FIRST - 1,
    )?;
    let io_high = aml::word_window(
        AddressSpace::Io,
        aml::IO_ENTIRE_RANGE,
        config_last + 1,
        LAST_IO_PORT,
    )?;
    let vga = aml::dword_window(
        AddressSpace::Memory,
        aml::MEMORY_CACHEABLE | aml::MEMORY_READ_WRITE,
        VGA_WINDOW.0,
        VGA_WINDOW.1,
    )?;
    let mmio = aml::dword_window(
        AddressSpace::Memory,
        aml::MEMORY_NON_CACHEABLE | aml::MEMORY_READ_WRITE,
        PCI_MMIO_FIRST,
        PCI_MMIO_LAST,
    )?;
    aml::resource_template(&[&bus, &config, &io_low, &io_high, &vga, &mmio])
}

/// One `_PRT` entry per (slot, pin) with an interrupt line, in slot then pin order:
/// `(Address, Pin, GSI)`.
pub fn prt_routes(platform: &AcpiPlatform) -> Vec<(u32, u8, u32)> {
    let mut routes = Vec::new();
    for slot in FIRST_INTX_SLOT..=Bdf::MAX_DEVICE {
        let Ok(bdf) = Bdf::new(0, slot, 0) else {
            continue;
        };
        let address = (u32::from(slot) << PRT_DEVICE_SHIFT) | PRT_ALL_FUNCTIONS;
        for (pin_number, &pin) in (0u8..).zip(PINS.iter()) {
            if let Some(line) = intx_line(bdf, pin, DEFAULT_PIRQ_LINES) {
                routes.push((address, pin_number, platform.isa_gsi(line.0)));
            }
        }
    }
    routes
}

/// `Name (_PRT, Package () { Package () { Address, Pin, Zero, GSI }, … })`.
fn pci0_routing(platform: &AcpiPlatform) -> Result<Vec<u8>, AmlError> {
    let entries = prt_routes(platform)
        .into_iter()
        .map(|(address, pin, gsi)| {
            aml::package(&[
                aml::integer(address.into()),
                aml::integer(pin.into()),
                aml::integer(PRT_SOURCE_GSI),
                aml::integer(gsi.into()),
            ])
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(aml::name(
        &aml::relative_name(PRT),
        &aml::package(&entries)?,
    ))
}

/// `Scope (\_SB) { Device (PCI0) { … } }`.
fn pci_root_bridge(platform: &AcpiPlatform) -> Result<Vec<u8>, AmlError> {
    let mut body = Vec::new();
    for (name, value) in [
        (HID, u64::from(PCI_HOST_BRIDGE_HID)),
        (UID, PCI0_UID),
        (SEG, PCI_SEGMENT),
        (BBN, u64::from(PCI_ROOT_BUS)),
    ] {
        body.extend(aml::name(&aml::relative_name(name), &aml::integer(value)));
    }
    body.extend(aml::name(&aml::relative_name(CRS), &pci0_resources()?));
    body.extend(pci0_routing(platform)?);
    let device = aml::device(&aml::relative_name(PCI0), &body)?;
    aml::scope(&aml::name_string(true, &[SYSTEM_BUS])?, &device)
}

/// The DSDT's AML body (the definition block's TermList).
pub fn definition_block(platform: &AcpiPlatform) -> Result<Vec<u8>, AmlError> {
    let mut aml = s5_object()?;
    aml.extend(pci_root_bridge(platform)?);
    Ok(aml)
}
