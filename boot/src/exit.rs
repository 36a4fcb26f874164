//! The exit protocol between the hypervisor and the host, and the verdict of a run.
//!
//! At the end of a run the kernel
//! 1. prints the line `HV-EXIT status=<decimal u32>` on COM1,
//! 2. writes the low byte of the status to I/O port 0xF4, where QEMU's `isa-debug-exit` device
//!    (`iobase=0xf4,iosize=0x04`) ends QEMU with exit code `(v << 1) | 1`,
//! 3. executes `xchg bx, bx`, Bochs' magic breakpoint: the debugger reads the next `-rc` line (`q`)
//!    and Bochs exits with 0,
//! 4. halts forever.
//!
//! The verdict comes from the exit line: status 0 is success, anything else a failure. Under QEMU
//! the exit code must agree with the line. No line at all means the kernel never got there (hang,
//! triple fault, emulator crash). QEMU exits with 0 on a triple fault with `-no-reboot`, so an
//! exit code of 0 never means success on its own.

use std::fmt;

use crate::config::Emulator;

/// The text that starts the exit line; the decimal status follows.
pub const EXIT_MARKER: &str = "HV-EXIT status=";
/// The I/O port of QEMU's `isa-debug-exit` device.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;
/// The width in bytes of QEMU's `isa-debug-exit` register window.
pub const DEBUG_EXIT_IOSIZE: u16 = 4;

/// Process exit code of the host tool when the run timed out (as coreutils' `timeout`).
pub const EXIT_CODE_TIMEOUT: u8 = 124;
/// Process exit code of the host tool when the emulator stopped without an exit line.
pub const EXIT_CODE_NO_EXIT_LINE: u8 = 125;
/// Process exit code of the host tool when QEMU's exit code contradicts the exit line.
pub const EXIT_CODE_MISMATCH: u8 = 126;

/// Parses one clean serial line: `Some(status)` for `HV-EXIT status=<decimal u32>` (surrounding
/// whitespace allowed), `None` for anything else, including an out-of-range number.
pub fn parse_exit_line(line: &str) -> Option<u32> {
    let digits = line.trim().strip_prefix(EXIT_MARKER)?;
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The exit code QEMU reports when the kernel writes the low byte of `status` to the
/// `isa-debug-exit` port: `(v << 1) | 1`, truncated to 8 bits by the operating system.
pub fn qemu_exit_code(status: u32) -> i32 {
    let written = status.to_le_bytes()[0];
    i32::from(written.wrapping_shl(1) | 1)
}

/// How the emulator process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmulatorEnd {
    /// It exited on its own; `code` is `None` when a signal ended it.
    Exited {
        /// Its exit code.
        code: Option<i32>,
    },
    /// The run's timeout expired before any exit line; it was killed.
    TimedOut,
    /// It printed the exit line but did not stop within the grace period; it was killed.
    KilledAfterExitLine,
}

/// The judgement of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The hypervisor reported status 0 (and QEMU's exit code agreed).
    Success,
    /// The hypervisor reported a non-zero status.
    Failure {
        /// The reported status.
        status: u32,
    },
    /// No exit line before the timeout.
    Timeout,
    /// The emulator stopped without an exit line: triple fault, emulator panic or crash.
    NoExitLine {
        /// The emulator's exit code (`None`: ended by a signal).
        emulator_exit: Option<i32>,
    },
    /// QEMU's exit code contradicts the exit line (the port write did not happen or differed).
    ExitCodeMismatch {
        /// The status on the exit line.
        status: u32,
        /// QEMU's exit code (`None`: it had to be killed).
        emulator_exit: Option<i32>,
    },
}

impl Verdict {
    /// Whether the run passed.
    pub const fn is_success(self) -> bool {
        matches!(self, Self::Success)
    }

    /// The host tool's process exit code for this verdict: 0 on success, the status on failure
    /// (saturated to 255), and 124/125/126 for timeout / no exit line / exit-code mismatch.
    pub fn process_exit_code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure { status } => u8::try_from(status).unwrap_or(u8::MAX),
            Self::Timeout => EXIT_CODE_TIMEOUT,
            Self::NoExitLine { .. } => EXIT_CODE_NO_EXIT_LINE,
            Self::ExitCodeMismatch { .. } => EXIT_CODE_MISMATCH,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Success => f.write_str("success (status 0)"),
            Self::Failure { status } => write!(f, "failure (status {status})"),
            Self::Timeout => f.write_str("timeout: no exit line before the time limit"),
            Self::NoExitLine {
                emulator_exit: Some(code),
            } => write!(
                f,
                "no exit line: the emulator stopped with exit code {code} (hang, triple fault or crash)"
            ),
            Self::NoExitLine {
                emulator_exit: None,
            } => f.write_str("no exit line: the emulator was ended by a signal"),
            Self::ExitCodeMismatch {
                status,
                emulator_exit,
            } => write!(
                f,
                "exit line says status {status} but QEMU's exit code is {emulator_exit:?}, expected {}",
                qemu_exit_code(*status)
            ),
        }
    }
}

/// Judges a run from the exit line's status (if any) and how the emulator ended.
pub fn judge(emulator: Emulator, status: Option<u32>, end: EmulatorEnd) -> Verdict {
    let Some(status) = status else {
        return match end {
            EmulatorEnd::Exited { code } => Verdict::NoExitLine {
                emulator_exit: code,
            },
            EmulatorEnd::TimedOut | EmulatorEnd::KilledAfterExitLine => Verdict::Timeout,
        };
    };
    let agrees = match (emulator, end) {
        (Emulator::Qemu | Emulator::QemuKvm, EmulatorEnd::Exited { code }) => {
            code == Some(qemu_exit_code(status))
        }
        (Emulator::Qemu | Emulator::QemuKvm, _) => false,
        // Bochs' exit code says nothing about the guest; the line alone decides.
        (Emulator::Bochs, _) => true,
    };
    match (agrees, status) {
        (false, _) => Verdict::ExitCodeMismatch {
            status,
            emulator_exit: match end {
                EmulatorEnd::Exited { code } => code,
                EmulatorEnd::TimedOut | EmulatorEnd::KilledAfterExitLine => None,
            },
        },
        (true, 0) => Verdict::Success,
        (true, status) => Verdict::Failure { status },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_line_parses_decimal_status() {
        assert_eq!(parse_exit_line("HV-EXIT status=0"), Some(0));
        assert_eq!(parse_exit_line("HV-EXIT status=42"), Some(42));
        assert_eq!(
            parse_exit_line("  HV-EXIT status=4294967295 "),
            Some(u32::MAX)
        );
    }

    #[test]
    fn exit_line_rejects_malformed_or_out_of_range() {
        assert_eq!(parse_exit_line("HV-EXIT status="), None);
        assert_eq!(parse_exit_line("HV-EXIT status=-1"), None);
        assert_eq!(parse_exit_line("HV-EXIT status=+1"), None);
        assert_eq!(parse_exit_line("HV-EXIT status=0x10"), None);
        assert_eq!(parse_exit_line("HV-EXIT status=4294967296"), None);
        assert_eq!(parse_exit_line("HV-EXIT status=1 trailing"), None);
        assert_eq!(parse_exit_line("log: HV-EXIT status=0"), None);
        assert_eq!(parse_exit_line("HV-EXIT status 0"), None);
    }

    #[test]
    fn qemu_exit_code_is_value_shifted_left_or_one() {
        assert_eq!(qemu_exit_code(0), 1);
        assert_eq!(qemu_exit_code(0x10), 33);
        assert_eq!(qemu_exit_code(1), 3);
        // Only the low byte is written, and the OS keeps 8 bits of the exit code.
        assert_eq!(qemu_exit_code(0x80), 1);
        assert_eq!(qemu_exit_code(0x101), 3);
    }

    #[test]
    fn qemu_status_zero_with_matching_exit_code_is_success() {
        let end = EmulatorEnd::Exited { code: Some(1) };
        assert_eq!(judge(Emulator::Qemu, Some(0), end), Verdict::Success);
    }

    #[test]
    fn qemu_nonzero_status_with_matching_exit_code_is_failure() {
        let end = EmulatorEnd::Exited { code: Some(33) };
        assert_eq!(
            judge(Emulator::QemuKvm, Some(16), end),
            Verdict::Failure { status: 16 }
        );
    }

    #[test]
    fn qemu_triple_fault_exit_zero_is_never_success() {
        let end = EmulatorEnd::Exited { code: Some(0) };
        assert_eq!(
            judge(Emulator::Qemu, None, end),
            Verdict::NoExitLine {
                emulator_exit: Some(0)
            }
        );
        assert_eq!(
            judge(Emulator::Qemu, Some(0), end),
            Verdict::ExitCodeMismatch {
                status: 0,
                emulator_exit: Some(0)
            }
        );
    }

    #[test]
    fn qemu_killed_after_exit_line_is_mismatch() {
        assert_eq!(
            judge(Emulator::Qemu, Some(0), EmulatorEnd::KilledAfterExitLine),
            Verdict::ExitCodeMismatch {
                status: 0,
                emulator_exit: None
            }
        );
    }

    #[test]
    fn bochs_verdict_comes_from_line_alone() {
        let crashed = EmulatorEnd::Exited { code: Some(139) };
        assert_eq!(judge(Emulator::Bochs, Some(0), crashed), Verdict::Success);
        assert_eq!(
            judge(Emulator::Bochs, Some(7), EmulatorEnd::KilledAfterExitLine),
            Verdict::Failure { status: 7 }
        );
    }

    #[test]
    fn bochs_panic_without_line_is_no_exit_line() {
        let panicked = EmulatorEnd::Exited { code: Some(1) };
        assert_eq!(
            judge(Emulator::Bochs, None, panicked),
            Verdict::NoExitLine {
                emulator_exit: Some(1)
            }
        );
    }

    #[test]
    fn timeout_without_line_is_timeout() {
        assert_eq!(
            judge(Emulator::Bochs, None, EmulatorEnd::TimedOut),
            Verdict::Timeout
        );
    }

    #[test]
    fn process_exit_codes_follow_verdict() {
        assert_eq!(Verdict::Success.process_exit_code(), 0);
        assert_eq!(Verdict::Failure { status: 3 }.process_exit_code(), 3);
        assert_eq!(Verdict::Failure { status: 300 }.process_exit_code(), 255);
        assert_eq!(Verdict::Timeout.process_exit_code(), 124);
        let no_line = Verdict::NoExitLine {
            emulator_exit: Some(0),
        };
        assert_eq!(no_line.process_exit_code(), 125);
        let mismatch = Verdict::ExitCodeMismatch {
            status: 0,
            emulator_exit: None,
        };
        assert_eq!(mismatch.process_exit_code(), 126);
    }
}
