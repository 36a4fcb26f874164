//! The hypervisor's drivers for the real devices that device methods 2 and 3 put behind a
//! VM's emulated registers: a port window for mediated passthrough (only the ports the
//! configuration gave that device), and the host COM1, shared by every VM's host-backed UART.

use devices::host_serial::{HostSerial, SharedHostSerial};
use devices::interface::PortRange;
use devices::mediated::HostPorts;
use spin::Once;
use x86_64::instructions::port::Port;

use crate::console::serial;

/// Real port I/O, limited to one range: anything outside it reads all-ones and is not written.
#[derive(Debug)]
pub struct HostPortWindow {
    range: PortRange,
}

impl HostPortWindow {
    /// A window onto `range` (the configuration checked it is not a port the hypervisor uses).
    pub fn new(range: PortRange) -> Self {
        HostPortWindow { range }
    }

    fn covers(&self, port: u16, size: u8) -> bool {
        let last = port.checked_add(u16::from(size).saturating_sub(1));
        self.range.contains(port) && last.is_some_and(|last| self.range.contains(last))
    }
}

impl HostPorts for HostPortWindow {
    fn read(&mut self, port: u16, size: u8) -> u32 {
        if !self.covers(port, size) {
            return u32::MAX;
        }
        // SAFETY: the port lies in the window the configuration assigned to this device alone
        // (validated: not a port the hypervisor drives); reading it touches only that device.
        unsafe {
            match size {
                1 => u32::from(Port::<u8>::new(port).read()),
                2 => u32::from(Port::<u16>::new(port).read()),
                _ => Port::<u32>::new(port).read(),
            }
        }
    }

    fn write(&mut self, port: u16, size: u8, value: u32) {
        if !self.covers(port, size) {
            return;
        }
        // SAFETY: as in `read`; the policy in front of this window already allowed the write.
        unsafe {
            match size {
                1 => Port::<u8>::new(port).write(value as u8),
                2 => Port::<u16>::new(port).write(value as u16),
                _ => Port::<u32>::new(port).write(value),
            }
        }
    }
}

/// The host's COM1 through the hypervisor's `uart_16550` driver (the console's own).
#[derive(Debug, Default)]
pub struct HostCom1;

impl HostSerial for HostCom1 {
    fn write_bytes(&mut self, bytes: &[u8]) {
        serial::write_bytes(bytes);
    }

    fn read_byte(&mut self) -> Option<u8> {
        serial::try_read_byte()
    }
}

static HOST_COM1: Once<SharedHostSerial> = Once::new();

/// The hub every host-backed UART on COM1 attaches to.
pub fn host_com1() -> &'static SharedHostSerial {
    HOST_COM1.call_once(|| SharedHostSerial::new(HostCom1))
}
