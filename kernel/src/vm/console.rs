//! A VM's console: the back end of its emulated COM1 (and of its virtio consoles). Bytes the
//! guest transmits are collected into lines and printed on the hypervisor console tagged with
//! the VM's name, `[name] text`. A line the guest leaves unfinished — a shell prompt waiting
//! for input — is printed once the guest has sent nothing more for [`PARTIAL_LINE_AFTER_NS`].

use alloc::string::String;
use alloc::vec::Vec;

use devices::host_serial::sanitize;
use devices::interface::{DeviceContext, Nanos};
use devices::uart16550::UartBackend;
use devices::virtio::ConsoleSink;

/// The longest line kept; longer lines are printed in pieces.
pub const MAX_LINE: usize = 256;
/// How long an unfinished line waits for more bytes before it is printed as it is.
pub const PARTIAL_LINE_AFTER_NS: Nanos = 100_000_000;

/// Bytes into lines: complete lines at once, an unfinished one after a pause.
#[derive(Debug, Default)]
pub struct LineAssembler {
    line: Vec<u8>,
    /// When the last byte of the unfinished line came (VM time).
    last_byte_at: Option<Nanos>,
}

impl LineAssembler {
    /// Add one byte that arrived at `now`; returns a line that is complete (newline, or
    /// [`MAX_LINE`] bytes), without its terminator. Carriage returns are dropped and other
    /// control bytes (escape sequences too) replaced, so a guest cannot move the host
    /// terminal's cursor or end a console line early.
    pub fn push(&mut self, byte: u8, now: Nanos) -> Option<String> {
        match (byte, sanitize(byte)) {
            (b'\n', _) => return self.take(),
            (_, None) => {}
            (_, Some(byte)) => {
                self.line.push(byte);
                self.last_byte_at = Some(now);
                if self.line.len() >= MAX_LINE {
                    return self.take();
                }
            }
        }
        None
    }

    /// The unfinished line, if the guest has added nothing to it for
    /// [`PARTIAL_LINE_AFTER_NS`] by `now`.
    pub fn idle_line(&mut self, now: Nanos) -> Option<String> {
        let last = self.last_byte_at?;
        (now.saturating_sub(last) >= PARTIAL_LINE_AFTER_NS)
            .then(|| self.take())
            .flatten()
    }

    /// Whatever is buffered, now.
    pub fn take(&mut self) -> Option<String> {
        self.last_byte_at = None;
        if self.line.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        Some(text)
    }
}

/// Line-buffered output to the hypervisor console.
pub struct VmConsole {
    name: String,
    lines: LineAssembler,
    /// Bytes the guest has sent in all.
    pub transmitted: u64,
}

impl VmConsole {
    /// A console for the VM called `name`.
    pub fn new(name: &str) -> Self {
        VmConsole {
            name: String::from(name),
            lines: LineAssembler::default(),
            transmitted: 0,
        }
    }

    /// Print `line` tagged, in one console write: nothing else can land between the tag and
    /// the guest's text, so guest text never starts a console line.
    fn print(&self, line: Option<String>) {
        if let Some(text) = line {
            let tagged = alloc::format!("[{}] {}\n", self.name, text);
            crate::print!("{tagged}");
        }
    }

    /// Add one byte the guest sent at `now`; a newline (or a full line) prints the line.
    pub fn push(&mut self, byte: u8, now: Nanos) {
        self.transmitted = self.transmitted.saturating_add(1);
        let line = self.lines.push(byte, now);
        self.print(line);
    }

    /// Print what is buffered, if anything.
    pub fn flush(&mut self) {
        let line = self.lines.take();
        self.print(line);
    }
}

impl Drop for VmConsole {
    fn drop(&mut self) {
        self.flush();
    }
}

impl UartBackend for VmConsole {
    fn transmit(&mut self, ctx: &mut dyn DeviceContext, byte: u8) {
        self.push(byte, ctx.now());
    }

    /// No input; the UART's periodic poll is where an unfinished line gets printed.
    fn poll_receive(&mut self, ctx: &mut dyn DeviceContext) -> Option<u8> {
        let line = self.lines.idle_line(ctx.now());
        self.print(line);
        None
    }
}

impl ConsoleSink for VmConsole {
    /// Virtio console output has no clock here: lines only (and the rest at the VM's end).
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.transmitted = self.transmitted.saturating_add(1);
            let line = self.lines.push(*byte, 0);
            self.print(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_come_out_at_once_without_terminators() {
        let mut lines = LineAssembler::default();
        let out: Vec<String> = b"hi\r\nthere\n"
            .iter()
            .filter_map(|byte| lines.push(*byte, 0))
            .collect();
        assert_eq!(out, ["hi", "there"]);
        assert_eq!(lines.take(), None);
    }

    #[test]
    fn an_unfinished_line_comes_out_after_the_pause() {
        let mut lines = LineAssembler::default();
        for byte in b"~ # " {
            assert_eq!(lines.push(*byte, 1_000), None);
        }
        assert_eq!(lines.idle_line(1_000 + PARTIAL_LINE_AFTER_NS - 1), None);
        assert_eq!(
            lines.idle_line(1_000 + PARTIAL_LINE_AFTER_NS),
            Some(String::from("~ # "))
        );
        assert_eq!(lines.idle_line(u64::MAX), None, "printed once");
    }

    #[test]
    fn a_late_byte_restarts_the_pause_and_empty_input_prints_nothing() {
        let mut lines = LineAssembler::default();
        assert_eq!(lines.idle_line(u64::MAX), None);
        lines.push(b'a', 0);
        lines.push(b'b', PARTIAL_LINE_AFTER_NS - 1);
        assert_eq!(lines.idle_line(PARTIAL_LINE_AFTER_NS), None);
        assert_eq!(
            lines.idle_line(2 * PARTIAL_LINE_AFTER_NS),
            Some(String::from("ab"))
        );
    }

    #[test]
    fn control_bytes_are_replaced_and_cannot_end_a_line() {
        let mut lines = LineAssembler::default();
        let out: Vec<String> = b"a\x1b[2J\tb\x7f\n"
            .iter()
            .filter_map(|byte| lines.push(*byte, 0))
            .collect();
        assert_eq!(out, ["a.[2J\tb."]);
    }

    #[test]
    fn long_lines_are_cut_at_the_maximum() {
        let mut lines = LineAssembler::default();
        let cut: Vec<String> = core::iter::repeat_n(b'x', MAX_LINE + 3)
            .filter_map(|byte| lines.push(byte, 0))
            .collect();
        assert_eq!(cut.len(), 1);
        assert_eq!(cut[0].len(), MAX_LINE);
        assert_eq!(lines.take().map(|rest| rest.len()), Some(3));
    }
}
