//! The periodic APIC tick against the PIT: over a PIT-timed window of at least 100 ms the
//! tick count must be within ±5 % of the configured rate (measured over 500 ms).

use super::{Context, fail};
use crate::arch::x86_64::calibration::deviation_ppm;
use crate::arch::x86_64::{lapic, pit};
use crate::exit::ExitStatus;

const WINDOW_MICROS: u64 = 500_000;
const TOLERANCE_PPM: i64 = 50_000;

pub fn rate_matches_pit(context: &Context<'_>) -> ExitStatus {
    let rate = context.options.timer_hz;
    let before = lapic::ticks();
    pit::wait_micros(WINDOW_MICROS);
    let counted = lapic::ticks() - before;
    let expected = rate * WINDOW_MICROS / 1_000_000;
    let deviation = deviation_ppm(counted, expected);
    log::info!(
        "APIC timer: {counted} ticks in {} ms at {rate} Hz (expected {expected}, deviation {:+}.{:01} %)",
        WINDOW_MICROS / 1000,
        deviation / 10_000,
        (deviation.abs() / 1000) % 10
    );
    if deviation.abs() > TOLERANCE_PPM {
        return fail(format_args!("tick rate off by more than 5 %"));
    }
    ExitStatus::Success
}
