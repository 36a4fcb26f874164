//! A [`MemoryDisk`] that remembers which sectors the guest wrote ([`TrackedDisk`]), and the
//! text dump of those sectors the hypervisor prints on its console when the VM ends
//! ([`dump_lines`]) so that the host tool can write them back into the image file.
//!
//! # Dump format (one line each, parsed by the host tool's `disk_writeback`)
//! ```text
//! HV-DISK <vm> <device> begin sectors=<disk sectors> dirty=<N>
//! HV-DISK <vm> <device> <sector> <1024 lowercase hex digits: the sector's 512 bytes>   (N lines)
//! HV-DISK <vm> <device> end dirty=<N> fnv1a=<16 lowercase hex digits>
//! ```
//! Sectors come in ascending order. The checksum is FNV-1a (64-bit) over, for every dumped
//! sector in order, its number as 8 little-endian bytes followed by its 512 bytes; the host
//! applies a dump only when it is complete and the checksum matches.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use super::block_backend::{BlockBackend, BlockError, MemoryDisk, SECTOR_BYTES};

/// What every dump line starts with.
pub const DUMP_PREFIX: &str = "HV-DISK";
/// FNV-1a 64-bit offset basis (Fowler–Noll–Vo, IETF draft-eastlake-fnv §2).
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Bits per bitmap word.
const WORD_BITS: u64 = u64::BITS as u64;

/// An in-memory disk with a bitmap of the sectors written since it was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedDisk {
    disk: MemoryDisk,
    dirty: Vec<u64>,
}

impl TrackedDisk {
    /// Tracks writes to `disk` (none so far).
    pub fn new(disk: MemoryDisk) -> Self {
        let words = disk.sectors().div_ceil(WORD_BITS);
        TrackedDisk {
            dirty: vec![0; usize::try_from(words).unwrap_or(0)],
            disk,
        }
    }

    /// The disk's bytes as they are now.
    pub fn bytes(&self) -> &[u8] {
        self.disk.bytes()
    }

    /// The written sectors, ascending.
    pub fn dirty_sectors(&self) -> impl Iterator<Item = u64> + '_ {
        self.dirty.iter().enumerate().flat_map(|(index, word)| {
            (0..WORD_BITS)
                .filter(move |bit| word & (1 << bit) != 0)
                .map(move |bit| index as u64 * WORD_BITS + bit)
        })
    }

    /// How many sectors were written.
    pub fn dirty_count(&self) -> u64 {
        self.dirty
            .iter()
            .map(|word| u64::from(word.count_ones()))
            .sum()
    }

    /// The 512 bytes of `sector` (empty past the end).
    pub fn sector(&self, sector: u64) -> &[u8] {
        let start = usize::try_from(sector)
            .ok()
            .and_then(|s| s.checked_mul(SECTOR_BYTES));
        start
            .and_then(|start| self.bytes().get(start..start.checked_add(SECTOR_BYTES)?))
            .unwrap_or(&[])
    }

    fn mark(&mut self, first: u64, count: u64) {
        for sector in first..first.saturating_add(count) {
            if let Some(word) = usize::try_from(sector / WORD_BITS)
                .ok()
                .and_then(|index| self.dirty.get_mut(index))
            {
                *word |= 1 << (sector % WORD_BITS);
            }
        }
    }
}

impl BlockBackend for TrackedDisk {
    fn sectors(&self) -> u64 {
        self.disk.sectors()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.disk.read(sector, buf)
    }
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        self.disk.write(sector, data)?;
        self.mark(sector, (data.len() / SECTOR_BYTES) as u64);
        Ok(())
    }
}

/// FNV-1a over `bytes`, continuing from `hash`.
pub fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
    })
}

/// The dump of `disk`'s written sectors as console lines (see the module docs); nothing when
/// the guest wrote nothing.
pub fn dump_lines<'a>(
    vm: &'a str,
    device: &'a str,
    disk: &'a TrackedDisk,
) -> impl Iterator<Item = String> + 'a {
    let dirty = disk.dirty_count();
    let begin = (dirty > 0).then(|| {
        format!(
            "{DUMP_PREFIX} {vm} {device} begin sectors={} dirty={dirty}",
            disk.sectors()
        )
    });
    let body = disk.dirty_sectors().map(move |sector| {
        let mut line = String::with_capacity(DUMP_PREFIX.len() + 32 + 2 * SECTOR_BYTES);
        let _ = write!(line, "{DUMP_PREFIX} {vm} {device} {sector} ");
        for byte in disk.sector(sector) {
            let _ = write!(line, "{byte:02x}");
        }
        line
    });
    let end = (dirty > 0).then(move || {
        let hash = disk.dirty_sectors().fold(FNV_OFFSET_BASIS, |hash, sector| {
            fnv1a(fnv1a(hash, &sector.to_le_bytes()), disk.sector(sector))
        });
        format!("{DUMP_PREFIX} {vm} {device} end dirty={dirty} fnv1a={hash:016x}")
    });
    begin.into_iter().chain(body).chain(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(sectors: usize) -> TrackedDisk {
        TrackedDisk::new(MemoryDisk::zeroed(sectors).unwrap())
    }

    #[test]
    fn writes_mark_exactly_their_sectors() {
        let mut disk = disk(200);
        assert_eq!(disk.dirty_count(), 0);
        disk.write(3, &[1; 2 * SECTOR_BYTES]).unwrap();
        disk.write(130, &[2; SECTOR_BYTES]).unwrap();
        disk.write(3, &[4; SECTOR_BYTES]).unwrap();
        assert_eq!(disk.dirty_sectors().collect::<Vec<_>>(), [3, 4, 130]);
        assert_eq!(disk.dirty_count(), 3);
        assert_eq!(disk.sector(3), &[4; SECTOR_BYTES][..]);
        assert_eq!(disk.sector(4), &[1; SECTOR_BYTES][..]);
        assert!(disk.sector(200).is_empty());
    }

    #[test]
    fn refused_writes_and_reads_mark_nothing() {
        let mut disk = disk(4);
        assert!(disk.write(4, &[0; SECTOR_BYTES]).is_err());
        assert!(disk.write(0, &[0; 3]).is_err());
        let mut buf = [0; SECTOR_BYTES];
        disk.read(1, &mut buf).unwrap();
        assert_eq!(disk.dirty_count(), 0);
    }

    #[test]
    fn an_unwritten_disk_dumps_nothing() {
        let disk = disk(8);
        assert_eq!(dump_lines("vm", "disk", &disk).count(), 0);
    }

    #[test]
    fn dump_has_begin_sector_lines_and_a_checksummed_end() {
        let mut disk = disk(8);
        let mut data = [0u8; SECTOR_BYTES];
        data[0] = 0xAB;
        data[511] = 0x01;
        disk.write(5, &data).unwrap();
        disk.write(2, &[0xFF; SECTOR_BYTES]).unwrap();
        let lines: Vec<String> = dump_lines("debian", "disk", &disk).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "HV-DISK debian disk begin sectors=8 dirty=2");
        assert!(lines[1].starts_with("HV-DISK debian disk 2 ffff"));
        assert_eq!(lines[1].len(), "HV-DISK debian disk 2 ".len() + 1024);
        assert!(lines[2].starts_with("HV-DISK debian disk 5 ab00"));
        assert!(lines[2].ends_with("0001"));
        let mut expected = FNV_OFFSET_BASIS;
        for (sector, bytes) in [(2u64, [0xFF; SECTOR_BYTES]), (5, data)] {
            expected = fnv1a(expected, &sector.to_le_bytes());
            expected = fnv1a(expected, &bytes);
        }
        assert_eq!(
            lines[3],
            format!("HV-DISK debian disk end dirty=2 fnv1a={expected:016x}")
        );
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // draft-eastlake-fnv test vectors for FNV-1a 64.
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"foobar"), 0x8594_4171_f739_67e8);
    }
}
