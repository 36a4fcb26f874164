//! The host's MC146818 real-time clock, read once at boot to give each VM's emulated RTC the
//! current wall-clock time (Motorola MC146818A datasheet: registers 0x00–0x09, UIP in A,
//! DM and 24/12 in B).

use devices::rtc_cmos::calendar::{days_from_civil, from_bcd};
use x86_64::instructions::port::Port;

const INDEX_PORT: u16 = 0x70;
const DATA_PORT: u16 = 0x71;
/// Index bit 7: keep NMIs masked while we use the port.
const NMI_DISABLE: u8 = 0x80;
const SECONDS: u8 = 0x00;
const MINUTES: u8 = 0x02;
const HOURS: u8 = 0x04;
const DAY: u8 = 0x07;
const MONTH: u8 = 0x08;
const YEAR: u8 = 0x09;
const STATUS_A: u8 = 0x0a;
const STATUS_B: u8 = 0x0b;
/// Register A bit 7: update in progress.
const UIP: u8 = 0x80;
/// Register B bit 2: binary (not BCD) data mode.
const BINARY: u8 = 0x04;
/// Register B bit 1: 24-hour mode.
const TWENTY_FOUR_HOUR: u8 = 0x02;
/// Hours bit 7 in 12-hour mode: PM.
const PM: u8 = 0x80;
/// Polls of UIP before reading anyway.
const UIP_POLLS: u32 = 100_000;

fn read_register(index: u8) -> u8 {
    // SAFETY: the CMOS index/data ports are fixed on PCs; the hypervisor owns them and reads
    // only, with NMIs masked as the datasheet's access protocol suggests.
    unsafe {
        Port::<u8>::new(INDEX_PORT).write(NMI_DISABLE | index);
        Port::<u8>::new(DATA_PORT).read()
    }
}

/// Seconds since 1970-01-01 00:00:00 as the host RTC reads now (its local time), assuming the
/// 21st century as PC firmware does.
pub fn epoch_seconds() -> u64 {
    for _ in 0..UIP_POLLS {
        if read_register(STATUS_A) & UIP == 0 {
            break;
        }
    }
    let mode = read_register(STATUS_B);
    let decode = |value: u8| {
        if mode & BINARY != 0 {
            value
        } else {
            from_bcd(value)
        }
    };
    let raw_hours = read_register(HOURS);
    let mut hours = decode(raw_hours & !PM);
    if mode & TWENTY_FOUR_HOUR == 0 {
        hours %= 12;
        if raw_hours & PM != 0 {
            hours += 12;
        }
    }
    let year = 2000 + i64::from(decode(read_register(YEAR)));
    let days = days_from_civil(
        year,
        decode(read_register(MONTH)),
        decode(read_register(DAY)),
    );
    let seconds = days * 86_400
        + i64::from(hours) * 3600
        + i64::from(decode(read_register(MINUTES))) * 60
        + i64::from(decode(read_register(SECONDS)));
    u64::try_from(seconds).unwrap_or(0)
}
