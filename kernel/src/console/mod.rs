//! The hypervisor console: COM1 through `uart_16550`, mirrored on the boot framebuffer, behind
//! the `log` facade.
//!
//! Both sinks sit behind spinlocks taken with interrupts disabled. The exception and panic
//! paths use [`emergency_writer`], which breaks a lock the interrupted code may hold: by then
//! the interrupted code will never run again.

pub mod framebuffer;
pub mod logger;
pub mod serial;

use core::fmt::{self, Write};

/// Writes to every console sink; used by `print!`-style callers.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        x86_64::instructions::interrupts::without_interrupts(|| {
            serial::write_str(text);
            framebuffer::write_str(text);
        });
        Ok(())
    }
}

/// Write `line` and a newline to COM1 only, in one locked write (no other output can land
/// inside it): for machine-read output such as the disk dump.
pub fn serial_line(line: &str) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        serial::write_str_line(line);
    });
}

/// A writer for the fault and panic paths: it takes the console locks by force.
pub fn emergency_writer() -> Console {
    serial::force_unlock();
    framebuffer::force_unlock();
    Console
}

/// Print formatted text to every console sink.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::console::Console, $($arg)*);
    }};
}

/// Print formatted text and a newline to every console sink.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::console::Console, $($arg)*);
    }};
}
