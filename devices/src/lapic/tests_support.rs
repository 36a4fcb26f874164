//! Helpers for the local APIC tests: a powered-on APIC on a fake context, and register access
//! as a guest makes it.

use crate::interface::{Device, DeviceContext};
use crate::testing::FakeContext;

use super::registers::{base, offset, svr};
use super::{LapicConfig, LocalApic};

/// The APIC ID the tests use.
pub const ID: u32 = 3;
/// The power-on xAPIC page.
pub const PAGE: u64 = base::DEFAULT_ADDRESS;
/// SVR value that software-enables the APIC with spurious vector 0xFF.
pub const SVR_ENABLED: u32 = svr::ENABLE | svr::VECTOR;

/// An installed, powered-on bootstrap APIC, still software disabled.
pub fn powered() -> (LocalApic, FakeContext) {
    powered_with(LapicConfig::bootstrap(ID))
}

/// Same, with a chosen configuration.
pub fn powered_with(config: LapicConfig) -> (LocalApic, FakeContext) {
    let mut apic = LocalApic::new(config).unwrap();
    let mut ctx = FakeContext::new();
    apic.install(&mut ctx).unwrap();
    apic.power_on(&mut ctx).unwrap();
    (apic, ctx)
}

/// An installed, powered-on, software-enabled APIC.
pub fn enabled() -> (LocalApic, FakeContext) {
    let (mut apic, mut ctx) = powered();
    write(&mut apic, &mut ctx, offset::SVR, SVR_ENABLED);
    (apic, ctx)
}

/// A 32-bit xAPIC register write.
pub fn write(apic: &mut LocalApic, ctx: &mut FakeContext, register: u32, value: u32) {
    apic.mmio_write(ctx, PAGE + u64::from(register), &value.to_le_bytes());
}

/// A 32-bit xAPIC register read.
pub fn read(apic: &mut LocalApic, ctx: &mut FakeContext, register: u32) -> u32 {
    let mut data = [0u8; 4];
    apic.mmio_read(ctx, PAGE + u64::from(register), &mut data);
    u32::from_le_bytes(data)
}

/// The APIC switched to x2APIC mode (and software enabled).
pub fn x2apic() -> (LocalApic, FakeContext) {
    let (mut apic, mut ctx) = enabled();
    let value = apic.apic_base() | base::EXTD;
    apic.set_apic_base(&mut ctx, value).unwrap();
    (apic, ctx)
}

/// Moves the clock to `until`, firing the APIC's timers on the way.
pub fn run_until(apic: &mut LocalApic, ctx: &mut FakeContext, until: u64) -> u64 {
    ctx.fire_due(apic, until)
}

/// The clock now.
pub fn now(ctx: &FakeContext) -> u64 {
    DeviceContext::now(ctx)
}
