//! A device the VMM also drives directly: the interrupt controllers sit on the bus (the guest
//! programs them through ports and MMIO) while the VMM raises their input lines and takes
//! their vectors between exits. [`Shared`] puts one model behind an `Arc<spin::Mutex<_>>`: the
//! bus stores one clone as its `Box<dyn Device>`, the VMM keeps another.
//!
//! The lock is held only for one call into the model; a model must not call back into the
//! VMM in a way that re-enters itself (the interrupt controllers raise nothing through their
//! context, so they cannot).

use alloc::string::String;
use alloc::sync::Arc;
use spin::{Mutex, MutexGuard};

use crate::interface::{Device, DeviceContext, DeviceError, Gpa, Nanos, TimerId};

/// A model shared between the bus and the VMM.
pub struct Shared<T> {
    model: Arc<Mutex<T>>,
    /// The model's name, copied so `Device::name` need not hold the lock.
    name: String,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            model: Arc::clone(&self.model),
            name: self.name.clone(),
        }
    }
}

impl<T: Device> Shared<T> {
    /// Share `model`.
    pub fn new(model: T) -> Self {
        let name = String::from(model.name());
        Shared {
            model: Arc::new(Mutex::new(model)),
            name,
        }
    }
}

impl<T> Shared<T> {
    /// Lock the model for a direct call.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.model.lock()
    }
}

impl<T: Device> Device for Shared<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.model.lock().install(ctx)
    }

    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.model.lock().power_on(ctx)
    }

    fn power_off(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.model.lock().power_off(ctx)
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.model.lock().remove(ctx)
    }

    fn mmio_read(&mut self, ctx: &mut dyn DeviceContext, addr: Gpa, data: &mut [u8]) {
        self.model.lock().mmio_read(ctx, addr, data);
    }

    fn mmio_write(&mut self, ctx: &mut dyn DeviceContext, addr: Gpa, data: &[u8]) {
        self.model.lock().mmio_write(ctx, addr, data);
    }

    fn pio_read(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &mut [u8]) {
        self.model.lock().pio_read(ctx, port, data);
    }

    fn pio_write(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &[u8]) {
        self.model.lock().pio_write(ctx, port, data);
    }

    fn pci_config_read(&mut self, ctx: &mut dyn DeviceContext, offset: u16, data: &mut [u8]) {
        self.model.lock().pci_config_read(ctx, offset, data);
    }

    fn pci_config_write(&mut self, ctx: &mut dyn DeviceContext, offset: u16, data: &[u8]) {
        self.model.lock().pci_config_write(ctx, offset, data);
    }

    fn timer(&mut self, ctx: &mut dyn DeviceContext, id: TimerId, now: Nanos) {
        self.model.lock().timer(ctx, id, now);
    }
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;

    use super::*;
    use crate::bus::Bus;
    use crate::pic8259::PicPair;
    use crate::testing::FakeContext;

    #[test]
    fn bus_and_vmm_see_the_same_model() {
        let mut vm = FakeContext::new();
        let mut bus = Bus::default();
        let pic = Shared::new(PicPair::new());
        let id = bus.register(&mut vm, Box::new(pic.clone())).unwrap();
        bus.power_on(&mut vm, id).unwrap();
        // The guest initialises the master: ICW1..ICW4, vector base 0x20, then unmasks IRQ 0.
        for (port, value) in [
            (0x20u16, 0x11u8),
            (0x21, 0x20),
            (0x21, 0x04),
            (0x21, 0x01),
            (0x21, 0xfe),
        ] {
            bus.pio_write(&mut vm, port, &[value]);
        }
        pic.lock().set_irq(0, true).unwrap();
        assert!(pic.lock().has_pending());
        assert_eq!(pic.lock().acknowledge(), 0x20);
    }
}
