//! The debug-exit device: a guest write to its port ends the VM with that value as its status,
//! at the port QEMU's `isa-debug-exit` uses, so test guests need no other way out.
//!
//! # Status mapping
//! Writing value `v` (1, 2 or 4 bytes, little-endian, zero-extended) to any port of the
//! device's range requests [`VmRequest::Shutdown`] with `status = v`. Unlike QEMU (which exits
//! with `(v << 1) | 1` because its own exit code 0 also means "triple fault"), the VMM reports
//! a device-requested stop apart from a crash, so the guest's number is passed on unchanged and
//! 0 means success. Reads return all-ones and have no effect.
//!
//! # Threat note
//! The guest controls only the value written and when. Any value maps to a status; one write
//! makes one request; the device keeps no state that grows.

use crate::interface::{
    ClaimError, Device, DeviceContext, DeviceError, PortRange, Region, VmRequest,
};

/// QEMU's and this project's usual port.
pub const DEFAULT_PORT: u16 = 0xF4;
/// Ports the device answers by default (`iosize=0x04` in QEMU terms).
pub const DEFAULT_PORTS: u16 = 4;

/// The status a write of `value` ends the VM with: the value itself.
pub const fn exit_status(value: u32) -> u32 {
    value
}

/// The debug-exit device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugExit {
    ports: PortRange,
}

impl DebugExit {
    /// The device on `ports`.
    pub const fn new(ports: PortRange) -> Self {
        DebugExit { ports }
    }

    /// The device at 0xF4–0xF7.
    pub const fn default_ports() -> Self {
        match PortRange::new(DEFAULT_PORT, DEFAULT_PORTS) {
            Ok(ports) => DebugExit { ports },
            Err(_) => panic!("0xF4..0xF8 fits the port space"),
        }
    }

    /// The ports it answers.
    pub const fn ports(&self) -> PortRange {
        self.ports
    }
}

impl Default for DebugExit {
    fn default() -> Self {
        Self::default_ports()
    }
}

impl Device for DebugExit {
    fn name(&self) -> &str {
        "debug-exit"
    }

    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        ctx.claim(Region::Pio(self.ports))
            .map_err(|e: ClaimError| e.into())
    }

    fn pio_write(&mut self, ctx: &mut dyn DeviceContext, _port: u16, data: &[u8]) {
        let mut value = [0u8; 4];
        for (slot, byte) in value.iter_mut().zip(data) {
            *slot = *byte;
        }
        ctx.request(VmRequest::Shutdown {
            status: exit_status(u32::from_le_bytes(value)),
        });
    }
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;

    use super::*;
    use crate::bus::{Access, Bus};
    use crate::testing::FakeContext;

    #[test]
    fn write_to_port_f4_requests_shutdown_with_the_value() {
        let mut vm = FakeContext::new();
        let mut bus = Bus::default();
        let id = bus
            .register(&mut vm, Box::new(DebugExit::default()))
            .unwrap();
        bus.power_on(&mut vm, id).unwrap();
        assert_eq!(bus.pio_write(&mut vm, 0xF4, &[0x10]), Access::Device(id));
        assert_eq!(vm.requests(), [VmRequest::Shutdown { status: 0x10 }]);
        bus.pio_write(&mut vm, 0xF4, &0u32.to_le_bytes());
        bus.pio_write(&mut vm, 0xF6, &0x0102u16.to_le_bytes());
        bus.pio_write(&mut vm, 0xF4, &u32::MAX.to_le_bytes());
        assert_eq!(
            vm.requests()[1..],
            [
                VmRequest::Shutdown { status: 0 },
                VmRequest::Shutdown { status: 0x0102 },
                VmRequest::Shutdown { status: u32::MAX },
            ]
        );
    }

    #[test]
    fn reads_return_all_ones_without_a_request() {
        let mut vm = FakeContext::new();
        let mut bus = Bus::default();
        let id = bus
            .register(&mut vm, Box::new(DebugExit::default()))
            .unwrap();
        bus.power_on(&mut vm, id).unwrap();
        let mut byte = [0];
        assert_eq!(bus.pio_read(&mut vm, 0xF4, &mut byte), Access::Device(id));
        assert_eq!(byte, [0xFF]);
        assert!(vm.requests().is_empty());
    }

    #[test]
    fn port_is_configurable() {
        let mut vm = FakeContext::new();
        let mut bus = Bus::default();
        let ports = PortRange::new(0x501, 1).unwrap();
        let id = bus
            .register(&mut vm, Box::new(DebugExit::new(ports)))
            .unwrap();
        bus.power_on(&mut vm, id).unwrap();
        assert_eq!(bus.pio_write(&mut vm, 0xF4, &[1]), Access::Unclaimed);
        assert_eq!(bus.pio_write(&mut vm, 0x501, &[1]), Access::Device(id));
        assert_eq!(vm.requests(), [VmRequest::Shutdown { status: 1 }]);
    }
}
