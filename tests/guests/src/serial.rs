//! Console output through the 16550A UART at COM1 (0x3F8), polled: each byte waits for the
//! transmitter holding register to be empty (LSR bit 5, THRE) before it is written to THR
//! (National Semiconductor PC16550D datasheet, "Line Status Register").
//!
//! The hypervisor shows each line the guest transmits as `[<vm name>] text`, so the kit sends
//! bare `\n` line ends (no `\r`).

use core::fmt;

use crate::port::{inb, outb};

/// COM1's base port.
pub const COM1: u16 = 0x3F8;
/// Transmitter holding register (write, DLAB = 0).
const THR: u16 = COM1;
/// Interrupt enable register (DLAB = 0).
const IER: u16 = COM1 + 1;
/// Divisor latch low byte (DLAB = 1).
const DLL: u16 = COM1;
/// Divisor latch high byte (DLAB = 1).
const DLM: u16 = COM1 + 1;
/// FIFO control register (write).
const FCR: u16 = COM1 + 2;
/// Line control register.
const LCR: u16 = COM1 + 3;
/// Modem control register.
const MCR: u16 = COM1 + 4;
/// Line status register.
const LSR: u16 = COM1 + 5;

/// LCR: divisor latch access bit.
const LCR_DLAB: u8 = 1 << 7;
/// LCR: 8 data bits, 1 stop bit, no parity.
const LCR_8N1: u8 = 0b11;
/// FCR: enable the FIFOs, clear both, receive trigger at 14 bytes.
const FCR_ENABLE_CLEAR_14: u8 = 0xC7;
/// MCR: DTR and RTS asserted (no loopback).
const MCR_DTR_RTS: u8 = 0b11;
/// LSR: transmitter holding register empty.
pub const LSR_THRE: u8 = 1 << 5;
/// Divisor for 115200 baud from the 1.8432 MHz clock.
const DIVISOR_115200: u16 = 1;
/// Polls of LSR before a byte is written anyway: a broken UART model must not hang the guest.
const THRE_POLL_LIMIT: u32 = 1_000_000;

/// Programs COM1 for 115200 8N1 with FIFOs on and interrupts off.
pub fn init() {
    outb(IER, 0);
    outb(LCR, LCR_DLAB);
    let [low, high] = DIVISOR_115200.to_le_bytes();
    outb(DLL, low);
    outb(DLM, high);
    outb(LCR, LCR_8N1);
    outb(FCR, FCR_ENABLE_CLEAR_14);
    outb(MCR, MCR_DTR_RTS);
}

/// Sends one byte once the transmitter can take it.
pub fn write_byte(byte: u8) {
    for _ in 0..THRE_POLL_LIMIT {
        if inb(LSR) & LSR_THRE != 0 {
            break;
        }
    }
    outb(THR, byte);
}

/// Sends every byte of `bytes`.
pub fn write_bytes(bytes: &[u8]) {
    bytes.iter().copied().for_each(write_byte);
}

/// The console as a [`fmt::Write`] sink (zero-sized: the UART is the state).
#[derive(Debug, Clone, Copy, Default)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_bytes(text.as_bytes());
        Ok(())
    }
}

/// Formats to the console; used by [`print!`](crate::print) and [`println!`](crate::println).
#[doc(hidden)]
pub fn print_fmt(args: fmt::Arguments<'_>) {
    // Console::write_str never fails; a formatting error (a broken Display impl) only loses
    // the rest of the line.
    let _ = fmt::Write::write_fmt(&mut Console, args);
}

/// Prints to the guest's console (COM1).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::serial::print_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the guest's console (COM1).
#[macro_export]
macro_rules! println {
    () => { $crate::serial::write_byte(b'\n') };
    ($($arg:tt)*) => {{
        $crate::serial::print_fmt(format_args!($($arg)*));
        $crate::serial::write_byte(b'\n');
    }};
}
