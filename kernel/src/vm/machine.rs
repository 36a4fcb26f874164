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

use alloc::boxed::Box;

use devices::bus::{Bus, BusError};
use devices::debug_exit::DebugExit;
use devices::i8042::I8042;
use devices::interface::Device;
use devices::pci::host_bridge::HostBridge;
use devices::pic8259::PicPair;
use devices::pit8254::Pit8254;
use devices::rtc_cmos::RtcCmos;
use devices::shared::Shared;
use devices::test_device::{self, TestDevice};
use devices::uart16550::{Uart16550, UartConfig};

use super::console::VmConsole;
use super::interrupts::Controllers;
use super::platform::Platform;
use crate::arch::x86_64::cmos_clock;

/// Register, install and power on every device of the PC.
pub fn install_pc_devices(
    bus: &mut Bus,
    platform: &mut Platform,
    name: &str,
) -> Result<(), BusError> {
    let rtc = RtcCmos::new(cmos_clock::epoch_seconds()).map_err(|error| {
        BusError::Device(devices::interface::DeviceError::Config(alloc::format!(
            "RTC: {error:?}"
        )))
    })?;
    let uart = Uart16550::new(UartConfig::COM1, VmConsole::new(name)).map_err(|error| {
        BusError::Device(devices::interface::DeviceError::Config(alloc::format!(
            "UART: {error:?}"
        )))
    })?;
    let test_device = TestDevice::new(test_device::DEFAULT_BASE).map_err(|error| {
        BusError::Device(devices::interface::DeviceError::Config(alloc::format!(
            "test device: {error:?}"
        )))
    })?;
    let pic = Shared::new(PicPair::new());
    platform.controllers = Some(Controllers { pic: pic.clone() });
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
    Ok(())
}
