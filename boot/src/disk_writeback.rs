//! Disk write-back: what a guest wrote to a virtio-blk disk goes back into the host's image file.
//!
//! The kernel keeps each disk in memory while its VM runs. When the VM has ended, for every
//! virtio-blk device whose disk the guest changed, it prints on COM1:
//!
//! ```text
//! HV-DISK <vm> <device> begin sectors=<disk size in sectors> dirty=<N>
//! HV-DISK <vm> <device> <sector, decimal> <1024 lowercase hex digits: the sector's 512 bytes>
//! ...                                     (N sector lines, sectors ascending)
//! HV-DISK <vm> <device> end dirty=<N> fnv1a=<16 lowercase hex digits>
//! ```
//!
//! `fnv1a` is FNV-1a 64 ([`Fnv1a`]) over, for each dumped sector in order, the sector number as
//! 8 little-endian bytes followed by its 512 bytes. Every line of a dump starts with
//! [`DISK_LINE_PREFIX`]; other lines (a guest's, the kernel's log) may come in between, and the
//! cleaned console of [`crate::serial`] has already dropped the NUL that opens a Bochs COM1 file.
//!
//! [`DumpCollector`] reads the lines one at a time (the console is fed through it while the run
//! streams, so the per-sector lines are neither echoed nor kept in the log); [`parse`] does the
//! same over a whole text. A dump becomes a [`DiskDump`] only when it is complete: a begin line,
//! exactly the announced number of well-formed sector lines inside the disk in ascending order,
//! and an end line whose count and checksum agree. [`write_back`] then writes each dump's sectors
//! in place into the image file the configuration named for that VM and device
//! ([`WriteBackTarget`]), after checking that the file has exactly the announced number of
//! sectors; anything refused writes nothing and is reported.
//!
//! When: [`run_allows_write_back`] — after a run that succeeded, or that failed only because a
//! VM did not end with status 0 (the kernel's status 5: the guest crashed or reported a failure,
//! which says nothing against the hypervisor's copy of the disk). After a timeout, a missing
//! exit line or any other failure status the hypervisor's state is not trusted and nothing is
//! written.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::exit::Verdict;

/// What every line of a dump starts with.
pub const DISK_LINE_PREFIX: &str = "HV-DISK ";
/// Bytes in a sector (virtio 1.2 §5.2.6: virtio-blk sectors are 512 bytes).
pub const SECTOR_BYTES: usize = 512;
/// Hex digits of one sector's bytes on a sector line.
pub const SECTOR_HEX_DIGITS: usize = SECTOR_BYTES * 2;
/// Most sectors a dumped disk may have: 1 GiB, the largest disk a configuration accepts.
pub const MAX_DISK_SECTORS: u64 = (1 << 30) / SECTOR_BYTES as u64;
/// FNV-1a 64-bit offset basis (Fowler/Noll/Vo, draft-eastlake-fnv §2).
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// The kernel's exit status when a VM did not exit with status 0 (`kernel/src/exit.rs`,
/// `ExitStatus::VmFailed`).
pub const VM_FAILED_STATUS: u32 = 5;

/// The word of a begin line.
const BEGIN: &str = "begin";
/// The word of an end line.
const END: &str = "end";
/// The disk size field of a begin line.
const SECTORS_FIELD: &str = "sectors=";
/// The dumped-sector count field of the begin and end lines.
const DIRTY_FIELD: &str = "dirty=";
/// The checksum field of an end line.
const CHECKSUM_FIELD: &str = "fnv1a=";
/// Hex digits of the checksum.
const CHECKSUM_DIGITS: usize = 16;

/// FNV-1a, 64 bits: for each byte, XOR it in, then multiply by [`FNV_PRIME`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv1a {
    /// The hash of nothing: [`FNV_OFFSET_BASIS`].
    pub const fn new() -> Self {
        Self(FNV_OFFSET_BASIS)
    }

    /// Hashes `bytes` in.
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        }
    }

    /// The hash so far.
    pub const fn finish(self) -> u64 {
        self.0
    }
}

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
    /// A dump's begin or end line (or an unreadable `HV-DISK` line): shown and kept.
    Header,
    /// A sector line: neither shown nor kept in the console log.
    Sector,
}

/// A dump whose end line has not come yet.
#[derive(Debug)]
struct OpenDump {
    vm: String,
    device: String,
    sectors: u64,
    announced: u64,
    dirty: Vec<Sector>,
    seen: u64,
    hash: Fnv1a,
    /// The first problem found; the rest of the dump is then only counted.
    problem: Option<DumpProblem>,
}

impl OpenDump {
    fn broken(vm: &str, device: &str, problem: DumpProblem) -> Self {
        Self {
            vm: vm.to_string(),
            device: device.to_string(),
            sectors: 0,
            announced: 0,
            dirty: Vec::new(),
            seen: 0,
            hash: Fnv1a::new(),
            problem: Some(problem),
        }
    }

    fn fail(&mut self, problem: DumpProblem) {
        if self.problem.is_none() {
            self.problem = Some(problem);
        }
        // Nothing of a refused dump is written: its sectors need not be kept.
        self.dirty = Vec::new();
    }

    fn error(self, problem: DumpProblem) -> DumpError {
        DumpError {
            vm: self.vm,
            device: self.device,
            problem: self.problem.unwrap_or(problem),
        }
    }

    /// Takes sector line `number` `hex`.
    fn sector(&mut self, number: &str, hex: Option<&str>) {
        self.seen = self.seen.saturating_add(1);
        if self.problem.is_some() {
            return;
        }
        let Ok(number) = number.parse::<u64>() else {
            return self.fail(DumpProblem::Malformed(format!("sector number {number:?}")));
        };
        if number >= self.sectors {
            return self.fail(DumpProblem::Malformed(format!(
                "sector {number} is beyond the disk's {} sectors",
                self.sectors
            )));
        }
        if self.dirty.last().is_some_and(|last| last.number >= number) {
            return self.fail(DumpProblem::Malformed(format!(
                "sector {number} is not above the sector before it"
            )));
        }
        let Some(data) = hex.and_then(sector_bytes) else {
            return self.fail(DumpProblem::Malformed(format!(
                "sector {number}: not {SECTOR_HEX_DIGITS} lowercase hex digits"
            )));
        };
        self.hash.write(&number.to_le_bytes());
        self.hash.write(data.as_slice());
        self.dirty.push(Sector { number, data });
    }

    /// Ends the dump with the end line's `fields`.
    fn end(mut self, fields: &[&str]) -> Result<DiskDump, DumpError> {
        let (Some(ended), Some(printed), None) = (
            field(fields.first(), DIRTY_FIELD).and_then(|value| value.parse::<u64>().ok()),
            field(fields.get(1), CHECKSUM_FIELD).and_then(checksum),
            fields.get(2),
        ) else {
            let problem = DumpProblem::Malformed(format!(
                "end line must be `{END} {DIRTY_FIELD}N {CHECKSUM_FIELD}<16 hex digits>`"
            ));
            return Err(self.error(problem));
        };
        if let Some(problem) = self.problem.take() {
            return Err(self.error(problem));
        }
        if ended != self.announced || self.seen != self.announced {
            let problem = DumpProblem::DirtyCount {
                announced: self.announced,
                ended,
                seen: self.seen,
            };
            return Err(self.error(problem));
        }
        let computed = self.hash.finish();
        if computed != printed {
            return Err(self.error(DumpProblem::Checksum { printed, computed }));
        }
        Ok(DiskDump {
            vm: self.vm,
            device: self.device,
            sectors: self.sectors,
            dirty: self.dirty,
        })
    }
}

/// The value of `name=value` in `token`.
fn field<'a>(token: Option<&&'a str>, name: &str) -> Option<&'a str> {
    token.and_then(|token| token.strip_prefix(name))
}

/// Whether `text` is all lowercase hex digits.
fn lowercase_hex(text: &str) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// The checksum field's value.
fn checksum(text: &str) -> Option<u64> {
    if text.len() != CHECKSUM_DIGITS || !lowercase_hex(text) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// The 512 bytes of a sector line's hex digits.
fn sector_bytes(hex: &str) -> Option<Box<[u8; SECTOR_BYTES]>> {
    if hex.len() != SECTOR_HEX_DIGITS || !lowercase_hex(hex) {
        return None;
    }
    let mut data = Box::new([0u8; SECTOR_BYTES]);
    let (pairs, _) = hex.as_bytes().as_chunks::<2>();
    for (byte, pair) in data.iter_mut().zip(pairs) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(data)
}

/// Reads dumps out of console lines, one line at a time.
#[derive(Debug, Default)]
pub struct DumpCollector {
    open: Vec<OpenDump>,
    done: Vec<Result<DiskDump, DumpError>>,
}

impl DumpCollector {
    /// A collector that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one clean console line (no line end) and says what it was.
    pub fn line(&mut self, line: &str) -> LineKind {
        let Some(rest) = line.strip_prefix(DISK_LINE_PREFIX) else {
            return LineKind::Other;
        };
        let tokens: Vec<&str> = rest.split_ascii_whitespace().collect();
        let (vm, device, word) = match tokens.as_slice() {
            [vm, device, word, ..] => (*vm, *device, *word),
            _ => {
                let vm = tokens.first().copied().unwrap_or_default();
                let device = tokens.get(1).copied().unwrap_or_default();
                self.done.push(Err(DumpError {
                    vm: vm.to_string(),
                    device: device.to_string(),
                    problem: DumpProblem::Malformed(format!("line {line:?}")),
                }));
                return LineKind::Header;
            }
        };
        let fields = tokens.get(3..).unwrap_or_default();
        let position = self
            .open
            .iter()
            .position(|dump| dump.vm == vm && dump.device == device);
        match word {
            BEGIN => {
                if let Some(index) = position {
                    let earlier = self.open.remove(index);
                    self.done.push(Err(earlier.error(DumpProblem::NoEndLine)));
                }
                self.open.push(begin(vm, device, fields));
                LineKind::Header
            }
            END => {
                let result = match position {
                    Some(index) => self.open.remove(index).end(fields),
                    None => Err(DumpError {
                        vm: vm.to_string(),
                        device: device.to_string(),
                        problem: DumpProblem::NoBeginLine,
                    }),
                };
                self.done.push(result);
                LineKind::Header
            }
            number => {
                let dump = match position {
                    Some(index) => self.open.get_mut(index),
                    None => {
                        self.open
                            .push(OpenDump::broken(vm, device, DumpProblem::NoBeginLine));
                        self.open.last_mut()
                    }
                };
                if let Some(dump) = dump {
                    dump.sector(number, fields.first().copied());
                    if fields.len() > 1 {
                        dump.fail(DumpProblem::Malformed(format!(
                            "sector {number}: text after the data"
                        )));
                    }
                }
                LineKind::Sector
            }
        }
    }

    /// Every dump seen, in the order they ended; those still open are incomplete.
    pub fn finish(&mut self) -> Vec<Result<DiskDump, DumpError>> {
        let open = std::mem::take(&mut self.open);
        let mut done = std::mem::take(&mut self.done);
        done.extend(
            open.into_iter()
                .map(|dump| Err(dump.error(DumpProblem::NoEndLine))),
        );
        done
    }
}

/// A dump opened by the begin line's `fields` (`sectors=S dirty=N`).
fn begin(vm: &str, device: &str, fields: &[&str]) -> OpenDump {
    let (Some(sectors), Some(announced), None) = (
        field(fields.first(), SECTORS_FIELD).and_then(|value| value.parse::<u64>().ok()),
        field(fields.get(1), DIRTY_FIELD).and_then(|value| value.parse::<u64>().ok()),
        fields.get(2),
    ) else {
        return OpenDump::broken(
            vm,
            device,
            DumpProblem::Malformed(format!(
                "begin line must be `{BEGIN} {SECTORS_FIELD}S {DIRTY_FIELD}N`"
            )),
        );
    };
    if sectors == 0 || sectors > MAX_DISK_SECTORS || announced > sectors {
        return OpenDump::broken(
            vm,
            device,
            DumpProblem::Malformed(format!(
                "a disk of {sectors} sectors (1..={MAX_DISK_SECTORS}) with {announced} dirty"
            )),
        );
    }
    OpenDump {
        vm: vm.to_string(),
        device: device.to_string(),
        sectors,
        announced,
        dirty: Vec::new(),
        seen: 0,
        hash: Fnv1a::new(),
        problem: None,
    }
}

/// The dumps in a whole console text (a NUL byte at its start and other lines in between are
/// fine).
pub fn parse(text: &str) -> Vec<Result<DiskDump, DumpError>> {
    let mut collector = DumpCollector::new();
    for line in text.lines() {
        collector.line(line.trim_start_matches('\0').trim_end_matches('\r'));
    }
    collector.finish()
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

/// Writes `dump` into its target's image file, after checking the file's size.
fn apply(dump: &DiskDump, targets: &[WriteBackTarget]) -> Result<WriteBack, String> {
    let target = targets
        .iter()
        .find(|target| target.vm == dump.vm && target.device == dump.device)
        .ok_or_else(|| "the configuration has no virtio-blk device of that name".to_string())?;
    let path = &target.path;
    let io_error = |doing: &str, error: std::io::Error| {
        format!(
            "{doing} {}: {error} (it may be partly written)",
            path.display()
        )
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|error| format!("opening {}: {error}", path.display()))?;
    let bytes = file
        .metadata()
        .map_err(|error| format!("reading the size of {}: {error}", path.display()))?
        .len();
    let expected = dump.sectors.saturating_mul(SECTOR_BYTES as u64);
    if bytes != expected {
        return Err(format!(
            "the dump is of a {} sector disk ({expected} bytes), {} has {bytes} bytes",
            dump.sectors,
            path.display()
        ));
    }
    for sector in &dump.dirty {
        let offset = sector.number.saturating_mul(SECTOR_BYTES as u64);
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(sector.data.as_slice()))
            .map_err(|error| io_error("writing", error))?;
    }
    file.sync_all()
        .map_err(|error| io_error("syncing", error))?;
    Ok(WriteBack::Written {
        vm: dump.vm.clone(),
        device: dump.device.clone(),
        path: path.clone(),
        sectors: dump.dirty.len(),
    })
}

/// Applies every complete dump to its target and reports each dump, refused ones included (in
/// output order; two dumps of one disk are applied in that order).
pub fn write_back(
    dumps: Vec<Result<DiskDump, DumpError>>,
    targets: &[WriteBackTarget],
) -> Vec<WriteBack> {
    dumps
        .into_iter()
        .map(|dump| match dump {
            Ok(dump) => apply(&dump, targets).unwrap_or_else(|reason| WriteBack::Refused {
                vm: dump.vm.clone(),
                device: dump.device.clone(),
                reason,
            }),
            Err(error) => WriteBack::Refused {
                reason: error.problem.to_string(),
                vm: error.vm,
                device: error.device,
            },
        })
        .collect()
}

/// Every dump refused because the run ended with `verdict` (see [`run_allows_write_back`]).
pub fn refuse_all(dumps: Vec<Result<DiskDump, DumpError>>, verdict: Verdict) -> Vec<WriteBack> {
    dumps
        .into_iter()
        .map(|dump| {
            let (vm, device) = match dump {
                Ok(dump) => (dump.vm, dump.device),
                Err(error) => (error.vm, error.device),
            };
            WriteBack::Refused {
                vm,
                device,
                reason: format!(
                    "the run ended with {verdict}, so the hypervisor's copy is not trusted"
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image of `sectors` sectors, sector `n` filled with byte `n`.
    fn image(dir: &tempfile::TempDir, sectors: u8) -> PathBuf {
        let path = dir.path().join("disk.img");
        let bytes: Vec<u8> = (0..sectors)
            .flat_map(|sector| [sector; SECTOR_BYTES])
            .collect();
        std::fs::write(&path, bytes).expect("image");
        path
    }

    fn target(path: &std::path::Path) -> Vec<WriteBackTarget> {
        vec![WriteBackTarget {
            vm: "debian".to_string(),
            device: "disk".to_string(),
            path: path.to_path_buf(),
        }]
    }

    fn hex(data: &[u8]) -> String {
        data.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// The lines the kernel prints for `dirty` sectors of a disk of `sectors` sectors.
    fn dump_lines(sectors: u64, dirty: &[(u64, [u8; SECTOR_BYTES])]) -> Vec<String> {
        let mut hash = Fnv1a::new();
        let mut lines = vec![format!(
            "HV-DISK debian disk begin sectors={sectors} dirty={}",
            dirty.len()
        )];
        for (number, data) in dirty {
            hash.write(&number.to_le_bytes());
            hash.write(data);
            lines.push(format!("HV-DISK debian disk {number} {}", hex(data)));
        }
        lines.push(format!(
            "HV-DISK debian disk end dirty={} fnv1a={:016x}",
            dirty.len(),
            hash.finish()
        ));
        lines
    }

    /// Two changed sectors (1 and 5) of an 8-sector disk.
    fn two_sectors() -> Vec<(u64, [u8; SECTOR_BYTES])> {
        let mut text = [0u8; SECTOR_BYTES];
        text[..6].copy_from_slice(b"hello\n");
        vec![(1, text), (5, [0xa5; SECTOR_BYTES])]
    }

    /// Parses `lines`, writes back into a fresh 8-sector image, and returns the reports and
    /// whether the image is unchanged.
    fn write_back_lines(lines: &[String]) -> (Vec<WriteBack>, bool) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = image(&dir, 8);
        let before = std::fs::read(&path).expect("image");
        let reports = write_back(parse(&lines.join("\n")), &target(&path));
        let unchanged = std::fs::read(&path).expect("image") == before;
        (reports, unchanged)
    }

    fn refusal(lines: &[String]) -> String {
        let (reports, unchanged) = write_back_lines(lines);
        assert!(unchanged, "a refused dump wrote to the image");
        match reports.as_slice() {
            [WriteBack::Refused { reason, .. }] => reason.clone(),
            other => panic!("expected one refusal, got {other:?}"),
        }
    }

    #[test]
    fn fnv1a_64_matches_the_reference_vectors() {
        assert_eq!(Fnv1a::new().finish(), 0xcbf2_9ce4_8422_2325);
        let mut hash = Fnv1a::new();
        hash.write(b"a");
        assert_eq!(hash.finish(), 0xaf63_dc4c_8601_ec8c);
        let mut hash = Fnv1a::new();
        hash.write(b"foobar");
        assert_eq!(hash.finish(), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_dump_amid_other_lines_is_written_back_in_place() {
        let dirty = two_sectors();
        let mut lines = vec!["\0[INFO ] microhypervisor starting".to_string()];
        let dump = dump_lines(8, &dirty);
        lines.push(dump[0].clone());
        lines.push("[debian] a guest line in between".to_string());
        lines.extend(dump[1..].iter().cloned());
        lines.push("HV-EXIT status=0".to_string());
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = image(&dir, 8);
        let reports = write_back(parse(&lines.join("\r\n")), &target(&path));
        assert_eq!(
            reports,
            [WriteBack::Written {
                vm: "debian".to_string(),
                device: "disk".to_string(),
                path: path.clone(),
                sectors: 2,
            }]
        );
        assert_eq!(
            reports[0].to_string(),
            format!("wrote 2 sectors back to {}", path.display())
        );
        let after = std::fs::read(&path).expect("image");
        assert_eq!(after.len(), 8 * SECTOR_BYTES);
        for (sector, bytes) in after.as_chunks::<SECTOR_BYTES>().0.iter().enumerate() {
            let expected: Vec<u8> = match dirty.iter().find(|(number, _)| *number == sector as u64)
            {
                Some((_, data)) => data.to_vec(),
                None => vec![sector as u8; SECTOR_BYTES],
            };
            assert_eq!(bytes.as_slice(), expected.as_slice(), "sector {sector}");
        }
    }

    #[test]
    fn the_kernels_own_dump_of_a_written_disk_round_trips_into_the_image() {
        use devices::virtio::{BlockBackend, MemoryDisk, TrackedDisk, dump_lines};
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = image(&dir, 64);
        let original = std::fs::read(&path).expect("image");
        let mut disk =
            TrackedDisk::new(MemoryDisk::new(original.clone()).expect("a whole number of sectors"));
        disk.write(3, &[0x11; 2 * SECTOR_BYTES]).expect("write");
        disk.write(
            40,
            b"written by the guest"
                .repeat(SECTOR_BYTES / 20 + 1)
                .get(..SECTOR_BYTES)
                .expect("a sector"),
        )
        .expect("write");
        disk.write(63, &[0xff; SECTOR_BYTES]).expect("write");
        let text: String = dump_lines("debian", "disk", &disk)
            .map(|line| line + "\n")
            .collect();
        let reports = write_back(parse(&text), &target(&path));
        assert!(
            matches!(reports.as_slice(), [WriteBack::Written { sectors: 4, .. }]),
            "{reports:?}"
        );
        assert_eq!(std::fs::read(&path).expect("image"), disk.bytes());
        assert_ne!(disk.bytes(), original.as_slice());
    }

    #[test]
    fn a_dump_without_its_end_line_is_refused() {
        let mut lines = dump_lines(8, &two_sectors());
        lines.pop();
        assert_eq!(refusal(&lines), "incomplete dump: no end line");
    }

    #[test]
    fn a_dump_begun_again_before_its_end_is_refused_and_the_second_taken() {
        let first = dump_lines(8, &two_sectors());
        let mut lines = first[..2].to_vec();
        lines.extend(dump_lines(8, &two_sectors()));
        let (reports, unchanged) = write_back_lines(&lines);
        assert!(!unchanged);
        assert!(matches!(
            reports.as_slice(),
            [WriteBack::Refused { reason, .. }, WriteBack::Written { sectors: 2, .. }]
                if reason == "incomplete dump: no end line"
        ));
    }

    #[test]
    fn a_missing_sector_line_is_refused() {
        let mut lines = dump_lines(8, &two_sectors());
        lines.remove(2);
        assert_eq!(
            refusal(&lines),
            "incomplete dump: 1 sector lines, begin line announced 2, end line 2"
        );
    }

    #[test]
    fn a_bad_checksum_is_refused() {
        let mut lines = dump_lines(8, &two_sectors());
        let end = lines.pop().expect("end line");
        let (head, _) = end.split_once("fnv1a=").expect("checksum field");
        lines.push(format!("{head}fnv1a=0123456789abcdef"));
        assert!(refusal(&lines).starts_with("bad checksum: end line says fnv1a=0123456789abcdef"),);
        // A flipped data bit is caught the same way.
        let mut lines = dump_lines(8, &two_sectors());
        lines[2] = lines[2].replacen("a5", "a4", 1);
        assert!(refusal(&lines).starts_with("bad checksum"));
    }

    #[test]
    fn a_sector_count_other_than_the_files_is_refused() {
        let lines = dump_lines(16, &two_sectors());
        let reason = refusal(&lines);
        assert!(
            reason.starts_with("the dump is of a 16 sector disk (8192 bytes), "),
            "{reason}"
        );
        assert!(reason.ends_with("has 4096 bytes"), "{reason}");
    }

    #[test]
    fn a_dump_for_an_unknown_vm_or_device_is_refused() {
        let lines: Vec<String> = dump_lines(8, &two_sectors())
            .iter()
            .map(|line| line.replace("HV-DISK debian disk", "HV-DISK debian other"))
            .collect();
        assert_eq!(
            refusal(&lines),
            "the configuration has no virtio-blk device of that name"
        );
        let (reports, _) = write_back_lines(&lines);
        assert_eq!(
            reports[0].to_string(),
            "disk of VM \"debian\" device \"other\" not written back: the configuration has no virtio-blk device of that name"
        );
    }

    #[test]
    fn malformed_sector_lines_are_refused() {
        let base = dump_lines(8, &two_sectors());
        let with = |index: usize, line: String| {
            let mut lines = base.clone();
            lines[index] = line;
            refusal(&lines)
        };
        let upper = base[2]
            .to_uppercase()
            .replace("HV-DISK DEBIAN DISK", "HV-DISK debian disk");
        assert!(with(2, upper).contains("not 1024 lowercase hex digits"));
        assert!(
            with(2, format!("HV-DISK debian disk 5 {}", "ab".repeat(100))).contains("not 1024")
        );
        assert!(
            with(1, base[1].replacen(" 1 ", " 8 ", 1))
                .contains("sector 8 is beyond the disk's 8 sectors")
        );
        assert!(
            with(2, base[2].replacen(" 5 ", " 1 ", 1))
                .contains("is not above the sector before it")
        );
        assert!(with(2, format!("{} extra", base[2])).contains("text after the data"));
        assert!(
            with(0, "HV-DISK debian disk begin sectors=8".to_string())
                .contains("begin line must be")
        );
        assert!(
            with(0, "HV-DISK debian disk begin sectors=8 dirty=9".to_string())
                .contains("a disk of 8 sectors")
        );
        assert!(
            with(3, "HV-DISK debian disk end dirty=2".to_string()).contains("end line must be")
        );
    }

    #[test]
    fn lines_without_a_begin_line_are_refused() {
        let lines = dump_lines(8, &two_sectors());
        assert_eq!(refusal(&lines[1..]), "dump lines without a begin line");
        assert_eq!(refusal(&lines[3..]), "dump lines without a begin line");
    }

    #[test]
    fn an_unchanged_disk_prints_nothing_and_nothing_is_written() {
        let (reports, unchanged) = write_back_lines(&[
            "[debian] no dump here".to_string(),
            "HV-DISKS x".to_string(),
        ]);
        assert!(reports.is_empty());
        assert!(unchanged);
    }

    #[test]
    fn lines_are_classified_for_the_console() {
        let lines = dump_lines(8, &two_sectors());
        let mut collector = DumpCollector::new();
        let kinds: Vec<LineKind> = lines.iter().map(|line| collector.line(line)).collect();
        assert_eq!(
            kinds,
            [
                LineKind::Header,
                LineKind::Sector,
                LineKind::Sector,
                LineKind::Header
            ]
        );
        assert_eq!(collector.line("[debian] HV-DISK x"), LineKind::Other);
        assert_eq!(collector.finish().len(), 1);
    }

    #[test]
    fn only_success_or_a_vm_failure_allows_write_back() {
        assert!(run_allows_write_back(Verdict::Success));
        assert!(run_allows_write_back(Verdict::Failure { status: 5 }));
        assert!(!run_allows_write_back(Verdict::Failure { status: 2 }));
        assert!(!run_allows_write_back(Verdict::Timeout));
        assert!(!run_allows_write_back(Verdict::NoExitLine {
            emulator_exit: Some(0)
        }));
        let refused = refuse_all(
            parse(&dump_lines(8, &two_sectors()).join("\n")),
            Verdict::Timeout,
        );
        assert!(
            matches!(refused.as_slice(), [WriteBack::Refused { reason, .. }] if reason.contains("timeout"))
        );
    }
}
