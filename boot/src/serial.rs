//! The guest's COM1 output as the host sees it: a byte stream cleaned into text lines, kept in a
//! bounded buffer, and scanned for the exit line of the protocol in [`crate::exit`].
//!
//! Cleaning removes what firmware and emulators add around the kernel's own text: NUL bytes (the
//! Bochs COM1 file starts with one), carriage returns, and ANSI/VT100 escape sequences (OVMF
//! clears the screen and sets colours on its serial console; ECMA-48 §5.4 gives their shape:
//! `ESC [` parameters/intermediates, then one final byte 0x40..=0x7E). A C0 control byte
//! (below 0x20: newline, carriage return, ESC, ...) ends any sequence and is then taken as
//! itself, so a guest cannot hide a newline inside an unfinished sequence.
//!
//! Every line also goes through a [`DumpCollector`]: the per-sector lines of a disk dump
//! ([`crate::disk_writeback`]) are collected there and neither shown while streaming nor kept
//! among the lines (a dump can be far larger than the log); its begin and end lines are. To
//! decide that before a line is shown, a line that starts like [`DISK_LINE_PREFIX`] is held back
//! until its end.

use std::collections::VecDeque;

use crate::disk_writeback::{
    DISK_LINE_PREFIX, DiskDump, DumpCollector, DumpError, LineKind, WriteBackTarget,
};
use crate::exit::parse_exit_line;

/// ASCII escape, which starts a control sequence.
const ESC: u8 = 0x1b;
/// `[` after ESC: Control Sequence Introducer (ECMA-48 §5.4).
const CSI_INTRODUCER: u8 = b'[';
/// Final bytes of a control sequence lie in 0x40..=0x7E (ECMA-48 §5.4).
const CSI_FINAL: std::ops::RangeInclusive<u8> = 0x40..=0x7e;
/// C0 control bytes are 0x00..0x20 (ECMA-48 §5.2); any of them ends an escape sequence.
const C0_END: u8 = 0x20;
/// Longest control sequence accepted before giving up on it (a guard against a stray ESC).
const CSI_MAX_LEN: usize = 32;
/// At most this many bytes of one line are kept; the rest of an overlong line is dropped.
pub const MAX_LINE_BYTES: usize = 4096;
/// At most this many bytes of complete lines are kept; older lines are dropped first.
pub const MAX_CAPTURE_BYTES: usize = 16 * 1024 * 1024;

/// Where the cleaner is inside an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EscapeState {
    /// Plain text.
    Text,
    /// Just saw ESC.
    Escape,
    /// Inside `ESC [ ...`, having consumed this many parameter bytes.
    Csi(usize),
}

/// Whether the line being read is shown as it comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineEcho {
    /// So far a prefix of [`DISK_LINE_PREFIX`]: held back.
    Undecided,
    /// A disk dump line: held back to its end.
    Held,
    /// Anything else: shown as it comes.
    Shown,
}

/// Turns raw serial bytes into clean text lines and keeps the newest of them.
#[derive(Debug)]
pub struct SerialLog {
    state: EscapeState,
    partial: Vec<u8>,
    echo: LineEcho,
    held: Vec<u8>,
    lines: VecDeque<String>,
    kept_bytes: usize,
    dropped_lines: usize,
    exit_status: Option<u32>,
    dumps: DumpCollector,
}

impl Default for SerialLog {
    fn default() -> Self {
        Self::new()
    }
}

impl SerialLog {
    /// An empty log that takes no disk dumps (every dump is refused, see
    /// [`SerialLog::with_write_back`]).
    pub fn new() -> Self {
        Self::with_write_back(&[])
    }

    /// An empty log that collects the disk dumps of `targets` (the dumps of other disks are
    /// refused at their begin line, their sectors not kept).
    pub fn with_write_back(targets: &[WriteBackTarget]) -> Self {
        Self {
            state: EscapeState::Text,
            partial: Vec::new(),
            echo: LineEcho::Undecided,
            held: Vec::new(),
            lines: VecDeque::new(),
            kept_bytes: 0,
            dropped_lines: 0,
            exit_status: None,
            dumps: DumpCollector::new(targets),
        }
    }

    /// Feeds raw bytes; returns the cleaned text that became visible (for streaming), including
    /// newlines; disk dump sector lines never become visible. Control sequences split across
    /// calls are handled.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        let mut visible = Vec::with_capacity(bytes.len());
        for &byte in bytes {
            self.state = match self.state {
                EscapeState::Text => self.text_byte(byte, &mut visible),
                // A C0 control byte ends any escape sequence and counts as itself, so a guest
                // line ending in a bare `ESC [` cannot swallow the newline (and with it merge
                // into the kernel's next line, such as the exit line).
                EscapeState::Escape | EscapeState::Csi(_) if byte < C0_END => {
                    self.text_byte(byte, &mut visible)
                }
                // Two-byte escapes (ESC c, ESC 7, ...) end right here.
                EscapeState::Escape if byte == CSI_INTRODUCER => EscapeState::Csi(0),
                EscapeState::Escape => EscapeState::Text,
                EscapeState::Csi(_) if CSI_FINAL.contains(&byte) => EscapeState::Text,
                EscapeState::Csi(len) if len >= CSI_MAX_LEN => EscapeState::Text,
                EscapeState::Csi(len) => EscapeState::Csi(len.saturating_add(1)),
            };
        }
        String::from_utf8_lossy(&visible).into_owned()
    }

    /// Takes `byte` as text: ESC starts a sequence, `\n` ends the line, NUL and `\r` are
    /// dropped, anything else joins the line. The state that follows.
    fn text_byte(&mut self, byte: u8, visible: &mut Vec<u8>) -> EscapeState {
        match byte {
            ESC => EscapeState::Escape,
            b'\n' => {
                let held = std::mem::take(&mut self.held);
                self.echo = LineEcho::Undecided;
                if self.finish_line() != LineKind::Sector {
                    visible.extend_from_slice(&held);
                    visible.push(b'\n');
                }
                EscapeState::Text
            }
            0 | b'\r' => EscapeState::Text,
            _ => {
                if self.partial.len() < MAX_LINE_BYTES {
                    self.partial.push(byte);
                }
                self.echo_byte(byte, visible);
                EscapeState::Text
            }
        }
    }

    /// Shows `byte` of the current line (already in `partial`), or holds it back while the line
    /// may be a disk dump line.
    fn echo_byte(&mut self, byte: u8, visible: &mut Vec<u8>) {
        let prefix = DISK_LINE_PREFIX.as_bytes();
        if self.echo == LineEcho::Undecided {
            self.echo = if self.partial.starts_with(prefix) {
                LineEcho::Held
            } else if prefix.starts_with(&self.partial) {
                LineEcho::Undecided
            } else {
                visible.append(&mut self.held);
                LineEcho::Shown
            };
        }
        match self.echo {
            LineEcho::Shown => visible.push(byte),
            LineEcho::Undecided | LineEcho::Held => {
                if self.held.len() < MAX_LINE_BYTES {
                    self.held.push(byte);
                }
            }
        }
    }

    /// Ends the stream: an unterminated last line counts as a line.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            self.finish_line();
        }
        self.held.clear();
        self.echo = LineEcho::Undecided;
        self.state = EscapeState::Text;
    }

    /// The disk dumps seen so far, complete or not (see [`DumpCollector::finish`]); call after
    /// [`SerialLog::finish`].
    pub fn take_disk_dumps(&mut self) -> Vec<Result<DiskDump, DumpError>> {
        self.dumps.finish()
    }

    /// The status of the last exit line seen, if any.
    pub fn exit_status(&self) -> Option<u32> {
        self.exit_status
    }

    /// All kept lines joined with `\n` (each line ends with one).
    pub fn text(&self) -> String {
        let mut text = String::with_capacity(self.kept_bytes);
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// The last `count` kept lines, oldest first.
    pub fn tail(&self, count: usize) -> Vec<&str> {
        let skip = self.lines.len().saturating_sub(count);
        self.lines.iter().skip(skip).map(String::as_str).collect()
    }

    /// How many old lines were dropped to respect [`MAX_CAPTURE_BYTES`].
    pub fn dropped_lines(&self) -> usize {
        self.dropped_lines
    }

    /// Takes the finished line: a disk dump's sector line goes to the dump collector only,
    /// anything else is kept.
    fn finish_line(&mut self) -> LineKind {
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        let kind = self.dumps.line(&line);
        if kind == LineKind::Sector {
            return kind;
        }
        if let Some(status) = parse_exit_line(&line) {
            self.exit_status = Some(status);
        }
        self.kept_bytes = self.kept_bytes.saturating_add(line.len() + 1);
        self.lines.push_back(line);
        while self.kept_bytes > MAX_CAPTURE_BYTES {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.kept_bytes = self.kept_bytes.saturating_sub(old.len() + 1);
            self.dropped_lines = self.dropped_lines.saturating_add(1);
        }
        kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_carriage_returns_are_dropped() {
        let mut log = SerialLog::new();
        let visible = log.push(b"\0hello\r\nworld\r\n");
        assert_eq!(visible, "hello\nworld\n");
        assert_eq!(log.text(), "hello\nworld\n");
    }

    #[test]
    fn ovmf_escape_sequences_are_stripped() {
        let mut log = SerialLog::new();
        log.push(b"\x1b[2J\x1b[01;01H\x1b[=3h\x1b[0m\x1b[40mBoot\x1bc ok\n");
        assert_eq!(log.tail(1), vec!["Boot ok"]);
    }

    #[test]
    fn escape_sequence_split_across_reads_is_stripped() {
        let mut log = SerialLog::new();
        assert_eq!(log.push(b"a\x1b["), "a");
        assert_eq!(log.push(b"1;3"), "");
        assert_eq!(log.push(b"1mb\n"), "b\n");
        assert_eq!(log.text(), "ab\n");
    }

    #[test]
    fn a_control_byte_ends_an_escape_sequence_so_lines_cannot_merge() {
        let mut log = SerialLog::new();
        let visible = log.push(b"[evil] innocent\x1b[\r\nHV-EXIT status=0\r\n");
        assert_eq!(visible, "[evil] innocent\nHV-EXIT status=0\n");
        assert_eq!(log.tail(5), vec!["[evil] innocent", "HV-EXIT status=0"]);
        assert_eq!(log.exit_status(), Some(0));
        // A bare ESC before the newline, and ESC inside a sequence restarting it.
        log.push(b"a\x1b\nb\x1b[1\x1b[2mc\n");
        assert_eq!(log.tail(2), vec!["a", "bc"]);
    }

    #[test]
    fn unterminated_last_line_counts_after_finish() {
        let mut log = SerialLog::new();
        log.push(b"one\nHV-EXIT status=3");
        assert_eq!(log.exit_status(), None);
        log.finish();
        assert_eq!(log.exit_status(), Some(3));
        assert_eq!(log.tail(5), vec!["one", "HV-EXIT status=3"]);
    }

    #[test]
    fn last_exit_line_wins() {
        let mut log = SerialLog::new();
        log.push(b"HV-EXIT status=1\nHV-EXIT status=0\n");
        assert_eq!(log.exit_status(), Some(0));
    }

    #[test]
    fn overlong_line_is_truncated_to_cap() {
        let mut log = SerialLog::new();
        log.push(&vec![b'x'; MAX_LINE_BYTES * 2]);
        log.push(b"\n");
        assert_eq!(log.tail(1)[0].len(), MAX_LINE_BYTES);
    }

    #[test]
    fn capture_drops_oldest_lines_beyond_cap() {
        let mut log = SerialLog::new();
        let line = vec![b'y'; MAX_LINE_BYTES - 1];
        let lines_to_fill = MAX_CAPTURE_BYTES / MAX_LINE_BYTES;
        for _ in 0..lines_to_fill + 3 {
            log.push(&line);
            log.push(b"\n");
        }
        assert_eq!(log.dropped_lines(), 3);
        assert!(log.text().len() <= MAX_CAPTURE_BYTES);
    }

    #[test]
    fn disk_dump_sector_lines_are_collected_but_neither_shown_nor_kept() {
        use devices::virtio::tracked_disk::{FNV_OFFSET_BASIS, fnv1a};
        let mut log = SerialLog::with_write_back(&[WriteBackTarget {
            vm: "vm".to_string(),
            device: "disk".to_string(),
            path: "disk.img".into(),
        }]);
        let sector = format!("HV-DISK vm disk 0 {}", "00".repeat(512));
        // FNV-1a 64 of sector number 0 (8 zero bytes) and 512 zero bytes.
        let hash = fnv1a(FNV_OFFSET_BASIS, &[0; 8 + 512]);
        let end = format!("HV-DISK vm disk end dirty=1 fnv1a={hash:016x}\n");
        let mut shown = log.push(b"\0boot\nHV-DISK vm disk begin sectors=4 dirty=1\n");
        // A sector line split across reads: nothing of it is shown.
        let (first, second) = sector.split_at(20);
        shown.push_str(&log.push(first.as_bytes()));
        shown.push_str(&log.push(second.as_bytes()));
        shown.push_str(&log.push(b"\nHV-EXIT status=0\n"));
        shown.push_str(&log.push(end.as_bytes()));
        assert_eq!(
            shown,
            format!("boot\nHV-DISK vm disk begin sectors=4 dirty=1\nHV-EXIT status=0\n{end}")
        );
        assert_eq!(log.text(), shown);
        assert_eq!(log.exit_status(), Some(0));
        log.finish();
        let dumps = log.take_disk_dumps();
        assert!(
            matches!(dumps.as_slice(), [Ok(dump)] if dump.dirty.len() == 1 && dump.sectors == 4)
        );
    }

    #[test]
    fn lines_that_only_start_like_a_dump_line_are_shown_whole() {
        let mut log = SerialLog::new();
        assert_eq!(log.push(b"HV-D"), "");
        assert_eq!(log.push(b"EBUG x"), "HV-DEBUG x");
        assert_eq!(log.push(b"\nHV-DISKS\nH"), "\nHV-DISKS\n");
        assert_eq!(log.push(b"\n"), "H\n");
        assert_eq!(log.text(), "HV-DEBUG x\nHV-DISKS\nH\n");
    }

    #[test]
    fn tail_returns_newest_lines_oldest_first() {
        let mut log = SerialLog::new();
        log.push(b"1\n2\n3\n4\n");
        assert_eq!(log.tail(2), vec!["3", "4"]);
        assert_eq!(log.tail(10).len(), 4);
    }
}
