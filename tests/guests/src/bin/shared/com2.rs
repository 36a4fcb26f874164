//! The host's second serial port, COM2 (ports 0x2F8–0x2FF), driven by polling as the National
//! Semiconductor PC16550D datasheet describes it ("Register Addressing", "Line Status
//! Register", "Scratchpad Register"). Shared by the device-method guests `com2_passthrough`
//! and `com2_mediated` (included with `#[path]`): the same driver code meets the real UART
//! directly (passthrough) or through the hypervisor's policy (mediated).
//!
//! Every `in`/`out` to COM2 goes through [`read`]/[`write`], which count them, so a guest can
//! compare the accesses it made with the VM exits the hypervisor counted for them.

use core::sync::atomic::{AtomicU32, Ordering};

use guests::port::{inb, outb};

/// COM2's base port.
pub const BASE: u16 = 0x2F8;
/// Transmitter holding register (write, DLAB = 0).
const THR: u16 = BASE;
/// Interrupt enable register (DLAB = 0).
const IER: u16 = BASE + 1;
/// Divisor latch low byte (DLAB = 1).
const DLL: u16 = BASE;
/// Divisor latch high byte (DLAB = 1).
const DLM: u16 = BASE + 1;
/// FIFO control register (write).
const FCR: u16 = BASE + 2;
/// Line control register.
const LCR: u16 = BASE + 3;
/// Modem control register.
const MCR: u16 = BASE + 4;
/// Line status register.
const LSR: u16 = BASE + 5;
/// Scratchpad register: eight bits of storage with no effect on the UART.
pub const SCR: u16 = BASE + 7;

/// LCR: divisor latch access bit.
const LCR_DLAB: u8 = 1 << 7;
/// LCR: 8 data bits, no parity, 1 stop bit.
pub const LCR_8N1: u8 = 0b11;
/// FCR: enable the FIFOs, clear both, receive trigger at 14 bytes.
const FCR_ENABLE_CLEAR_14: u8 = 0xC7;
/// MCR: DTR and RTS asserted (no loopback).
const MCR_DTR_RTS: u8 = 0b11;
/// IER: no interrupts (the guest polls).
const IER_NONE: u8 = 0;
/// LSR: transmitter holding register empty.
const LSR_THRE: u8 = 1 << 5;
/// LSR: transmitter empty (holding and shift registers both empty).
const LSR_TEMT: u8 = 1 << 6;
/// Divisor for 115200 baud from the 1.8432 MHz clock.
const DIVISOR_115200: u16 = 1;
/// Polls of LSR before giving up on the transmitter: a UART that never drains must not hang
/// the guest.
const POLL_LIMIT: u32 = 1_000_000;

/// COM2 accesses (`in` and `out`) made so far.
static ACCESSES: AtomicU32 = AtomicU32::new(0);

/// The number of COM2 accesses made so far.
pub fn accesses() -> u32 {
    ACCESSES.load(Ordering::Relaxed)
}

/// Reads a COM2 register (counted).
pub fn read(port: u16) -> u8 {
    ACCESSES.fetch_add(1, Ordering::Relaxed);
    inb(port)
}

/// Writes a COM2 register (counted).
pub fn write(port: u16, value: u8) {
    ACCESSES.fetch_add(1, Ordering::Relaxed);
    outb(port, value);
}

/// Programs COM2 for 115200 8N1 with FIFOs on and interrupts off.
pub fn init() {
    write(IER, IER_NONE);
    write(LCR, LCR_DLAB);
    let [low, high] = DIVISOR_115200.to_le_bytes();
    write(DLL, low);
    write(DLM, high);
    write(LCR, LCR_8N1);
    write(FCR, FCR_ENABLE_CLEAR_14);
    write(MCR, MCR_DTR_RTS);
}

/// The line control register as the UART reports it.
pub fn line_control() -> u8 {
    read(LCR)
}

/// Waits until LSR has all of `bits`; whether it did within [`POLL_LIMIT`] polls.
fn wait_for(bits: u8) -> bool {
    (0..POLL_LIMIT).any(|_| read(LSR) & bits == bits)
}

/// Sends `text` and a `\n`, each byte once the transmitter holding register is empty, then
/// waits for the transmitter to drain; whether the UART took every byte in time.
pub fn write_line(text: &str) -> bool {
    let mut all_taken = true;
    for byte in text.bytes().chain(core::iter::once(b'\n')) {
        all_taken &= wait_for(LSR_THRE);
        write(THR, byte);
    }
    all_taken & wait_for(LSR_TEMT)
}
