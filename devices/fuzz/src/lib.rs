//! What the device fuzz targets share: a script of guest accesses and VMM events decoded from
//! the fuzz input with `arbitrary`, and a driver that plays it against one device model and a
//! [`FakeContext`], checking the model's invariants after every step.
//!
//! The clock only moves forward, as the VMM's does. Steps that call timers back are bounded
//! (at most [`MAX_RUN_NS`] of simulated time per step) so one input cannot stall the fuzzer.

use arbitrary::Arbitrary;
use devices::interface::{Device, DeviceContext};
use devices::testing::FakeContext;

/// Steps played per input; the rest is ignored.
pub const MAX_STEPS: usize = 512;
/// Simulated time one `Run` step may cover with in-order timer callbacks (10 ms: at most 100
/// callbacks of the shortest period a model asks for).
pub const MAX_RUN_NS: u64 = 10_000_000;
/// Timers one model may hold at once (each model holds at most one).
pub const MAX_TIMERS_PER_MODEL: usize = 1;

/// Access width in bytes.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Width {
    Byte,
    Word,
    Dword,
}

impl Width {
    /// The access size.
    pub fn bytes(self) -> usize {
        match self {
            Width::Byte => 1,
            Width::Word => 2,
            Width::Dword => 4,
        }
    }
}

/// One step of a guest/VMM script.
#[derive(Arbitrary, Debug, Clone)]
pub enum Step {
    /// The guest reads at one of the model's ports (picked by `select`) plus `offset % 8`.
    Read {
        select: u8,
        offset: u8,
        width: Width,
    },
    /// The guest writes `value`'s low bytes there.
    Write {
        select: u8,
        offset: u8,
        width: Width,
        value: u32,
    },
    /// The clock moves forward with no timer callback (a descheduled VM).
    Skip { nanos: u32 },
    /// The clock jumps seconds ahead with no callback.
    Jump { seconds: u16 },
    /// The clock moves forward with every due timer period called back in order.
    Run { micros: u16 },
    /// The clock moves forward and each due timer is called back once, late.
    Late { micros: u32 },
    /// Model-specific input from the VMM (a received byte, an IRQ line, a keystroke).
    Input { line: u8, value: u8 },
    /// Power off, then on.
    PowerCycle,
}

/// Plays `steps` against `device` (already installed and powered on in `ctx`): `input` handles
/// [`Step::Input`], `check` asserts the model's invariants after every step.
pub fn play<D: Device>(
    device: &mut D,
    ctx: &mut FakeContext,
    ports: &[u16],
    steps: &[Step],
    mut input: impl FnMut(&mut D, &mut FakeContext, u8, u8),
    mut check: impl FnMut(&mut D, &mut FakeContext),
) {
    for step in steps.iter().take(MAX_STEPS) {
        match *step {
            Step::Read {
                select,
                offset,
                width,
            } => {
                let port = pick(ports, select, offset);
                let mut data = [0u8; 4];
                device.pio_read(ctx, port, &mut data[..width.bytes()]);
            }
            Step::Write {
                select,
                offset,
                width,
                value,
            } => {
                let port = pick(ports, select, offset);
                device.pio_write(ctx, port, &value.to_le_bytes()[..width.bytes()]);
            }
            Step::Skip { nanos } => ctx.advance(u64::from(nanos)),
            Step::Jump { seconds } => ctx.advance(u64::from(seconds) * 1_000_000_000),
            Step::Run { micros } => {
                // Timers left overdue by a Skip or Jump get one late call first (what a VMM
                // coming back from a long pause does), so the in-order run stays bounded.
                let now = ctx.now();
                ctx.fire_late(device, now);
                let until = now.saturating_add(u64::from(micros) * 1_000 % (MAX_RUN_NS + 1));
                debug_assert!(until - now <= MAX_RUN_NS);
                ctx.fire_due(device, until);
            }
            Step::Late { micros } => {
                let at = ctx.now().saturating_add(u64::from(micros) * 1_000);
                ctx.fire_late(device, at);
            }
            Step::Input { line, value } => input(device, ctx, line, value),
            Step::PowerCycle => {
                device.power_off(ctx).expect("power off");
                assert!(
                    ctx.timers().is_empty(),
                    "{} kept a timer across power off",
                    device.name()
                );
                device.power_on(ctx).expect("power on");
            }
        }
        assert!(
            ctx.timers().len() <= MAX_TIMERS_PER_MODEL,
            "{} holds {} timers",
            device.name(),
            ctx.timers().len()
        );
        check(device, ctx);
        // The fake's logs are capped; empty them now and then so the checks see fresh events.
        if ctx.irq_events().len() > 1024 {
            ctx.take_irq_events();
        }
    }
    device.power_off(ctx).expect("final power off");
    assert!(
        ctx.timers().is_empty(),
        "{} kept a timer after power off",
        device.name()
    );
    device.remove(ctx).expect("remove");
    assert!(
        ctx.claims().is_empty(),
        "{} kept a claim after remove",
        device.name()
    );
}

/// One of the model's ports, nudged by up to 7 so neighbouring and out-of-range ports and
/// wide accesses across the end are exercised too.
fn pick(ports: &[u16], select: u8, offset: u8) -> u16 {
    let base = ports
        .get(usize::from(select) % ports.len().max(1))
        .copied()
        .unwrap_or(0);
    base.wrapping_add(u16::from(offset % 8))
}

/// A fake VM with the device installed and powered on.
pub fn installed<D: Device>(device: &mut D) -> FakeContext {
    let mut ctx = FakeContext::new();
    device.install(&mut ctx).expect("install");
    device.power_on(&mut ctx).expect("power on");
    ctx
}
