//! Where things are: the guest resources a [`DeviceKind`] occupies, the host resources a
//! [`HostDevice`] stands for, and the two fixed tables the configuration is checked against —
//! the PC devices every VM has ([`PC_PLATFORM`], [`PC_PLATFORM_IRQS`]) and the host resources
//! the hypervisor keeps for itself ([`HYPERVISOR_OWNED`]).
//!
//! Port and address assignments follow the IBM PC/AT map (8259A at 0x20/0xA0, 8254 at 0x40,
//! port B at 0x61, i8042 at 0x60/0x64, MC146818 at 0x70, ELCR at 0x4D0 per the PIIX/ICH
//! datasheets, PCI configuration mechanism #1 at 0xCF8–0xCFF per the PCI Local Bus spec 3.0
//! §3.2.2.3.2) and the Intel SDM vol. 3A §11.4.1 / ICH datasheets for the local APIC, I/O APIC
//! and HPET pages.

use super::schema::{DeviceKind, HostDevice};
use crate::interface::{Bdf, Gpa, MmioRange, PortRange, RangeError, Region};
use crate::uart16550::UartConfig;
use crate::uart16550::registers::PORT_COUNT as UART_PORT_COUNT;
use crate::{debug_exit, test_device};

/// The page size EPT maps memory ranges with; MMIO devices start on such a boundary.
pub const PAGE_SIZE: u64 = 4096;

/// A resource with the name of what uses it, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedRegion {
    /// What uses it (e.g. `"PIT"`).
    pub name: &'static str,
    /// Where.
    pub region: Region,
}

/// `first..=last` as a port region (evaluated at compile time only).
const fn ports(first: u16, last: u16) -> Region {
    match PortRange::new(first, last - first + 1) {
        Ok(range) => Region::Pio(range),
        Err(_) => panic!("bad port table entry"),
    }
}

/// The 4 KiB page at `base` as a memory region (evaluated at compile time only).
const fn page(base: Gpa) -> Region {
    match MmioRange::new(base, PAGE_SIZE) {
        Ok(range) => Region::Mmio(range),
        Err(_) => panic!("bad memory table entry"),
    }
}

/// The local APIC's page (its default base, SDM vol. 3A §11.4.1).
pub const LOCAL_APIC_BASE: u64 = 0xFEE0_0000;
/// The I/O APIC's page (its default base).
pub const IO_APIC_BASE: u64 = 0xFEC0_0000;
/// The HPET's page (its usual base).
pub const HPET_BASE: u64 = 0xFED0_0000;

/// Guest resources of the standard PC devices every VM has; configured devices must not
/// overlap them.
pub const PC_PLATFORM: &[NamedRegion] = &[
    NamedRegion {
        name: "master PIC",
        region: ports(0x20, 0x21),
    },
    NamedRegion {
        name: "PIT",
        region: ports(0x40, 0x43),
    },
    NamedRegion {
        name: "i8042 data port",
        region: ports(0x60, 0x60),
    },
    NamedRegion {
        name: "port B",
        region: ports(0x61, 0x61),
    },
    NamedRegion {
        name: "i8042 command port",
        region: ports(0x64, 0x64),
    },
    NamedRegion {
        name: "RTC/CMOS",
        region: ports(0x70, 0x71),
    },
    NamedRegion {
        name: "slave PIC",
        region: ports(0xA0, 0xA1),
    },
    NamedRegion {
        name: "ELCR",
        region: ports(0x4D0, 0x4D1),
    },
    NamedRegion {
        name: "PCI configuration ports",
        region: ports(0xCF8, 0xCFF),
    },
    NamedRegion {
        name: "local APIC",
        region: page(LOCAL_APIC_BASE),
    },
    NamedRegion {
        name: "I/O APIC",
        region: page(IO_APIC_BASE),
    },
    NamedRegion {
        name: "PCI host bridge",
        region: pci_slot(0),
    },
];

/// PCI function 00:`slot`.0 as a region (evaluated at compile time only).
const fn pci_slot(slot: u8) -> Region {
    match Bdf::new(0, slot, 0) {
        Ok(bdf) => Region::Pci(bdf),
        Err(_) => panic!("bad PCI table entry"),
    }
}

/// Highest ISA interrupt line (the 8259A pair has 16).
pub const MAX_ISA_IRQ: u8 = 15;

/// ISA lines the always-present devices drive (or the PIC cascade uses): a configured device
/// must not drive them.
pub const PC_PLATFORM_IRQS: &[(u8, &str)] = &[
    (0, "PIT"),
    (1, "keyboard"),
    (2, "PIC cascade"),
    (8, "RTC"),
    (12, "mouse"),
];

/// Host resources the hypervisor itself uses: never passed through or mediated to a VM
/// (COM1 may still back VMs' UARTs through the hypervisor's driver).
pub const HYPERVISOR_OWNED: &[NamedRegion] = &[
    NamedRegion {
        name: "COM1, the hypervisor console",
        region: ports(0x3F8, 0x3FF),
    },
    NamedRegion {
        name: "master PIC",
        region: ports(0x20, 0x21),
    },
    NamedRegion {
        name: "PIT",
        region: ports(0x40, 0x43),
    },
    NamedRegion {
        name: "port B",
        region: ports(0x61, 0x61),
    },
    NamedRegion {
        name: "RTC/CMOS",
        region: ports(0x70, 0x71),
    },
    NamedRegion {
        name: "slave PIC",
        region: ports(0xA0, 0xA1),
    },
    NamedRegion {
        name: "debug-exit port",
        region: ports(0xF4, 0xF7),
    },
    NamedRegion {
        name: "ELCR",
        region: ports(0x4D0, 0x4D1),
    },
    NamedRegion {
        name: "PCI configuration ports",
        region: ports(0xCF8, 0xCFF),
    },
    NamedRegion {
        name: "I/O APIC",
        region: page(IO_APIC_BASE),
    },
    NamedRegion {
        name: "HPET",
        region: page(HPET_BASE),
    },
    NamedRegion {
        name: "local APIC",
        region: page(LOCAL_APIC_BASE),
    },
];

/// Where the VMM, playing the firmware, puts the legacy I/O BAR of the virtio function in PCI
/// slot `s`: [`VIRTIO_IO_BASE`] + `s` × [`VIRTIO_IO_STRIDE`] (above the ISA range, as PC
/// firmware does; a legacy virtio BAR is at most 256 ports, so every BAR is aligned to its
/// size). Configured port devices must stay out of the windows of the VM's virtio slots.
pub const VIRTIO_IO_BASE: u16 = 0xC000;
/// Ports between two slots' I/O BARs (and the most a legacy virtio BAR decodes).
pub const VIRTIO_IO_STRIDE: u16 = 0x100;

/// The I/O window of the virtio function in PCI slot `slot` (`None` past the port space).
pub fn virtio_io_window(slot: u8) -> Option<PortRange> {
    let base = VIRTIO_IO_STRIDE
        .checked_mul(u16::from(slot))?
        .checked_add(VIRTIO_IO_BASE)?;
    PortRange::new(base, VIRTIO_IO_STRIDE).ok()
}

/// Number of ports of a debug-exit device.
pub const DEBUG_EXIT_PORTS: u16 = debug_exit::DEFAULT_PORTS;
/// Bytes of a test device.
pub const TEST_DEVICE_BYTES: u64 = test_device::SIZE as u64;

impl DeviceKind {
    /// The guest resource the device occupies; an error if it runs past the end of the port or
    /// address space (or is empty).
    pub fn region(&self) -> Result<Region, RangeError> {
        Ok(match self.clone() {
            DeviceKind::Uart16550 { base, .. } => {
                Region::Pio(PortRange::new(base, UART_PORT_COUNT)?)
            }
            DeviceKind::DebugExit { port } => Region::Pio(PortRange::new(port, DEBUG_EXIT_PORTS)?),
            DeviceKind::TestDevice { base } => {
                Region::Mmio(MmioRange::new(base, TEST_DEVICE_BYTES)?)
            }
            DeviceKind::PortRange { base, len } => Region::Pio(PortRange::new(base, len)?),
            DeviceKind::MemoryRange { base, len } => Region::Mmio(MmioRange::new(base, len)?),
            DeviceKind::VirtioBlk { slot, .. } | DeviceKind::VirtioConsole { slot } => {
                Region::Pci(Bdf::new(0, slot, 0)?)
            }
        })
    }
}

impl HostDevice {
    /// The host resource the device stands for.
    pub fn region(&self) -> Result<Region, RangeError> {
        Ok(match *self {
            HostDevice::Com1 => {
                Region::Pio(PortRange::new(UartConfig::COM1.base, UART_PORT_COUNT)?)
            }
            HostDevice::Com2 => {
                Region::Pio(PortRange::new(UartConfig::COM2.base, UART_PORT_COUNT)?)
            }
            HostDevice::Ports { base, len } => Region::Pio(PortRange::new(base, len)?),
            HostDevice::Memory { base, len } => Region::Mmio(MmioRange::new(base, len)?),
        })
    }

    /// Whether the device is a serial port the hypervisor has a driver for (host-backed UARTs).
    pub const fn is_uart(&self) -> bool {
        matches!(self, HostDevice::Com1 | HostDevice::Com2)
    }
}

/// The first entry of `table` that `region` overlaps.
pub fn first_overlap(table: &[NamedRegion], region: &Region) -> Option<NamedRegion> {
    table
        .iter()
        .copied()
        .find(|entry| entry.region.overlaps(region))
}
