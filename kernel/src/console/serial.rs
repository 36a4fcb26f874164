//! COM1 at 115200 baud, 8-N-1, through the `uart_16550` driver.
//!
//! Machines booted from USB often have no serial port: when the UART is absent the sink is
//! silently off and the framebuffer console carries the output alone.

use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::{BaudRate, Config, Uart16550};

/// The legacy I/O base of COM1.
pub const COM1_BASE: u16 = 0x3f8;

static COM1: Mutex<Option<Uart16550<PioBackend>>> = Mutex::new(None);

/// Probe and program COM1. Returns whether a UART answered.
pub fn init() -> bool {
    // SAFETY: 0x3F8–0x3FF are COM1's registers on every PC; nothing else in the hypervisor
    // drives them, and the driver is stored behind the lock below.
    let Ok(mut uart) = (unsafe { Uart16550::new_port(COM1_BASE) }) else {
        return false;
    };
    let config = Config {
        baud_rate: BaudRate::Baud115200,
        ..Config::DEFAULT
    };
    if uart.init(config).is_err() {
        return false;
    }
    *COM1.lock() = Some(uart);
    true
}

/// Write text, turning `\n` into `\r\n` for terminals.
pub fn write_str(text: &str) {
    let mut guard = COM1.lock();
    let Some(uart) = guard.as_mut() else { return };
    for line in text.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(body) => {
                uart.send_bytes_exact(body.as_bytes());
                uart.send_bytes_exact(b"\r\n");
            }
            None => uart.send_bytes_exact(line.as_bytes()),
        }
    }
}

/// Write `text` and a line end in one locked run.
pub fn write_str_line(text: &str) {
    let mut guard = COM1.lock();
    let Some(uart) = guard.as_mut() else { return };
    uart.send_bytes_exact(text.as_bytes());
    uart.send_bytes_exact(b"\r\n");
}

/// Write raw bytes (no newline translation) in one locked run, so a whole line from a VM's
/// host-backed UART is never split by other console output.
pub fn write_bytes(bytes: &[u8]) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(uart) = COM1.lock().as_mut() {
            for &byte in bytes {
                if byte == b'\n' {
                    uart.send_bytes_exact(b"\r\n");
                } else {
                    uart.send_bytes_exact(&[byte]);
                }
            }
        }
    });
}

/// A byte COM1 has received, if any.
pub fn try_read_byte() -> Option<u8> {
    x86_64::instructions::interrupts::without_interrupts(|| {
        COM1.lock().as_mut()?.try_receive_byte().ok()
    })
}

/// COM1's line status register (base + 5).
const LINE_STATUS: u16 = COM1_BASE + 5;
/// LSR bit 6: transmitter empty (holding register and shift register both idle).
const LSR_TRANSMITTER_EMPTY: u8 = 1 << 6;
/// Polls before giving up on a UART that never drains (absent or broken).
const DRAIN_POLLS: u32 = 1_000_000;

/// Wait until everything written has left the UART (bounded: a missing UART reads 0xFF).
pub fn drain() {
    if COM1.lock().is_none() {
        return;
    }
    let mut status = x86_64::instructions::port::Port::<u8>::new(LINE_STATUS);
    for _ in 0..DRAIN_POLLS {
        // SAFETY: reading COM1's line status register has no side effect on transmission.
        if unsafe { status.read() } & LSR_TRANSMITTER_EMPTY != 0 {
            return;
        }
        core::hint::spin_loop();
    }
}

/// Break the lock for the fault path (see the module docs of `console`).
pub fn force_unlock() {
    if COM1.is_locked() {
        // SAFETY: only called on the fault/panic path, where the holder was interrupted and
        // will not resume; the UART has no state a half-written byte could corrupt.
        unsafe { COM1.force_unlock() };
    }
}
