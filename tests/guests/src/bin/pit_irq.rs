//! PIT interrupt guest: the 8254's counter 0 at 100 Hz drives IRQ 0 through the 8259A pair to
//! vector 0x20; the handler counts and sends EOI. Over two RTC seconds (measured from one
//! seconds change to the second-next) the count must be 200 ± 10 %: the hypervisor injects
//! every period, on time, whether the guest exits often (RTC polls) or not at all (a spin).
//!
//! Checks, each printed as `ok:`/`FAIL:` (exit 0 only if all pass):
//! - the PIT divisor for 100 Hz is 11932;
//! - IRQ 0 reaches the guest while it spins without any I/O (the preemption-timer path);
//! - the IRQ 0 count over 2 RTC seconds is within 180..=220;
//! - no handler is left in service and IRQ 0 stops after the PIT is stopped.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use guests::check::Checks;
use guests::{BootInfo, entry, idt, interrupts, pic, pit, println, rtc};

entry!(main);

/// The PIT rate.
const HZ: u32 = 100;
/// The count for 100 Hz: 1193182 / 100, rounded.
const DIVISOR_100_HZ: u16 = 11_932;
/// RTC seconds the interrupts are counted over.
const MEASURE_SECONDS: u32 = 2;
/// Interrupts expected over them.
const EXPECTED_TICKS: u32 = HZ * MEASURE_SECONDS;
/// ±10 %.
const TOLERANCE: u32 = EXPECTED_TICKS / 10;
/// Spin iterations allowed for the first tick to arrive (a period is ~10^6 guest instructions;
/// this is far more).
const SPIN_LIMIT: u64 = 200_000_000;
/// PIT periods an RTC seconds change may take before the wait gives up (1.5 s).
const SECOND_CHANGE_TICK_LIMIT: u32 = 150;
/// Ticks to wait after stopping the PIT to see that none come.
const QUIET_SPIN: u64 = 3_000_000;

/// IRQ 0 interrupts taken.
static TICKS: AtomicU32 = AtomicU32::new(0);

fn on_tick(_vector: u8) {
    TICKS.fetch_add(1, Ordering::SeqCst);
    pic::eoi(pit::IRQ);
}

fn ticks() -> u32 {
    TICKS.load(Ordering::SeqCst)
}

fn main(_boot: BootInfo) -> u32 {
    let mut checks = Checks::new();
    pic::init();
    if idt::set_handler(pic::vector(pit::IRQ), on_tick).is_err() {
        println!("FAIL: no gate for IRQ 0's vector");
        return checks.finish();
    }
    let divisor = pit::start_periodic(HZ);
    checks.equal("PIT count for 100 Hz", divisor, DIVISOR_100_HZ);
    let _ = pic::unmask(pit::IRQ);
    interrupts::enable();

    let before = ticks();
    let arrived = interrupts::spin_until(SPIN_LIMIT, || ticks() != before);
    checks.check(
        arrived,
        format_args!("IRQ 0 arrives while the guest spins without I/O"),
    );

    let measured = rtc::time_of_day(rtc::NEXT_SECOND_UIP_POLL_LIMIT)
        .and_then(|second| rtc::next_second(second, ticks, SECOND_CHANGE_TICK_LIMIT))
        .and_then(|start| {
            let first_tick = ticks();
            let mut second = start;
            for _ in 0..MEASURE_SECONDS {
                second = rtc::next_second(second, ticks, SECOND_CHANGE_TICK_LIMIT)?;
            }
            Some((
                ticks().wrapping_sub(first_tick),
                rtc::seconds_between(start, second),
            ))
        });
    match measured {
        Some((count, seconds)) => {
            println!("IRQ 0 count over {seconds} RTC seconds: {count}");
            checks.check(
                count.abs_diff(EXPECTED_TICKS) <= TOLERANCE,
                format_args!(
                    "IRQ 0 at 100 Hz over 2 RTC seconds: {count} interrupts (expected {EXPECTED_TICKS} ± {TOLERANCE})"
                ),
            );
        }
        None => {
            checks.check(
                false,
                format_args!(
                    "RTC seconds change while IRQ 0 ticks (ticks so far {})",
                    ticks()
                ),
            );
        }
    }

    interrupts::disable();
    pit::stop();
    checks.equal("PIC in-service after the handlers", pic::isr(), 0);
    // One tick may already be latched in the IRR when the PIT stopped: let it in, then none.
    interrupts::enable();
    interrupts::spin(QUIET_SPIN);
    let settled = ticks();
    interrupts::spin(QUIET_SPIN);
    interrupts::disable();
    checks.equal("IRQ 0 after the PIT stopped", ticks(), settled);
    checks.finish()
}
