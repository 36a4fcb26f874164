//! HLT wake-up guest: `sti; hlt` with the PIT as the only interrupt source. The hypervisor must
//! idle the halted vCPU until the PIT's IRQ 0 is pending and then deliver it, so that every
//! HLT returns after exactly the timer's interrupt, and N wake-ups take about N timer periods
//! of RTC time (not forever, not a busy return).
//!
//! Checks, each printed as `ok:`/`FAIL:` (exit 0 only if all pass):
//! - periodic (mode 2, 100 Hz): each of 50 HLTs returns with at least one new IRQ 0;
//! - one-shot (mode 0, 5 ms): each of 20 HLTs returns with exactly one new IRQ 0, and OUT0 is
//!   high afterwards (the count ran out: HLT did not return early);
//! - each series ends within its RTC bound (50 × 10 ms and 20 × 5 ms, plus 2 s for the RTC's
//!   one-second resolution and the hypervisor's overhead).

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use guests::check::Checks;
use guests::{BootInfo, entry, idt, interrupts, pic, pit, println, rtc};

entry!(main);

/// The periodic rate.
const PERIODIC_HZ: u32 = 100;
/// HLTs in the periodic series.
const PERIODIC_WAKEUPS: u32 = 50;
/// The one-shot delay in PIT clocks: 5 ms at 1.193182 MHz.
const ONE_SHOT_COUNT: u16 = 5_966;
/// HLTs in the one-shot series.
const ONE_SHOT_WAKEUPS: u32 = 20;
/// Whole RTC seconds each series may take: its timer time is under one second, and the RTC
/// reads in whole seconds, so two allow for a boundary on each side.
const SERIES_SECONDS_LIMIT: u32 = 2;
/// Spin iterations with interrupts on that let a latched request in.
const DRAIN_SPIN: u32 = 10_000;
/// UIP polls per RTC read.
const UIP_POLL_LIMIT: u32 = 10_000;

/// IRQ 0 interrupts taken.
static TICKS: AtomicU32 = AtomicU32::new(0);

fn on_tick(_vector: u8) {
    TICKS.fetch_add(1, Ordering::SeqCst);
    pic::eoi(pit::IRQ);
}

fn ticks() -> u32 {
    TICKS.load(Ordering::SeqCst)
}

/// One HLT with interrupts enabled; interrupts are off again afterwards. Returns the IRQ 0
/// interrupts taken meanwhile.
fn halt_once() -> u32 {
    let before = ticks();
    interrupts::enable_and_halt();
    interrupts::disable();
    ticks().wrapping_sub(before)
}

/// Checks that a series took at most [`SERIES_SECONDS_LIMIT`] RTC seconds.
fn check_elapsed(checks: &mut Checks, series: &str, start: Option<u32>) {
    let end = rtc::time_of_day(UIP_POLL_LIMIT);
    match start.zip(end) {
        Some((start, end)) => {
            let seconds = rtc::seconds_between(start, end);
            checks.check(
                seconds <= SERIES_SECONDS_LIMIT,
                format_args!(
                    "{series} wake-ups took {seconds} RTC seconds (at most {SERIES_SECONDS_LIMIT})"
                ),
            );
        }
        None => {
            checks.check(false, format_args!("{series}: RTC time readable"));
        }
    }
}

fn periodic(checks: &mut Checks) {
    let start = rtc::time_of_day(UIP_POLL_LIMIT);
    pit::start_periodic(PERIODIC_HZ);
    let mut woken_by_timer = 0;
    for _ in 0..PERIODIC_WAKEUPS {
        if halt_once() >= 1 {
            woken_by_timer += 1;
        }
    }
    pit::stop();
    checks.check(
        woken_by_timer == PERIODIC_WAKEUPS,
        format_args!(
            "periodic 100 Hz: {woken_by_timer} of {PERIODIC_WAKEUPS} HLTs returned after an IRQ 0"
        ),
    );
    check_elapsed(checks, "periodic", start);
}

fn one_shot(checks: &mut Checks) {
    // A tick the periodic series left latched must not count here: let it in first.
    interrupts::enable();
    for _ in 0..DRAIN_SPIN {
        interrupts::spin_hint();
    }
    interrupts::disable();
    let start = rtc::time_of_day(UIP_POLL_LIMIT);
    let mut exactly_one = 0;
    let mut ran_out = 0;
    for _ in 0..ONE_SHOT_WAKEUPS {
        pit::start_one_shot(ONE_SHOT_COUNT);
        if halt_once() == 1 {
            exactly_one += 1;
        }
        if pit::out_high() {
            ran_out += 1;
        }
    }
    pit::stop();
    checks.check(
        exactly_one == ONE_SHOT_WAKEUPS,
        format_args!(
            "one-shot 5 ms: {exactly_one} of {ONE_SHOT_WAKEUPS} HLTs returned after exactly one IRQ 0"
        ),
    );
    checks.check(
        ran_out == ONE_SHOT_WAKEUPS,
        format_args!("one-shot 5 ms: OUT0 high after {ran_out} of {ONE_SHOT_WAKEUPS} wake-ups"),
    );
    check_elapsed(checks, "one-shot", start);
}

fn main(_boot: BootInfo) -> u32 {
    let mut checks = Checks::new();
    pic::init();
    if idt::set_handler(pic::vector(pit::IRQ), on_tick).is_err() {
        println!("FAIL: no gate for IRQ 0's vector");
        return checks.finish();
    }
    let _ = pic::unmask(pit::IRQ);
    periodic(&mut checks);
    one_shot(&mut checks);
    println!("IRQ 0 interrupts in all: {}", ticks());
    checks.finish()
}
