//! The PC every VM gets: its devices, all full software emulation from `devices/`, registered
//! on the VM's bus and powered on. Guest-visible layout (see the README):
//!
//! | device | resources |
//! |---|---|
//! | 16550A UART (COM1), output to the VM console | ports 0x3F8–0x3FF, IRQ 4 |
//! | 8259A PIC pair + ELCR | 0x20–0x21, 0xA0–0xA1, 0x4D0–0x4D1 |
//! | 8254 PIT + port B | 0x40–0x43, 0x61 |
//! | MC146818 RTC/CMOS | 0x70–0x71, IRQ 8 |
//! | i8042 | 0x60, 0x64 |
//! | PCI host bridge 8086:1237 at 00:00.0 | mechanism #1 at 0xCF8/0xCFC |
//! | debug exit | 0xF4–0xF7 |
//! | MMIO test device | 0xFEB0_0000–0xFEB0_0FFF |
//! | local APIC, I/O APIC (when configured) | 0xFEE0_0000 page + x2APIC MSRs; 0xFEC0_0000 |
//! | ACPI PM1a event/control, PM timer (with ACPI tables) | 0x600–0x605, 0x608–0x60B, SCI on IRQ 9 |
//! | virtio-blk / virtio-console (when configured) | PCI 00:slot.0, BAR0 I/O in `devices::vm_config::virtio_io_window(slot)` (0xC000 + slot × 0x100), INTx A by the swizzle, ELCR level |

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use devices::acpi_pm::AcpiPm;
use devices::bus::{Bus, BusError};
use devices::debug_exit::DebugExit;
use devices::i8042::I8042;
use devices::interface::Bdf;
use devices::interface::{Device, DeviceError, IrqLine, PortRange, Region};
use devices::ioapic::{self, IoApic};
use devices::lapic::{LapicConfig, LocalApic, TscReference};
use devices::mediated::MediatedPorts;
use devices::pci::config_space::InterruptPin;
use devices::pci::host_bridge::HostBridge;
use devices::pci::{DEFAULT_PIRQ_LINES, intx_line};
use devices::pic8259::{self, PicPair};
use devices::pit8254::Pit8254;
use devices::rtc_cmos::RtcCmos;
use devices::shared::Shared;
use devices::test_device::{self, TestDevice};
use devices::uart16550::{Uart16550, UartConfig};
use devices::virtio::{MemoryDisk, TrackedDisk, VirtioBlk, VirtioConsole, VirtioPci};
use devices::vm_config::{
    DeviceDesc, DeviceKind, HostDevice, Method, build_policy, virtio_io_window,
};

use super::console::VmConsole;
use super::host_devices::{self, HostPortWindow};
use super::interrupts::{Apics, Controllers};
use super::platform::Platform;
use crate::arch::x86_64::{cmos_clock, tsc};
use crate::bootfs::BootFiles;

/// A virtio-blk function whose disk the VMM dumps when the VM ends.
pub type VirtioDisk = Shared<VirtioPci<VirtioBlk<TrackedDisk>>>;

/// Which devices beyond the fixed PC set a VM gets.
#[derive(Debug, Clone, Copy)]
pub enum DeviceSet<'a> {
    /// The default: COM1 emulated (to the VM console), debug exit, MMIO test device.
    Default,
    /// What a configuration file lists, each built by its method; disk images come from
    /// `files`.
    Configured {
        devices: &'a [DeviceDesc],
        files: &'a BootFiles,
    },
}

/// What the VMM itself must do for the devices: ports and memory handed straight to the VM
/// (method 1), and the mediated devices whose decision logs it prints (method 2).
#[derive(Default)]
pub struct Installed {
    pub passthrough_ports: Vec<(String, PortRange)>,
    pub passthrough_memory: Vec<(String, u64, u64, u64)>,
    pub mediated: Vec<(String, Shared<MediatedPorts<HostPortWindow>>)>,
    /// Virtio disks, by device name, whose written sectors are dumped when the VM ends.
    pub disks: Vec<(String, VirtioDisk)>,
}

/// Which optional platform parts a VM has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformParts {
    /// A local APIC and an I/O APIC.
    pub apic: bool,
    /// The ACPI power-management blocks the FADT describes (PM1a event/control, PM timer).
    pub acpi_pm: bool,
}

/// Register, install and power on every device of the PC, plus `set`.
pub fn install_pc_devices(
    bus: &mut Bus,
    platform: &mut Platform,
    name: &str,
    parts: PlatformParts,
    set: DeviceSet<'_>,
) -> Result<Installed, BusError> {
    let rtc =
        RtcCmos::new(cmos_clock::epoch_seconds()).map_err(|error| config_error("RTC", error))?;
    let pic = Shared::new(PicPair::new());
    let fixed: [Box<dyn Device>; 5] = [
        Box::new(pic.clone()),
        Box::new(Pit8254::new()),
        Box::new(rtc),
        Box::new(I8042::new()),
        Box::new(HostBridge::new()),
    ];
    bus.enable_pci_mechanism1()?;
    for model in fixed {
        add(bus, platform, model)?;
    }
    let mut installed = Installed::default();
    match set {
        DeviceSet::Default => {
            let uart = Uart16550::new(UartConfig::COM1, VmConsole::new(name))
                .map_err(|error| config_error("UART", error))?;
            let test_device = TestDevice::new(test_device::DEFAULT_BASE)
                .map_err(|error| config_error("test device", error))?;
            add(bus, platform, Box::new(uart))?;
            add(bus, platform, Box::new(DebugExit::default()))?;
            add(bus, platform, Box::new(test_device))?;
        }
        DeviceSet::Configured { devices, files } => {
            for device in devices {
                install_configured(bus, platform, name, device, files, &mut installed)?;
            }
            set_pci_lines_level_triggered(bus, platform, devices);
        }
    }
    if parts.acpi_pm {
        add(bus, platform, Box::new(AcpiPm::new()))?;
    }
    let apics = if parts.apic {
        Some(install_apics(bus, platform)?)
    } else {
        None
    };
    platform.controllers = Some(Controllers { pic, apics });
    Ok(installed)
}

fn add(bus: &mut Bus, platform: &mut Platform, model: Box<dyn Device>) -> Result<(), BusError> {
    let id = bus.register(platform, model)?;
    bus.power_on(platform, id)
}

/// One configured device, built the way its method says (the host tool validated the
/// combination; anything else is refused here too, naming the device).
fn install_configured(
    bus: &mut Bus,
    platform: &mut Platform,
    vm: &str,
    device: &DeviceDesc,
    files: &BootFiles,
    installed: &mut Installed,
) -> Result<(), BusError> {
    let refuse = |why: &str| config_error(&device.name, why);
    let region = device
        .kind
        .region()
        .map_err(|error| config_error(&device.name, error))?;
    match (&device.kind, &device.method) {
        (DeviceKind::Uart16550 { base, irq }, Method::Emulated) => {
            let config = UartConfig {
                base: *base,
                irq: IrqLine(*irq),
            };
            let uart = Uart16550::new(config, VmConsole::new(vm))
                .map_err(|error| refuse(&format!("{error:?}")))?;
            add(bus, platform, Box::new(uart))
        }
        (
            DeviceKind::Uart16550 { base, irq },
            Method::HostBacked {
                host: HostDevice::Com1,
            },
        ) => {
            let backend = host_devices::host_com1()
                .attach(vm)
                .map_err(|error| refuse(&format!("{error:?}")))?;
            let config = UartConfig {
                base: *base,
                irq: IrqLine(*irq),
            };
            let uart =
                Uart16550::new(config, backend).map_err(|error| refuse(&format!("{error:?}")))?;
            add(bus, platform, Box::new(uart))
        }
        (DeviceKind::DebugExit { .. }, Method::Emulated)
        | (DeviceKind::TestDevice { .. }, Method::Emulated) => match (&device.kind, region) {
            (DeviceKind::DebugExit { .. }, Region::Pio(ports)) => {
                add(bus, platform, Box::new(DebugExit::new(ports)))
            }
            (DeviceKind::TestDevice { base }, _) => {
                let model =
                    TestDevice::new(*base).map_err(|error| refuse(&format!("{error:?}")))?;
                add(bus, platform, Box::new(model))
            }
            _ => Err(refuse("unexpected resource kind")),
        },
        (DeviceKind::VirtioBlk { slot, disk }, Method::Emulated) => {
            let image = files
                .file(disk)
                .ok_or_else(|| refuse(&format!("no disk image `{disk}` in the boot ramdisk")))?;
            let mut copy = Vec::new();
            copy.try_reserve_exact(image.len()).map_err(|_| {
                refuse(&format!(
                    "disk image `{disk}` ({} bytes) does not fit the hypervisor heap (heap_mib)",
                    image.len()
                ))
            })?;
            copy.extend_from_slice(image);
            let disk = MemoryDisk::new(copy)
                .map_err(|error| refuse(&format!("disk image `{disk}`: {error:?}")))?;
            let model = VirtioBlk::new(TrackedDisk::new(disk));
            let function = Shared::new(virtio_function(*slot, model).map_err(|e| refuse(&e))?);
            add(bus, platform, Box::new(function.clone()))?;
            installed.disks.push((device.name.clone(), function));
            Ok(())
        }
        (DeviceKind::VirtioConsole { slot }, Method::Emulated) => {
            let sink = VmConsole::new(&format!("{vm}:{}", device.name));
            let function =
                virtio_function(*slot, VirtioConsole::new(sink)).map_err(|e| refuse(&e))?;
            add(bus, platform, Box::new(function))
        }
        (_, Method::Passthrough { host }) => {
            match (
                region,
                host.region()
                    .map_err(|error| refuse(&format!("{error:?}")))?,
            ) {
                (Region::Pio(ports), Region::Pio(host_ports)) if ports == host_ports => {
                    installed
                        .passthrough_ports
                        .push((device.name.clone(), ports));
                    Ok(())
                }
                (Region::Mmio(memory), Region::Mmio(host_memory))
                    if memory.len() == host_memory.len() =>
                {
                    installed.passthrough_memory.push((
                        device.name.clone(),
                        memory.first(),
                        host_memory.first(),
                        memory.len(),
                    ));
                    Ok(())
                }
                _ => Err(refuse(
                    "passthrough needs the same ports (or as much memory) as the host device",
                )),
            }
        }
        (_, Method::Mediated { host, policy }) => {
            let (Region::Pio(ports), Ok(Region::Pio(host_ports))) = (region, host.region()) else {
                return Err(refuse("mediation works on port ranges"));
            };
            if ports != host_ports {
                return Err(refuse("mediation needs the same ports as the host device"));
            }
            let policy = build_policy(policy).map_err(|error| refuse(&format!("{error:?}")))?;
            let model = MediatedPorts::new(ports, policy, HostPortWindow::new(ports))
                .map_err(|error| refuse(&format!("{error:?}")))?;
            let shared = Shared::new(model);
            add(bus, platform, Box::new(shared.clone()))?;
            installed.mediated.push((device.name.clone(), shared));
            Ok(())
        }
        _ => Err(refuse("this kind of device cannot be built that way")),
    }
}

/// The firmware's part for PCI interrupts on the 8259A: the ISA lines PCI functions' INTx pins
/// drive are shared, level-triggered lines, so their ELCR bits are set (as a PC BIOS does),
/// and a line two functions share is not lost to a missed edge.
fn set_pci_lines_level_triggered(bus: &mut Bus, platform: &mut Platform, devices: &[DeviceDesc]) {
    let mut lines: u16 = 0;
    for device in devices {
        if let DeviceKind::VirtioBlk { slot, .. } | DeviceKind::VirtioConsole { slot } = device.kind
            && let Ok(bdf) = Bdf::new(0, slot, 0)
            && let Some(line) = intx_line(bdf, InterruptPin::IntA, DEFAULT_PIRQ_LINES)
        {
            lines |= 1u16.checked_shl(u32::from(line.0)).unwrap_or(0);
        }
    }
    let [master, slave] = lines.to_le_bytes();
    if master != 0 {
        bus.pio_write(platform, pic8259::ELCR_MASTER, &[master]);
    }
    if slave != 0 {
        bus.pio_write(platform, pic8259::ELCR_SLAVE, &[slave]);
    }
}

/// `model` as the PCI function 00:`slot`.0 with its I/O BAR placed by the firmware rule and
/// INTx pin A on the swizzled ISA line.
fn virtio_function<D: devices::virtio::VirtioDevice>(
    slot: u8,
    model: D,
) -> Result<VirtioPci<D>, String> {
    let bdf = Bdf::new(0, slot, 0).map_err(|error| format!("PCI slot {slot}: {error:?}"))?;
    let line = intx_line(bdf, InterruptPin::IntA, DEFAULT_PIRQ_LINES)
        .ok_or_else(|| String::from("no INTx line"))?;
    let window = virtio_io_window(slot)
        .ok_or_else(|| format!("PCI slot {slot} has no I/O window for its BAR"))?;
    VirtioPci::new(bdf, line, model)
        .and_then(|function| function.with_firmware_io_base(window))
        .map_err(|error| format!("{error:?}"))
}

/// The local APIC (xAPIC page 0xFEE0_0000 / x2APIC MSRs, timer at the host TSC's rate) and the
/// I/O APIC at 0xFEC0_0000, shared between the bus and the injection path.
fn install_apics(bus: &mut Bus, platform: &mut Platform) -> Result<Apics, BusError> {
    let mut config = LapicConfig::bootstrap(0);
    config.tsc_frequency_hz = tsc::hz().max(1);
    config.timer_frequency_hz = LAPIC_TIMER_HZ;
    let lapic =
        Shared::new(LocalApic::new(config).map_err(|error| config_error("local APIC", error))?);
    let ioapic = Shared::new(
        IoApic::new(IOAPIC_ID, ioapic::DEFAULT_BASE)
            .map_err(|error| config_error("I/O APIC", error))?,
    );
    let lapic_device = bus.register(platform, Box::new(lapic.clone()))?;
    bus.power_on(platform, lapic_device)?;
    let ioapic_device = bus.register(platform, Box::new(ioapic.clone()))?;
    bus.power_on(platform, ioapic_device)?;
    let now = devices::bus::VmServices::now(platform);
    lapic.lock().set_tsc_reference(TscReference {
        at: now,
        tsc: tsc::now(),
    });
    Ok(Apics {
        lapic,
        lapic_device,
        ioapic,
    })
}

/// The local APIC timer's input clock the guest sees (CPUID leaf 0x15 names it as the crystal;
/// a guest may also calibrate it, as on hardware).
pub const LAPIC_TIMER_HZ: u64 = 1_000_000_000;
/// The I/O APIC's ID (the local APIC is 0).
const IOAPIC_ID: u8 = 1;

fn config_error(device: &str, error: impl core::fmt::Debug) -> BusError {
    BusError::Device(DeviceError::Config(alloc::format!("{device}: {error:?}")))
}
