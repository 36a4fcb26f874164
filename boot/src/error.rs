//! Errors of the host tool: every way building an image or running an emulator can fail before a
//! verdict exists. A run that completes (even with a failing hypervisor) is not an error: it is a
//! [`crate::RunOutcome`] with a [`crate::Verdict`].

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why the host tool could not produce a verdict.
#[derive(Debug, Error)]
pub enum BootError {
    /// The combination of options cannot work (e.g. Bochs with UEFI firmware).
    #[error("unsupported configuration: {0}")]
    Unsupported(String),

    /// A required host program or firmware file is missing and could not be installed.
    #[error("missing host tools: {missing}; install them with:\n    {command}")]
    MissingTools {
        /// Human-readable list of what is missing.
        missing: String,
        /// The exact shell command that installs them.
        command: String,
    },

    /// Installing missing packages with apt-get failed.
    #[error("`{command}` failed with {status}")]
    InstallFailed {
        /// The command that was run.
        command: String,
        /// Its exit status, as printed by the OS.
        status: String,
    },

    /// The bootloader crate could not write a disk image.
    #[error("building the {firmware} disk image {path} failed: {message}")]
    Image {
        /// `"BIOS"` or `"UEFI"`.
        firmware: &'static str,
        /// Where the image was to be written.
        path: PathBuf,
        /// The bootloader crate's error chain.
        message: String,
    },

    /// The kernel ELF file is missing.
    #[error("kernel binary {0} does not exist (build it with `cargo build -p boot`)")]
    KernelMissing(PathBuf),

    /// Starting the emulator failed.
    #[error("could not start `{program}`: {source}")]
    Spawn {
        /// The program that was started.
        program: String,
        /// The OS error.
        source: io::Error,
    },

    /// The run was cancelled (Ctrl-C / SIGTERM) before it finished.
    #[error("run cancelled")]
    Cancelled,

    /// Any other I/O failure (temporary files, pipes, waiting on the child).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: io::Error,
    },
}

impl BootError {
    /// Wraps an I/O error with what was being done when it happened.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
