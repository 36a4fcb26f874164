//! Errors of the Linux guest artefacts: fetching Debian's packages, reading kernel modules and the
//! bzImage setup header, writing the initramfs. Each fetch failure carries the exact shell command
//! that does the step by hand.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why a Linux guest artefact could not be produced.
#[derive(Debug, Error)]
pub enum LinuxError {
    /// A Debian tool (`apt-get`, `apt-cache`, `dpkg-deb`) is not on `PATH`.
    #[error(
        "`{program}` is not installed; on a Debian host, fetch the packages by hand with:\n    {command}"
    )]
    ToolMissing {
        /// The missing program.
        program: &'static str,
        /// The command that fetches what we needed it for.
        command: String,
    },

    /// No concrete `linux-image-6.1.0-*-cloud-amd64` package could be found in the apt lists.
    #[error("cannot resolve the Debian cloud kernel package ({detail}); run:\n    {command}")]
    Resolve {
        /// What was looked at.
        detail: String,
        /// The command that refreshes the package lists.
        command: String,
    },

    /// A program ran but failed (download, unpack, package-list update).
    #[error("`{command}` failed with {status}: {stderr}")]
    CommandFailed {
        /// The exact command, runnable by hand.
        command: String,
        /// Its exit status, as printed by the OS.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },

    /// A package unpacked, but a file we need is not in it.
    #[error("{what} not found in {}", dir.display())]
    AssetMissing {
        /// What was looked for (e.g. `boot/vmlinuz-*`).
        what: &'static str,
        /// Where it was looked for.
        dir: PathBuf,
    },

    /// A kernel module is missing, malformed, or its dependencies loop.
    #[error("kernel module `{name}`: {reason}")]
    Module {
        /// The module name (`virtio_blk`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A path asked for inside the initramfs is not acceptable.
    #[error("initramfs path `{path}`: {reason}")]
    ArchivePath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// The file is not a bzImage this loader can describe.
    #[error("{} is not a usable bzImage: {reason}", path.display())]
    SetupHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong with its setup header.
        reason: String,
    },

    /// Any other I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: io::Error,
    },
}

impl LinuxError {
    /// Wraps an I/O error with what was being done when it happened.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
