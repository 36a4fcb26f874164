//! Reading dumps out of console lines: [`DumpCollector`] one line at a time, [`parse`] over a
//! whole text (the line format is in the [module docs](super)).

use devices::virtio::block_backend::SECTOR_BYTES;
use devices::virtio::tracked_disk::{FNV_OFFSET_BASIS, fnv1a};

use super::{
    DISK_LINE_PREFIX, DiskDump, DumpError, DumpProblem, LineKind, MAX_DISK_SECTORS,
    SECTOR_HEX_DIGITS, Sector, WriteBackTarget,
};

/// The word of a begin line.
const BEGIN: &str = "begin";
/// The word of an end line.
const END: &str = "end";
/// The word of the line the kernel prints instead of a dump too large to print.
const REFUSED: &str = "refused";
/// The disk size field of a begin line.
const SECTORS_FIELD: &str = "sectors=";
/// The dumped-sector count field of the begin, end and refused lines.
const DIRTY_FIELD: &str = "dirty=";
/// The most-sectors field of a refused line.
const MAX_FIELD: &str = "max=";
/// The checksum field of an end line.
const CHECKSUM_FIELD: &str = "fnv1a=";
/// Hex digits of the checksum.
const CHECKSUM_DIGITS: usize = 16;

/// A dump whose end line has not come yet.
#[derive(Debug)]
struct OpenDump {
    vm: String,
    device: String,
    sectors: u64,
    announced: u64,
    dirty: Vec<Sector>,
    seen: u64,
    hash: u64,
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
            hash: FNV_OFFSET_BASIS,
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
        self.hash = fnv1a(fnv1a(self.hash, &number.to_le_bytes()), data.as_slice());
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
        let computed = self.hash;
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
#[derive(Debug)]
pub struct DumpCollector {
    /// The (VM, device) pairs whose dumps are taken; any other dump is refused at its begin
    /// line and its sectors are not kept.
    targets: Vec<(String, String)>,
    open: Vec<OpenDump>,
    done: Vec<Result<DiskDump, DumpError>>,
}

impl DumpCollector {
    /// A collector that has seen nothing and takes the dumps of `targets` only.
    pub fn new(targets: &[WriteBackTarget]) -> Self {
        Self {
            targets: targets
                .iter()
                .map(|target| (target.vm.clone(), target.device.clone()))
                .collect(),
            open: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Sectors held for dumps not yet ended.
    #[cfg(test)]
    pub(super) fn buffered_sectors(&self) -> usize {
        self.open.iter().map(|dump| dump.dirty.len()).sum()
    }

    /// Whether the dump of `vm`'s `device` has somewhere to go.
    fn has_target(&self, vm: &str, device: &str) -> bool {
        self.targets
            .iter()
            .any(|(target_vm, target_device)| target_vm == vm && target_device == device)
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
                let dump = if self.has_target(vm, device) {
                    begin(vm, device, fields)
                } else {
                    OpenDump::broken(vm, device, DumpProblem::NoTarget)
                };
                self.open.push(dump);
                LineKind::Header
            }
            REFUSED => {
                if let Some(index) = position {
                    let earlier = self.open.remove(index);
                    self.done.push(Err(earlier.error(DumpProblem::NoEndLine)));
                }
                self.done.push(Err(DumpError {
                    vm: vm.to_string(),
                    device: device.to_string(),
                    problem: refused(fields),
                }));
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

/// Why the kernel printed a refused line with `fields` (`dirty=N max=M`) instead of a dump.
fn refused(fields: &[&str]) -> DumpProblem {
    match (
        field(fields.first(), DIRTY_FIELD).and_then(|value| value.parse::<u64>().ok()),
        field(fields.get(1), MAX_FIELD).and_then(|value| value.parse::<u64>().ok()),
        fields.get(2),
    ) {
        (Some(dirty), Some(max), None) => DumpProblem::KernelRefused { dirty, max },
        _ => DumpProblem::Malformed(format!(
            "refused line must be `{REFUSED} {DIRTY_FIELD}N {MAX_FIELD}M`"
        )),
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
        hash: FNV_OFFSET_BASIS,
        problem: None,
    }
}

/// The dumps in a whole console text (a NUL byte at its start and other lines in between are
/// fine), taking those of `targets` only.
pub fn parse(text: &str, targets: &[WriteBackTarget]) -> Vec<Result<DiskDump, DumpError>> {
    let mut collector = DumpCollector::new(targets);
    for line in text.lines() {
        collector.line(line.trim_start_matches('\0').trim_end_matches('\r'));
    }
    collector.finish()
}
