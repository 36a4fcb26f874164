//! Counter 0 of the 8254 PIT as the interrupt guests use it (Intel 82C54 datasheet, order
//! 231244): its OUT drives IRQ 0. Mode 2 (rate generator) gives one rising edge per period,
//! mode 0 (interrupt on terminal count) one edge when the count runs out.

use crate::port::{inb, outb};

/// The counters' input clock (the PC's 14.31818 MHz / 12).
pub const INPUT_HZ: u32 = 1_193_182;
/// Counter 0's data port.
pub const COUNTER0: u16 = 0x40;
/// The control word port.
pub const CONTROL: u16 = 0x43;
/// The line counter 0 drives.
pub const IRQ: u8 = 0;

/// Control word: select counter 0 (SC = 00).
const SELECT_COUNTER0: u8 = 0b00 << 6;
/// Control word: access LSB then MSB (RW = 11).
const ACCESS_LOHI: u8 = 0b11 << 4;
/// Control word: counter latch command (RW = 00).
const ACCESS_LATCH: u8 = 0b00 << 4;
/// Control word: read-back command (SC = 11).
const READ_BACK: u8 = 0b11 << 6;
/// Read-back: do not latch the count (bit 5 set), latch the status (bit 4 clear).
const READ_BACK_STATUS_ONLY: u8 = 1 << 5;
/// Read-back: counter 0 (bit 1).
const READ_BACK_COUNTER0: u8 = 1 << 1;
/// Status byte: the OUT pin (bit 7).
const STATUS_OUT: u8 = 1 << 7;
/// Mode 0: interrupt on terminal count.
const MODE0: u8 = 0 << 1;
/// Mode 2: rate generator.
const MODE2: u8 = 2 << 1;

/// The count that makes counter 0 run at `hz` (rounded to the nearest count, at least 1; 0
/// Hz or less than 19 Hz gives 0, which the chip reads as 65536).
pub const fn divisor_for(hz: u32) -> u16 {
    if hz == 0 {
        return 0;
    }
    let count = (INPUT_HZ + hz / 2) / hz;
    if count > u16::MAX as u32 {
        0
    } else if count == 0 {
        1
    } else {
        count as u16
    }
}

/// Writes a control word for counter 0 and then `count` LSB, MSB.
fn program(mode: u8, count: u16) {
    let [low, high] = count.to_le_bytes();
    outb(CONTROL, SELECT_COUNTER0 | ACCESS_LOHI | mode);
    outb(COUNTER0, low);
    outb(COUNTER0, high);
}

/// Counter 0 as a rate generator at about `hz` (mode 2): one IRQ 0 edge per period. Returns
/// the count programmed.
pub fn start_periodic(hz: u32) -> u16 {
    let count = divisor_for(hz);
    program(MODE2, count);
    count
}

/// Counter 0 as a one-shot (mode 0): OUT rises, giving one IRQ 0 edge, after `count` input
/// clocks.
pub fn start_one_shot(count: u16) {
    program(MODE0, count);
}

/// Stops counter 0's edges: a mode-0 control word without a count leaves OUT low and the
/// counter waiting for a count that never comes.
pub fn stop() {
    outb(CONTROL, SELECT_COUNTER0 | ACCESS_LOHI | MODE0);
}

/// Counter 0's current count (counter latch command, then LSB, MSB).
pub fn read_count() -> u16 {
    outb(CONTROL, SELECT_COUNTER0 | ACCESS_LATCH);
    let low = inb(COUNTER0);
    let high = inb(COUNTER0);
    u16::from_le_bytes([low, high])
}

/// Counter 0's OUT pin, from a read-back status (in mode 0: high once the count ran out).
pub fn out_high() -> bool {
    outb(
        CONTROL,
        READ_BACK | READ_BACK_STATUS_ONLY | READ_BACK_COUNTER0,
    );
    inb(COUNTER0) & STATUS_OUT != 0
}
