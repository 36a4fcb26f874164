//! Timer calibration arithmetic, pure and host-tested: the local APIC timer's input frequency
//! from a PIT-timed window, and the initial count for a periodic rate.

/// The 8254 PIT's input clock in Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Why a timer could not be set up for a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibrationError {
    /// The measuring window was empty or the timer did not move.
    NoMeasurement,
    /// The requested rate is zero or faster than the timer's input clock.
    RateOutOfRange { rate_hz: u64, timer_hz: u64 },
    /// The count for the requested rate does not fit the 32-bit initial-count register.
    CountTooLarge { count: u64 },
}

/// PIT ticks in a window of `micros` microseconds, if it fits one 16-bit countdown.
pub fn pit_ticks_for_micros(micros: u64) -> Option<u16> {
    let ticks = u128::from(micros) * u128::from(PIT_HZ) / 1_000_000;
    u16::try_from(ticks).ok().filter(|&t| t > 0)
}

/// The timer's frequency given that it counted `timer_counts` while the PIT counted
/// `pit_ticks`.
pub fn timer_hz(timer_counts: u64, pit_ticks: u64) -> Result<u64, CalibrationError> {
    if pit_ticks == 0 || timer_counts == 0 {
        return Err(CalibrationError::NoMeasurement);
    }
    let hz = u128::from(timer_counts) * u128::from(PIT_HZ) / u128::from(pit_ticks);
    u64::try_from(hz).map_err(|_| CalibrationError::NoMeasurement)
}

/// The initial count that makes a timer running at `timer_hz` fire `rate_hz` times a second
/// (rounded to nearest).
pub fn initial_count(timer_hz: u64, rate_hz: u64) -> Result<u32, CalibrationError> {
    if rate_hz == 0 || rate_hz > timer_hz {
        return Err(CalibrationError::RateOutOfRange { rate_hz, timer_hz });
    }
    let count = (timer_hz + rate_hz / 2) / rate_hz;
    u32::try_from(count).map_err(|_| CalibrationError::CountTooLarge { count })
}

/// The median of `values` (sorted in place; the upper middle for an even count, 0 for none).
pub fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// Relative deviation of `measured` from `expected` in parts per million (signed).
pub fn deviation_ppm(measured: u64, expected: u64) -> i64 {
    if expected == 0 {
        return i64::MAX;
    }
    let difference = i128::from(measured) - i128::from(expected);
    (difference * 1_000_000 / i128::from(expected)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_milliseconds_is_11931_pit_ticks() {
        assert_eq!(pit_ticks_for_micros(10_000), Some(11_931));
    }

    #[test]
    fn windows_beyond_one_countdown_are_refused() {
        assert_eq!(pit_ticks_for_micros(60_000), None);
        assert_eq!(pit_ticks_for_micros(0), None);
    }

    #[test]
    fn timer_frequency_scales_by_pit_ratio() {
        // 1,000,000 counts in 11932 PIT ticks (10 ms) is a 100 MHz timer (to PIT resolution).
        assert_eq!(timer_hz(1_000_000, 11_932).unwrap(), 99_998_491);
        assert_eq!(timer_hz(0, 11_932), Err(CalibrationError::NoMeasurement));
        assert_eq!(timer_hz(5, 0), Err(CalibrationError::NoMeasurement));
    }

    #[test]
    fn initial_count_rounds_to_nearest() {
        assert_eq!(initial_count(62_500_000, 1000), Ok(62_500));
        assert_eq!(initial_count(1_000_499, 1000), Ok(1_000));
        assert_eq!(initial_count(1_000_500, 1000), Ok(1_001));
    }

    #[test]
    fn initial_count_rejects_impossible_rates() {
        assert_eq!(
            initial_count(1000, 0),
            Err(CalibrationError::RateOutOfRange {
                rate_hz: 0,
                timer_hz: 1000
            })
        );
        assert_eq!(
            initial_count(1000, 2000),
            Err(CalibrationError::RateOutOfRange {
                rate_hz: 2000,
                timer_hz: 1000
            })
        );
        assert_eq!(
            initial_count(u64::MAX, 1),
            Err(CalibrationError::CountTooLarge { count: u64::MAX })
        );
    }

    #[test]
    fn median_ignores_one_outlier() {
        assert_eq!(median(&mut [1_000_000, 1_088_000, 999_000]), 1_000_000);
        assert_eq!(median(&mut [5]), 5);
        assert_eq!(median(&mut []), 0);
    }

    #[test]
    fn deviation_is_signed_parts_per_million() {
        assert_eq!(deviation_ppm(105, 100), 50_000);
        assert_eq!(deviation_ppm(95, 100), -50_000);
        assert_eq!(deviation_ppm(100, 100), 0);
    }
}
