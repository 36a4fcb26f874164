//! Level-triggered interrupt guest: the MMIO test device's line (IRQ 5) is made level-triggered
//! in the ELCR and held asserted. The handler counts and sends EOI *without* clearing the
//! source, so the 8259A requests again at once: an interrupt storm of [`STORM`] deliveries,
//! after which the handler releases the line. Meanwhile the PIT runs at 1 kHz on IRQ 0 (higher
//! priority): its interrupts must keep arriving during the storm (neither the timer nor the
//! hypervisor starves), and once the line is released no further device interrupt may come.
//!
//! Checks, each printed as `ok:`/`FAIL:` (exit 0 only if all pass):
//! - ELCR bit 5 reads back set;
//! - exactly [`STORM`] device interrupts arrive for one assertion (the device drove one edge);
//! - PIT interrupts arrive between the first and the last storm interrupt;
//! - after the release: no device interrupt in 20 PIT periods, the PIT still ticks, IRR bit 5
//!   clear.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use guests::check::Checks;
use guests::{BootInfo, entry, idt, interrupts, pic, pit, println, test_device};

entry!(main);

/// The test device's line (its default).
const DEVICE_IRQ: u8 = test_device::DEFAULT_IRQ;
/// Device interrupts before the handler releases the line.
const STORM: u32 = 1_000;
/// The PIT rate during the storm.
const PIT_HZ: u32 = 1_000;
/// PIT periods to let pass before the storm (the timer is demonstrably running).
const TICKS_BEFORE: u32 = 3;
/// PIT periods to watch after the release.
const TICKS_AFTER: u32 = 20;
/// PIT periods the storm may take before the guest gives up (5 s).
const STORM_TICK_LIMIT: u32 = 5_000;
/// Spin iterations any wait may take at most (a dead PIT must not hang the guest).
const SPIN_LIMIT: u64 = 500_000_000;

static DEVICE_COUNT: AtomicU32 = AtomicU32::new(0);
static TICKS: AtomicU32 = AtomicU32::new(0);
/// PIT count when the first and the last storm interrupt arrived.
static TICKS_AT_FIRST: AtomicU32 = AtomicU32::new(0);
static TICKS_AT_LAST: AtomicU32 = AtomicU32::new(0);

fn on_tick(_vector: u8) {
    TICKS.fetch_add(1, Ordering::SeqCst);
    pic::eoi(pit::IRQ);
}

fn on_device(_vector: u8) {
    let count = DEVICE_COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    let ticks = TICKS.load(Ordering::SeqCst);
    if count == 1 {
        TICKS_AT_FIRST.store(ticks, Ordering::SeqCst);
    }
    if count == STORM {
        TICKS_AT_LAST.store(ticks, Ordering::SeqCst);
        test_device::set_level_irq(false);
    }
    pic::eoi(DEVICE_IRQ);
}

fn ticks() -> u32 {
    TICKS.load(Ordering::SeqCst)
}

fn device_count() -> u32 {
    DEVICE_COUNT.load(Ordering::SeqCst)
}

/// Waits (interrupts on) until `n` more PIT periods passed.
fn wait_ticks(n: u32) -> bool {
    let start = ticks();
    interrupts::spin_until(SPIN_LIMIT, || ticks().wrapping_sub(start) >= n)
}

fn main(_boot: BootInfo) -> u32 {
    let mut checks = Checks::new();
    pic::init();
    if idt::set_handler(pic::vector(pit::IRQ), on_tick).is_err()
        || idt::set_handler(pic::vector(DEVICE_IRQ), on_device).is_err()
    {
        println!("FAIL: no gate for an IRQ vector");
        return checks.finish();
    }
    let _ = pic::set_level_triggered(DEVICE_IRQ, true);
    checks.equal(
        "ELCR after making IRQ 5 level-triggered",
        pic::elcr(),
        1 << DEVICE_IRQ,
    );
    let _ = pic::unmask(pit::IRQ);
    let _ = pic::unmask(DEVICE_IRQ);
    pit::start_periodic(PIT_HZ);
    interrupts::enable();
    checks.check(
        wait_ticks(TICKS_BEFORE),
        format_args!("PIT at 1 kHz ticks before the storm"),
    );

    let storm_start = ticks();
    test_device::set_level_irq(true);
    let finished = interrupts::spin_until(SPIN_LIMIT, || {
        device_count() >= STORM || ticks().wrapping_sub(storm_start) > STORM_TICK_LIMIT
    });
    let storm_count = device_count();
    checks.check(
        finished && storm_count == STORM,
        format_args!(
            "level-triggered IRQ 5 delivered {storm_count} times while held (expected {STORM})"
        ),
    );
    let during = TICKS_AT_LAST
        .load(Ordering::SeqCst)
        .wrapping_sub(TICKS_AT_FIRST.load(Ordering::SeqCst));
    checks.check(
        during > 0,
        format_args!("PIT interrupts during the storm: {during}"),
    );
    checks.equal(
        "device IRQ_COUNT register (rising edges)",
        test_device::read32(test_device::IRQ_COUNT),
        1,
    );

    let ticked = wait_ticks(TICKS_AFTER);
    checks.check(
        ticked,
        format_args!("PIT keeps ticking after the storm ({TICKS_AFTER} periods)"),
    );
    checks.equal(
        "IRQ 5 deliveries after the release",
        device_count().wrapping_sub(storm_count),
        0,
    );
    interrupts::disable();
    pit::stop();
    checks.equal(
        "IRQ 5 requested after the release",
        pic::irr() & (1 << DEVICE_IRQ),
        0,
    );
    checks.equal(
        "device LEVEL_IRQ after the release",
        test_device::read32(test_device::LEVEL_IRQ),
        0,
    );
    checks.finish()
}
