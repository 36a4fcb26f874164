//! Checks across devices: within one VM, no two devices of one name, no two devices (or a
//! device and an always-present PC device, or guest RAM) on the same resources or PCI slot, no
//! shared interrupt line, and no device on the ISA line a PCI device's INTx pin drives (PCI
//! interrupts are level-triggered and shareable among PCI functions, but an edge-triggered ISA
//! device on the same line would lose interrupts), no port device in the I/O window the VMM
//! programs into a virtio function's BAR0 ([`virtio_io_window`]) and, with `acpi = true`, none
//! on the ACPI PM ports ([`AcpiPm::PORTS`]) or the SCI's line ([`SCI_LINE`]); across the whole machine, a host device
//! passed through or mediated belongs to one device of one VM, while host-backed devices may
//! share one (that is what the method is for).

use devices::acpi_pm::{AcpiPm, SCI_LINE};
use devices::interface::{Bdf, PortRange, Region};
use devices::pci::{DEFAULT_PIRQ_LINES, InterruptPin, intx_line};
use devices::vm_config::resources::first_overlap;
use devices::vm_config::{
    DeviceDesc, DeviceKind, Machine, Method, PC_PLATFORM, PC_PLATFORM_IRQS, virtio_io_window,
};

use super::describe::{host_text, region_text};
use super::device::{DevicePath, location_field};
use super::error::{Invalid, Problem};

/// Bytes in a MiB.
const MIB: u64 = 1 << 20;
/// What each range of [`AcpiPm::PORTS`] is, in its order (ACPI 6.5 §4.8.3: the FADT's
/// PM1a_EVT_BLK, PM1a_CNT_BLK and PM_TMR_BLK).
const ACPI_PM_BLOCKS: [&str; 3] = [
    "the ACPI PM1a event block",
    "the ACPI PM1a control block",
    "the ACPI PM timer block",
];

/// `vm[0].device[1] "com2"`.
fn device_text(at: DevicePath, device: &DeviceDesc) -> String {
    format!("{} {:?}", at.path(), device.name)
}

const fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Emulated => "emulated",
        Method::HostBacked { .. } => "host-backed",
        Method::Passthrough { .. } => "passthrough",
        Method::Mediated { .. } => "mediated",
    }
}

/// Refuses port device `at` (on `ports`) in the I/O window of any of the VM's virtio functions
/// (`devices`, wherever they are in the list) or, with `acpi`, on the ACPI PM registers.
fn check_reserved_ports(
    at: DevicePath,
    place: &'static str,
    ports: PortRange,
    acpi: bool,
    devices: &[(DeviceDesc, Region)],
) -> Result<(), Invalid> {
    let region = Region::Pio(ports);
    for (other, other_region) in devices {
        let Region::Pci(bdf) = other_region else {
            continue;
        };
        let Some(window) = virtio_io_window(bdf.device()).filter(|_| other.kind.is_pci()) else {
            continue;
        };
        let window = Region::Pio(window);
        if window.overlaps(&region) {
            return Err(at.invalid(
                place,
                Problem::OverlapsReserved {
                    range: region_text(&region),
                    what: format!(
                        "the I/O window of virtio device `{}` (slot {})",
                        other.name,
                        bdf.device()
                    ),
                    what_range: region_text(&window),
                },
            ));
        }
    }
    if !acpi {
        return Ok(());
    }
    for (block, name) in AcpiPm::PORTS.iter().zip(ACPI_PM_BLOCKS) {
        let block = Region::Pio(*block);
        if block.overlaps(&region) {
            return Err(at.invalid(
                place,
                Problem::OverlapsReserved {
                    range: region_text(&region),
                    what: format!("{name} (the VM has `acpi = true`)"),
                    what_range: region_text(&block),
                },
            ));
        }
    }
    Ok(())
}

/// Checks the devices of VM `vm` (with `ram_mib` of RAM, and ACPI tables if `acpi`) against
/// the PC platform, its RAM, the ACPI PM device and each other. `devices` holds each device with
/// the guest resource it occupies.
pub fn check_vm(
    vm: usize,
    ram_mib: u32,
    acpi: bool,
    devices: &[(DeviceDesc, Region)],
) -> Result<(), Invalid> {
    let ram_bytes = u64::from(ram_mib).saturating_mul(MIB);
    for (index, (device, region)) in devices.iter().enumerate() {
        let at = DevicePath { vm, index };
        let place = location_field(&device.kind);
        if let Region::Pio(ports) = region {
            check_reserved_ports(at, place, *ports, acpi, devices)?;
        }
        if let Some(platform) = first_overlap(PC_PLATFORM, region) {
            return Err(at.invalid(
                place,
                Problem::OverlapsPlatform {
                    range: region_text(region),
                    device: platform.name,
                    device_range: region_text(&platform.region),
                },
            ));
        }
        if let Region::Mmio(memory) = region
            && memory.first() < ram_bytes
        {
            return Err(at.invalid(
                place,
                Problem::OverlapsRam {
                    range: region_text(region),
                    ram_mib,
                },
            ));
        }
        let earlier = devices.get(..index).unwrap_or_default();
        if let Some(first) = earlier
            .iter()
            .position(|(other, _)| other.name == device.name)
        {
            return Err(at.invalid(
                "name",
                Problem::DuplicateName {
                    name: device.name.clone(),
                    first: DevicePath { vm, index: first }.path(),
                },
            ));
        }
        if let Some((other_index, (other, other_region))) = earlier
            .iter()
            .enumerate()
            .find(|(_, (_, other_region))| other_region.overlaps(region))
        {
            if let Region::Pci(bdf) = region {
                return Err(at.invalid(
                    place,
                    Problem::SlotTaken {
                        slot: bdf.device(),
                        other: device_text(
                            DevicePath {
                                vm,
                                index: other_index,
                            },
                            other,
                        ),
                    },
                ));
            }
            return Err(at.invalid(
                place,
                Problem::OverlapsDevice {
                    range: region_text(region),
                    other: device_text(
                        DevicePath {
                            vm,
                            index: other_index,
                        },
                        other,
                    ),
                    other_range: region_text(other_region),
                },
            ));
        }
        let DeviceKind::Uart16550 { irq, .. } = device.kind else {
            continue;
        };
        if let Some((pci_index, pci, bdf)) = devices
            .iter()
            .enumerate()
            .filter_map(|(pci_index, (pci, region))| match region {
                Region::Pci(bdf) if pci.kind.is_pci() => Some((pci_index, pci, *bdf)),
                _ => None,
            })
            .find(|(_, _, bdf)| pci_isa_line(*bdf) == Some(irq))
        {
            return Err(at.invalid(
                "irq",
                Problem::PciIrq {
                    irq,
                    other: device_text(
                        DevicePath {
                            vm,
                            index: pci_index,
                        },
                        pci,
                    ),
                    bdf: bdf.to_string(),
                },
            ));
        }
        if acpi && irq == SCI_LINE.0 {
            return Err(at.invalid("irq", Problem::SciIrq { irq }));
        }
        if let Some((_, platform)) = PC_PLATFORM_IRQS.iter().find(|(line, _)| *line == irq) {
            return Err(at.invalid(
                "irq",
                Problem::PlatformIrq {
                    irq,
                    device: platform,
                },
            ));
        }
        if let Some((other_index, (other, _))) = earlier.iter().enumerate().find(|(_, (other, _))| {
            matches!(other.kind, DeviceKind::Uart16550 { irq: other_irq, .. } if other_irq == irq)
        }) {
            return Err(at.invalid(
                "irq",
                Problem::SharedIrq {
                    irq,
                    other: device_text(DevicePath { vm, index: other_index }, other),
                },
            ));
        }
    }
    Ok(())
}

/// The ISA line the INTx pin A of PCI function `bdf` drives (the hypervisor wires every
/// configured PCI function's pin A through the default PIRQ routing).
pub fn pci_isa_line(bdf: Bdf) -> Option<u8> {
    intx_line(bdf, InterruptPin::IntA, DEFAULT_PIRQ_LINES).map(|line| line.0)
}

/// A device using a host device.
struct HostUser<'a> {
    at: DevicePath,
    vm_name: &'a str,
    device: &'a DeviceDesc,
    region: Region,
}

/// Refuses a host device passed through or mediated to one device while another device (of any
/// VM, by any method) uses it too.
pub fn check_host_sharing(machine: &Machine) -> Result<(), Invalid> {
    let mut users: Vec<HostUser<'_>> = Vec::new();
    for (vm, desc) in machine.vms.iter().enumerate() {
        for (index, device) in desc.devices.iter().enumerate() {
            let Some(host) = device.method.host() else {
                continue;
            };
            let at = DevicePath { vm, index };
            let Ok(region) = host.region() else {
                continue;
            };
            let exclusive = device.method.is_exclusive();
            if let Some(other) = users.iter().find(|other| {
                other.region.overlaps(&region) && (exclusive || other.device.method.is_exclusive())
            }) {
                return Err(at.invalid(
                    "host",
                    Problem::HostDeviceTaken {
                        host: host_text(host),
                        other: format!(
                            "{} (device {:?} of VM {:?})",
                            other.at.path(),
                            other.device.name,
                            other.vm_name
                        ),
                        other_method: method_name(&other.device.method),
                    },
                ));
            }
            users.push(HostUser {
                at,
                vm_name: &desc.name,
                device,
                region,
            });
        }
    }
    Ok(())
}
