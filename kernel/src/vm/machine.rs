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

use alloc::boxed::Box;

use devices::bus::{Bus, BusError};
use devices::debug_exit::DebugExit;
use devices::i8042::I8042;
use devices::interface::{Device, DeviceError};
use devices::ioapic::{self, IoApic};
use devices::lapic::{LapicConfig, LocalApic, TscReference};
use devices::pci::host_bridge::HostBridge;
use devices::pic8259::PicPair;
use devices::pit8254::Pit8254;
use devices::rtc_cmos::RtcCmos;
use devices::shared::Shared;
use devices::test_device::{self, TestDevice};
use devices::uart16550::{Uart16550, UartConfig};

use super::console::VmConsole;
use super::interrupts::{Apics, Controllers};
use super::platform::Platform;
use crate::arch::x86_64::{cmos_clock, tsc};

/// Register, install and power on every device of the PC.
pub fn install_pc_devices(
    bus: &mut Bus,
    platform: &mut Platform,
    name: &str,
    with_apic: bool,
) -> Result<(), BusError> {
    let rtc =
        RtcCmos::new(cmos_clock::epoch_seconds()).map_err(|error| config_error("RTC", error))?;
    let uart = Uart16550::new(UartConfig::COM1, VmConsole::new(name))
        .map_err(|error| config_error("UART", error))?;
    let test_device = TestDevice::new(test_device::DEFAULT_BASE)
        .map_err(|error| config_error("test device", error))?;
    let pic = Shared::new(PicPair::new());
    let models: [Box<dyn Device>; 8] = [
        Box::new(uart),
        Box::new(pic.clone()),
        Box::new(Pit8254::new()),
        Box::new(rtc),
        Box::new(I8042::new()),
        Box::new(HostBridge::new()),
        Box::new(DebugExit::default()),
        Box::new(test_device),
    ];
    bus.enable_pci_mechanism1()?;
    for model in models {
        let id = bus.register(platform, model)?;
        bus.power_on(platform, id)?;
    }
    let apics = if with_apic {
        Some(install_apics(bus, platform)?)
    } else {
        None
    };
    platform.controllers = Some(Controllers { pic, apics });
    Ok(())
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

/// The local APIC timer's input clock the guest sees (it calibrates it, as on hardware).
const LAPIC_TIMER_HZ: u64 = 1_000_000_000;
/// The I/O APIC's ID (the local APIC is 0).
const IOAPIC_ID: u8 = 1;

fn config_error(device: &str, error: impl core::fmt::Debug) -> BusError {
    BusError::Device(DeviceError::Config(alloc::format!("{device}: {error:?}")))
}
