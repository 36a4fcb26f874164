//! The PIT's input clock: 1.193182 MHz (the PC's 14.31818 MHz crystal divided by 12), and
//! exact integer conversion between the context's nanoseconds and clock ticks.

use crate::interface::Nanos;

/// Input clock periods since the VM was created.
pub type Ticks = u64;

/// The 8254's input clock on a PC, in Hz.
pub const PIT_HZ: u64 = 1_193_182;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Whole clock ticks elapsed at `now` (rounded down). Exact: computed in `u128`, and the result
/// (at most 2^64 × 1.2e-3) fits a `u64`.
pub fn ticks_at(now: Nanos) -> Ticks {
    (u128::from(now) * u128::from(PIT_HZ) / u128::from(NANOS_PER_SECOND)) as Ticks
}

/// Nanoseconds that hold at least `ticks` clock ticks (rounded up), saturating.
pub fn nanos_for(ticks: Ticks) -> Nanos {
    let nanos = (u128::from(ticks) * u128::from(NANOS_PER_SECOND)).div_ceil(u128::from(PIT_HZ));
    Nanos::try_from(nanos).unwrap_or(Nanos::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pit_clock_counts_1193182_ticks_per_second() {
        assert_eq!(ticks_at(NANOS_PER_SECOND), PIT_HZ);
        assert_eq!(ticks_at(838), 0);
        assert_eq!(ticks_at(839), 1);
        assert_eq!(ticks_at(Nanos::MAX), 22_010_322_987_356_910);
    }

    #[test]
    fn pit_clock_nanos_round_up_to_cover_the_ticks() {
        assert_eq!(nanos_for(1), 839);
        assert_eq!(nanos_for(PIT_HZ), NANOS_PER_SECOND);
        for ticks in [1, 2, 3, 1193, 11932, 65536] {
            assert!(ticks_at(nanos_for(ticks)) >= ticks);
            assert!(ticks_at(nanos_for(ticks) - 1) < ticks);
        }
    }
}
