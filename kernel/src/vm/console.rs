//! A VM's console: the back end of its emulated COM1 (and of its virtio consoles). Bytes the guest transmits are collected
//! into lines and printed on the hypervisor console tagged with the VM's name, `[name] text`.

use alloc::string::String;
use alloc::vec::Vec;

use devices::interface::DeviceContext;
use devices::uart16550::UartBackend;
use devices::virtio::ConsoleSink;

/// The longest line kept; longer lines are printed in pieces.
pub const MAX_LINE: usize = 256;

/// Line-buffered output to the hypervisor console.
pub struct VmConsole {
    name: String,
    line: Vec<u8>,
    /// Bytes the guest has sent in all.
    pub transmitted: u64,
}

impl VmConsole {
    /// A console for the VM called `name`.
    pub fn new(name: &str) -> Self {
        VmConsole {
            name: String::from(name),
            line: Vec::with_capacity(MAX_LINE),
            transmitted: 0,
        }
    }

    /// Add one byte; a newline (or a full line) prints the line.
    pub fn push(&mut self, byte: u8) {
        self.transmitted = self.transmitted.saturating_add(1);
        match byte {
            b'\n' => self.flush(),
            b'\r' => {}
            byte => {
                self.line.push(byte);
                if self.line.len() >= MAX_LINE {
                    self.flush();
                }
            }
        }
    }

    /// Print what is buffered, if anything.
    pub fn flush(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        crate::println!("[{}] {}", self.name, text);
        self.line.clear();
    }
}

impl Drop for VmConsole {
    fn drop(&mut self) {
        self.flush();
    }
}

impl UartBackend for VmConsole {
    fn transmit(&mut self, _ctx: &mut dyn DeviceContext, byte: u8) {
        self.push(byte);
    }

    fn poll_receive(&mut self, _ctx: &mut dyn DeviceContext) -> Option<u8> {
        None
    }
}

impl ConsoleSink for VmConsole {
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|byte| self.push(*byte));
    }
}
