//! The MC146818 RTC as the interrupt guests use it (Motorola MC146818A datasheet): the time
//! registers as a clock to bound waits with, and the update-ended and periodic interrupts on
//! IRQ 8.
//!
//! Every register access is an index write to 0x70 and a data access at 0x71. A handler that
//! reads register C in between would make the main program read the wrong register, so each
//! pair runs with interrupts off ([`crate::interrupts::without`]).

use crate::interrupts;
use crate::port::{inb, outb};

/// Index port (bit 7 masks NMI).
pub const INDEX: u16 = 0x70;
/// Data port.
pub const DATA: u16 = 0x71;
/// The RTC's line (on the slave PIC).
pub const IRQ: u8 = 8;

/// Seconds register.
pub const SECONDS: u8 = 0x00;
/// Minutes register.
pub const MINUTES: u8 = 0x02;
/// Hours register.
pub const HOURS: u8 = 0x04;
/// Status register A: UIP, divider, rate select.
pub const STATUS_A: u8 = 0x0A;
/// Status register B: SET, PIE, AIE, UIE, SQWE, DM, 24/12, DSE.
pub const STATUS_B: u8 = 0x0B;
/// Status register C: IRQF, PF, AF, UF (reading clears them and withdraws IRQ 8).
pub const STATUS_C: u8 = 0x0C;

/// Register A: update in progress (the time registers are about to change).
pub const A_UIP: u8 = 0x80;
/// Register A: the rate-select field.
pub const A_RATE_MASK: u8 = 0x0F;
/// Register B: periodic interrupt enable.
pub const B_PIE: u8 = 0x40;
/// Register B: update-ended interrupt enable.
pub const B_UIE: u8 = 0x10;
/// Register B: binary (not BCD) data mode.
pub const B_BINARY: u8 = 0x04;
/// Register B: 24-hour mode.
pub const B_24_HOUR: u8 = 0x02;
/// Register C: an enabled flag is set (IRQ 8 asserted).
pub const C_IRQF: u8 = 0x80;
/// Register C: periodic flag.
pub const C_PF: u8 = 0x40;
/// Register C: update-ended flag.
pub const C_UF: u8 = 0x10;
/// 12-hour mode: the PM bit of the hours register.
const HOURS_PM: u8 = 0x80;

/// Reads register `index`.
pub fn read(index: u8) -> u8 {
    interrupts::without(|| {
        outb(INDEX, index);
        inb(DATA)
    })
}

/// Writes `value` to register `index`.
pub fn write(index: u8, value: u8) {
    interrupts::without(|| {
        outb(INDEX, index);
        outb(DATA, value);
    });
}

/// Sets the `set` bits and clears the `clear` bits of register B.
pub fn update_b(set: u8, clear: u8) {
    interrupts::without(|| write(STATUS_B, (read(STATUS_B) | set) & !clear));
}

/// Reads (and so clears) register C: the flags that were set.
pub fn acknowledge() -> u8 {
    read(STATUS_C)
}

/// Decodes a time register in the data mode register B selects.
fn decode(raw: u8, b: u8) -> u32 {
    if b & B_BINARY != 0 {
        u32::from(raw)
    } else {
        u32::from(raw >> 4) * 10 + u32::from(raw & 0x0F)
    }
}

/// The time registers as seconds since midnight (one read of each).
fn snapshot() -> u32 {
    interrupts::without(|| {
        let b = read(STATUS_B);
        let seconds = decode(read(SECONDS), b);
        let minutes = decode(read(MINUTES), b);
        let raw_hours = read(HOURS);
        let mut hours = decode(raw_hours & !HOURS_PM, b);
        if b & B_24_HOUR == 0 {
            // 12-hour mode: 12 AM is 0 h, 12 PM is 12 h.
            hours %= 12;
            if raw_hours & HOURS_PM != 0 {
                hours += 12;
            }
        }
        hours * 3600 + minutes * 60 + seconds
    })
}

/// Seconds since midnight: read while no update is in progress, twice, until both reads
/// agree (an update between them would tear the value). `None` after `poll_limit` tries
/// (only a broken RTC keeps UIP set or the registers moving).
pub fn time_of_day(poll_limit: u32) -> Option<u32> {
    for _ in 0..poll_limit {
        if read(STATUS_A) & A_UIP != 0 {
            continue;
        }
        let first = snapshot();
        if snapshot() == first {
            return Some(first);
        }
    }
    None
}

/// Seconds from `earlier` to `later` (times of day), across midnight.
pub const fn seconds_between(earlier: u32, later: u32) -> u32 {
    const DAY: u32 = 24 * 3600;
    (later + DAY - earlier) % DAY
}

/// RTC polls [`next_second`] makes before it gives up even without ticks (a dead timer must not
/// hang the guest).
pub const NEXT_SECOND_POLL_LIMIT: u32 = 2_000_000;
/// UIP polls per RTC read in [`next_second`].
pub const NEXT_SECOND_UIP_POLL_LIMIT: u32 = 10_000;
/// Spin iterations between RTC polls in [`next_second`] (the guest runs exit-free most of the
/// time).
pub const NEXT_SECOND_SPIN: u64 = 2_000;

/// Waits for the time of day to differ from `from`; `None` if it did not within `tick_limit`
/// of the guest's own timer ticks (`ticks` counts them) or [`NEXT_SECOND_POLL_LIMIT`] polls.
pub fn next_second(from: u32, ticks: impl Fn() -> u32, tick_limit: u32) -> Option<u32> {
    let start = ticks();
    for _ in 0..NEXT_SECOND_POLL_LIMIT {
        let now = time_of_day(NEXT_SECOND_UIP_POLL_LIMIT)?;
        if now != from {
            return Some(now);
        }
        if ticks().wrapping_sub(start) > tick_limit {
            return None;
        }
        crate::interrupts::spin(NEXT_SECOND_SPIN);
    }
    None
}
