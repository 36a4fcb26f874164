//! Civil-calendar arithmetic for the RTC: proleptic Gregorian dates from a day count and back
//! (Howard Hinnant's `civil_from_days`/`days_from_civil`, exact for every `i64` day count the
//! RTC can reach), and the MC146818's BCD and 12-hour encodings.

/// Seconds in a day.
pub const SECONDS_PER_DAY: i64 = 86_400;
/// 1970-01-01 was a Thursday; the RTC numbers weekdays 1 (Sunday) to 7.
const THURSDAY: i64 = 5;
const DAYS_PER_ERA: i64 = 146_097;
const YEARS_PER_ERA: i64 = 400;

/// A calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–59.
    pub second: u8,
    /// 1 (Sunday) – 7 (Saturday), as RTC register 6 counts.
    pub weekday: u8,
}

/// Days since 1970-01-01 of a proleptic Gregorian date. `month` must be 1–12; `day` may run
/// past the month's end (it then counts into the following days).
pub fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let month = i64::from(month.clamp(1, 12));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(YEARS_PER_ERA);
    let year_of_era = year.rem_euclid(YEARS_PER_ERA);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01, as (year, month 1–12, day 1–31).
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(DAYS_PER_ERA);
    let day_of_era = shifted.rem_euclid(DAYS_PER_ERA);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u8;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u8;
    let year = year_of_era + era * YEARS_PER_ERA + i64::from(month <= 2);
    (year, month, day)
}

impl DateTime {
    /// The date and time `seconds` after 1970-01-01 00:00:00.
    pub fn from_seconds(seconds: i64) -> DateTime {
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: (of_day / 3600) as u8,
            minute: (of_day / 60 % 60) as u8,
            second: (of_day % 60) as u8,
            weekday: ((days + THURSDAY - 1).rem_euclid(7) + 1) as u8,
        }
    }

    /// Seconds since 1970-01-01 00:00:00 (the weekday is ignored).
    pub fn to_seconds(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * SECONDS_PER_DAY
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }
}

/// A value below 100 as two BCD digits.
pub fn to_bcd(value: u8) -> u8 {
    let value = value % 100;
    ((value / 10) << 4) | (value % 10)
}

/// Two BCD digits as a number; a nibble above 9 counts as 9 (lenient, for restarting the clock
/// from whatever the guest wrote; [`from_bcd_strict`] is the strict form).
pub fn from_bcd(byte: u8) -> u8 {
    (byte >> 4).min(9) * 10 + (byte & 0x0F).min(9)
}

/// Two BCD digits as a number, or `None` if a nibble is above 9.
pub fn from_bcd_strict(byte: u8) -> Option<u8> {
    let (high, low) = (byte >> 4, byte & 0x0F);
    (high <= 9 && low <= 9).then_some(high * 10 + low)
}

/// Register B's data mode: BCD or binary.
pub fn encode(value: u8, binary: bool) -> u8 {
    if binary { value } else { to_bcd(value) }
}

/// Register value to number in the given data mode (BCD leniently).
pub fn decode(byte: u8, binary: bool) -> u8 {
    if binary { byte } else { from_bcd(byte) }
}

/// The hours register's PM flag in 12-hour mode.
pub const PM: u8 = 0x80;

/// Hour 0–23 as the hours register holds it (12-hour mode: 1–12 with [`PM`]).
pub fn encode_hour(hour: u8, binary: bool, twenty_four: bool) -> u8 {
    if twenty_four {
        return encode(hour, binary);
    }
    let twelve = match hour % 12 {
        0 => 12,
        other => other,
    };
    let pm = if hour >= 12 { PM } else { 0 };
    encode(twelve, binary) | pm
}

/// The hours register as hour 0–23, or `None` if it names no hour.
pub fn decode_hour(byte: u8, binary: bool, twenty_four: bool) -> Option<u8> {
    let strict = |value: u8| {
        if binary {
            Some(value)
        } else {
            from_bcd_strict(value)
        }
    };
    if twenty_four {
        return strict(byte).filter(|hour| *hour < 24);
    }
    let twelve = strict(byte & !PM).filter(|hour| (1..=12).contains(hour))?;
    Some(twelve % 12 + if byte & PM != 0 { 12 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtc_calendar_epoch_is_thursday_first_of_january_1970() {
        let epoch = DateTime::from_seconds(0);
        assert_eq!(
            (epoch.year, epoch.month, epoch.day, epoch.weekday),
            (1970, 1, 1, 5)
        );
    }

    #[test]
    fn rtc_calendar_known_dates_round_trip() {
        // 2000-02-29 (a leap day of a century leap year), 2024-12-31 23:59:59, 2100-03-01.
        for (seconds, date) in [
            (951_782_400, (2000, 2, 29, 0, 0, 0, 3)),
            (1_735_689_599, (2024, 12, 31, 23, 59, 59, 3)),
            (4_107_542_400, (2100, 3, 1, 0, 0, 0, 2)),
            (-1, (1969, 12, 31, 23, 59, 59, 4)),
        ] {
            let dt = DateTime::from_seconds(seconds);
            assert_eq!(
                (
                    dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.weekday
                ),
                date
            );
            assert_eq!(dt.to_seconds(), seconds);
        }
    }

    #[test]
    fn rtc_calendar_every_day_of_four_centuries_round_trips() {
        let start = days_from_civil(1900, 1, 1);
        let mut previous = civil_from_days(start - 1);
        for days in start..start + DAYS_PER_ERA {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
            // Consecutive days: next day of month, or the first of the next month.
            assert!(day == previous.2 + 1 || (day == 1 && (month == previous.1 % 12 + 1)));
            previous = (year, month, day);
        }
    }

    #[test]
    fn rtc_calendar_1900_is_not_a_leap_year_but_2000_is() {
        assert_eq!(civil_from_days(days_from_civil(1900, 2, 29)), (1900, 3, 1));
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }

    #[test]
    fn rtc_bcd_and_twelve_hour_encoding() {
        assert_eq!(to_bcd(59), 0x59);
        assert_eq!(from_bcd(0x59), 59);
        assert_eq!(from_bcd_strict(0x5A), None);
        assert_eq!(encode_hour(0, false, false), 0x12);
        assert_eq!(encode_hour(12, false, false), PM | 0x12);
        assert_eq!(encode_hour(23, true, false), PM | 11);
        assert_eq!(encode_hour(23, false, true), 0x23);
        assert_eq!(decode_hour(PM | 0x12, false, false), Some(12));
        assert_eq!(decode_hour(0x12, false, false), Some(0));
        assert_eq!(decode_hour(0x24, false, true), None);
        assert_eq!(decode_hour(0x00, false, false), None);
    }
}
