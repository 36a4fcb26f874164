//! A scripted test device: logs every call the bus makes into it, answers reads with a pattern
//! derived from the address, and runs test-supplied hooks with the bus-provided context.

extern crate std;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use std::sync::{Arc, Mutex};

use crate::interface::{Device, DeviceContext, DeviceError, Gpa, Nanos, Region, TimerId};

/// One call the bus made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    Install,
    PowerOn,
    PowerOff,
    Remove,
    PioRead(u16, usize),
    PioWrite(u16, Vec<u8>),
    MmioRead(Gpa, usize),
    MmioWrite(Gpa, Vec<u8>),
    ConfigRead(u16, usize),
    ConfigWrite(u16, Vec<u8>),
    Timer(TimerId, Nanos),
}

pub(crate) type Hook = Box<dyn FnMut(&mut dyn DeviceContext) -> Result<(), DeviceError> + Send>;
pub(crate) type Log = Arc<Mutex<Vec<Call>>>;

/// The pattern a probe answers reads with: `tag ^ low byte of (addr + i)`.
pub(crate) fn pattern(tag: u8, addr: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| tag ^ (addr.wrapping_add(i) as u8))
        .collect()
}

pub(crate) struct Probe {
    pub(crate) tag: u8,
    pub(crate) claims: Vec<Region>,
    pub(crate) log: Log,
    pub(crate) on_install: Option<Hook>,
    pub(crate) on_power_on: Option<Hook>,
    pub(crate) on_write: Option<Hook>,
    pub(crate) on_timer: Option<Hook>,
    pub(crate) on_remove: Option<Hook>,
}

impl Probe {
    /// A probe that claims `claims` in `install`.
    pub(crate) fn new(tag: u8, claims: &[Region]) -> (Self, Log) {
        let log = Log::default();
        let probe = Probe {
            tag,
            claims: claims.to_vec(),
            log: log.clone(),
            on_install: None,
            on_power_on: None,
            on_write: None,
            on_timer: None,
            on_remove: None,
        };
        (probe, log)
    }

    fn record(&self, call: Call) {
        if let Ok(mut log) = self.log.lock() {
            log.push(call);
        }
    }

    fn run(hook: &mut Option<Hook>, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        match hook {
            Some(hook) => hook(ctx),
            None => Ok(()),
        }
    }
}

impl Device for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.record(Call::Install);
        for region in &self.claims {
            ctx.claim(*region)?;
        }
        Self::run(&mut self.on_install, ctx)
    }
    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.record(Call::PowerOn);
        Self::run(&mut self.on_power_on, ctx)
    }
    fn power_off(&mut self, _ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.record(Call::PowerOff);
        Ok(())
    }
    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.record(Call::Remove);
        Self::run(&mut self.on_remove, ctx)
    }
    fn mmio_read(&mut self, _ctx: &mut dyn DeviceContext, addr: Gpa, data: &mut [u8]) {
        self.record(Call::MmioRead(addr, data.len()));
        data.copy_from_slice(&pattern(self.tag, addr, data.len()));
    }
    fn mmio_write(&mut self, ctx: &mut dyn DeviceContext, addr: Gpa, data: &[u8]) {
        self.record(Call::MmioWrite(addr, data.to_vec()));
        let _ = Self::run(&mut self.on_write, ctx);
    }
    fn pio_read(&mut self, _ctx: &mut dyn DeviceContext, port: u16, data: &mut [u8]) {
        self.record(Call::PioRead(port, data.len()));
        data.copy_from_slice(&pattern(self.tag, u64::from(port), data.len()));
    }
    fn pio_write(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &[u8]) {
        self.record(Call::PioWrite(port, data.to_vec()));
        let _ = Self::run(&mut self.on_write, ctx);
    }
    fn pci_config_read(&mut self, _ctx: &mut dyn DeviceContext, offset: u16, data: &mut [u8]) {
        self.record(Call::ConfigRead(offset, data.len()));
        data.copy_from_slice(&pattern(self.tag, u64::from(offset), data.len()));
    }
    fn pci_config_write(&mut self, ctx: &mut dyn DeviceContext, offset: u16, data: &[u8]) {
        self.record(Call::ConfigWrite(offset, data.to_vec()));
        let _ = Self::run(&mut self.on_write, ctx);
    }
    fn timer(&mut self, ctx: &mut dyn DeviceContext, id: TimerId, now: Nanos) {
        self.record(Call::Timer(id, now));
        let _ = Self::run(&mut self.on_timer, ctx);
    }
}

/// A `DeviceError` for hooks that want to fail.
pub(crate) fn backend_error(why: &str) -> DeviceError {
    DeviceError::Backend(String::from(why))
}

/// The calls logged so far.
pub(crate) fn calls(log: &Log) -> Vec<Call> {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}
