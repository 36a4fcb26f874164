//! Disk write-back: what a guest wrote to a virtio-blk disk goes back into the host's image file.
//!
//! The kernel keeps each disk in memory while its VM runs. With `disk_dump=on` on its command
//! line (which [`crate::config::RunConfig::with_vm_config`] adds when the configuration has
//! disks), when the VM has ended it prints on COM1, for every virtio-blk device whose disk the
//! guest changed (the format of `devices::virtio::tracked_disk`):
//!
//! ```text
//! HV-DISK <vm> <device> begin sectors=<disk size in sectors> dirty=<N>
//! HV-DISK <vm> <device> <sector, decimal> <1024 lowercase hex digits: the sector's 512 bytes>
//! ...                                     (N sector lines, sectors ascending)
//! HV-DISK <vm> <device> end dirty=<N> fnv1a=<16 lowercase hex digits>
//! ```
//!
//! or, when more sectors changed than the kernel dumps, the one line
//!
//! ```text
//! HV-DISK <vm> <device> refused dirty=<N> max=<most sectors it dumps>
//! ```
//!
//! which is reported as a refusal (nothing is written). `fnv1a` is FNV-1a 64
//! ([`devices::virtio::tracked_disk::fnv1a`]) over, for each dumped sector in order, the sector
//! number as 8 little-endian bytes followed by its 512 bytes. Every line of a dump starts with
//! [`DISK_LINE_PREFIX`]; other lines (a guest's, the kernel's log) may come in between, and the
//! cleaned console of [`crate::serial`] has already dropped the NUL that opens a Bochs COM1 file.
//!
//! - [`collector`]: [`DumpCollector`] reads the lines one at a time (the console is fed through
//!   it while the run streams, so the per-sector lines are neither echoed nor kept in the log);
//!   [`parse`] does the same over a whole text. A dump for a VM and device without a
//!   [`WriteBackTarget`] is refused at its begin line, its sectors only counted. A dump becomes a
//!   [`DiskDump`] only when it is complete: a begin line, exactly the announced number of
//!   well-formed sector lines inside the disk in ascending order, and an end line whose count and
//!   checksum agree.
//! - [`apply`](mod@apply): [`write_back`] writes each dump's sectors in place into the image
//!   file the configuration named for that VM and device, after checking that the file has
//!   exactly the announced number of sectors; anything refused writes nothing and is reported.
//!
//! When: [`run_allows_write_back`] — after a run that succeeded, or that failed only because a
//! VM did not end with status 0 (the kernel's status 5: the guest crashed or reported a failure,
//! which says nothing against the hypervisor's copy of the disk). After a timeout, a missing
//! exit line or any other failure status the hypervisor's state is not trusted and nothing is
//! written.

pub mod apply;
pub mod collector;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

use devices::virtio::block_backend::SECTOR_BYTES;
use devices::virtio::tracked_disk::DUMP_PREFIX;

use crate::exit::Verdict;

pub use apply::{refuse_all, write_back};
pub use collector::{DumpCollector, parse};

/// What every line of a dump starts with: [`DUMP_PREFIX`] and a space.
pub const DISK_LINE_PREFIX: &str = match std::str::from_utf8(&DISK_LINE_PREFIX_BYTES) {
    Ok(prefix) => prefix,
    Err(_) => panic!("the dump prefix is ASCII"),
};
/// [`DUMP_PREFIX`] followed by the space that separates it from the VM's name.
const DISK_LINE_PREFIX_BYTES: [u8; DUMP_PREFIX.len() + 1] = {
    let mut bytes = [b' '; DUMP_PREFIX.len() + 1];
    let prefix = DUMP_PREFIX.as_bytes();
    let mut index = 0;
    while index < prefix.len() {
        bytes[index] = prefix[index];
        index += 1;
    }
    bytes
};
/// Hex digits of one sector's bytes on a sector line.
pub const SECTOR_HEX_DIGITS: usize = SECTOR_BYTES * 2;
/// Most sectors a dumped disk may have: 1 GiB, the largest disk a configuration accepts.
pub const MAX_DISK_SECTORS: u64 = (1 << 30) / SECTOR_BYTES as u64;
/// The kernel's exit status when a VM did not exit with status 0 (`kernel/src/exit.rs`,
/// `ExitStatus::VmFailed`).
pub const VM_FAILED_STATUS: u32 = 5;

/// One dumped sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sector {
    /// Its number on the disk.
    pub number: u64,
    /// Its bytes.
    pub data: Box<[u8; SECTOR_BYTES]>,
}

/// A complete, checksum-valid dump of one disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskDump {
    /// The VM's name.
    pub vm: String,
    /// The device's name.
    pub device: String,
    /// The disk's size in sectors, as the kernel has it.
    pub sectors: u64,
    /// The sectors the guest changed, ascending.
    pub dirty: Vec<Sector>,
}

/// Why a dump was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpProblem {
    /// The output ended (or the same disk's dump began again) before the end line.
    NoEndLine,
    /// Sector or end lines without a begin line.
    NoBeginLine,
    /// A line of the dump is not of the protocol's shape.
    Malformed(String),
    /// The number of sector lines differs from the announced count.
    DirtyCount {
        /// What the begin line announced.
        announced: u64,
        /// What the end line says.
        ended: u64,
        /// Sector lines seen.
        seen: u64,
    },
    /// The configuration has no write-back target for this VM and device (decided at the begin
    /// line; the dump's sectors are only counted).
    NoTarget,
    /// The kernel did not dump the disk: more sectors changed than it dumps.
    KernelRefused {
        /// Sectors the guest changed.
        dirty: u64,
        /// The most the kernel dumps.
        max: u64,
    },
    /// The checksum on the end line is not the one of the sectors seen.
    Checksum {
        /// On the end line.
        printed: u64,
        /// Over the sector lines.
        computed: u64,
    },
}

impl fmt::Display for DumpProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEndLine => f.write_str("incomplete dump: no end line"),
            Self::NoBeginLine => f.write_str("dump lines without a begin line"),
            Self::Malformed(reason) => write!(f, "malformed dump: {reason}"),
            Self::DirtyCount {
                announced,
                ended,
                seen,
            } => write!(
                f,
                "incomplete dump: {seen} sector lines, begin line announced {announced}, end line {ended}"
            ),
            Self::NoTarget => {
                f.write_str("the configuration has no virtio-blk device of that name")
            }
            Self::KernelRefused { dirty, max } => write!(
                f,
                "the kernel did not dump the disk: the guest changed {dirty} sectors, more than the {max} it dumps"
            ),
            Self::Checksum { printed, computed } => write!(
                f,
                "bad checksum: end line says fnv1a={printed:016x}, the sectors hash to {computed:016x}"
            ),
        }
    }
}

/// A dump that was not taken, and which disk it was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpError {
    /// The VM's name, as printed.
    pub vm: String,
    /// The device's name, as printed.
    pub device: String,
    /// What is wrong.
    pub problem: DumpProblem,
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.problem)
    }
}

/// What a console line is to the dump reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Not part of a dump.
    Other,
    /// A dump's begin, end or refused line (or an unreadable `HV-DISK` line): shown and kept.
    Header,
    /// A sector line: neither shown nor kept in the console log.
    Sector,
}

/// Where one VM's disk goes back to: the image file its configuration named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBackTarget {
    /// The VM's name.
    pub vm: String,
    /// The virtio-blk device's name.
    pub device: String,
    /// The host image file.
    pub path: PathBuf,
}

/// What became of one dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteBack {
    /// The sectors were written into the image file.
    Written {
        /// The VM's name.
        vm: String,
        /// The device's name.
        device: String,
        /// The image file.
        path: PathBuf,
        /// How many sectors were written.
        sectors: usize,
    },
    /// Nothing was written.
    Refused {
        /// The VM's name, as printed.
        vm: String,
        /// The device's name, as printed.
        device: String,
        /// Why.
        reason: String,
    },
}

impl WriteBack {
    /// Whether the sectors were written.
    pub const fn is_written(&self) -> bool {
        matches!(self, Self::Written { .. })
    }
}

impl fmt::Display for WriteBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Written { path, sectors, .. } => {
                write!(f, "wrote {sectors} sectors back to {}", path.display())
            }
            Self::Refused { vm, device, reason } => write!(
                f,
                "disk of VM {vm:?} device {device:?} not written back: {reason}"
            ),
        }
    }
}

/// Whether a run that ended with `verdict` may write its disks back (see the module docs).
pub const fn run_allows_write_back(verdict: Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Success
            | Verdict::Failure {
                status: VM_FAILED_STATUS
            }
    )
}
