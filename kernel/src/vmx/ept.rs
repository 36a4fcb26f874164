//! Extended page tables: a 4-level guest-physical → host-physical map (Intel SDM Vol. 3C, 29.3
//! "The extended page table mechanism"). Write-back memory type, 2 MiB pages wherever both
//! addresses and the remaining length allow, 4 KiB pages elsewhere.
//!
//! Pure bookkeeping over a [`TableMemory`] so it is unit-tested on the host; the kernel backs
//! it with frames reached through the physical-memory window.

use alloc::vec::Vec;
use bitflags::bitflags;

/// Entries per EPT table.
pub const ENTRIES: usize = 512;
/// A 4 KiB page.
pub const PAGE_4K: u64 = 1 << 12;
/// A 2 MiB page (a PD-level leaf).
pub const PAGE_2M: u64 = 1 << 21;
/// Guest-physical addresses a 4-level walk covers (48 bits).
pub const GPA_LIMIT: u64 = 1 << 48;
/// Bits 51:12 of an entry: the physical address it points to.
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
/// EPTP bits 2:0: memory type of the paging structures (6 = write-back).
const EPTP_MEMORY_TYPE_WB: u64 = 6;
/// EPTP bits 5:3: page-walk length minus one.
const EPTP_WALK_LENGTH_4: u64 = 3 << 3;
/// EPTP bit 6: enable accessed/dirty flags.
const EPTP_ACCESSED_DIRTY: u64 = 1 << 6;

bitflags! {
    /// EPT entry bits (SDM Vol. 3C, tables 29-1 to 29-6).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct EptFlags: u64 {
        /// Reads allowed.
        const READ = 1 << 0;
        /// Writes allowed.
        const WRITE = 1 << 1;
        /// Instruction fetches allowed.
        const EXECUTE = 1 << 2;
        /// Leaf memory type write-back (bits 5:3 = 6).
        const MEMORY_TYPE_WB = 6 << 3;
        /// Leaf: ignore the guest PAT.
        const IGNORE_PAT = 1 << 6;
        /// A PD/PDPT entry that maps a page instead of pointing to a table.
        const LARGE_PAGE = 1 << 7;
        /// Set by the CPU when the entry was used (with A/D enabled).
        const ACCESSED = 1 << 8;
        /// Set by the CPU when the page was written (with A/D enabled).
        const DIRTY = 1 << 9;
    }
}

impl EptFlags {
    /// Read, write and execute.
    pub const RWX: EptFlags = EptFlags::READ
        .union(EptFlags::WRITE)
        .union(EptFlags::EXECUTE);
}

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EptError {
    /// Addresses and sizes must be 4 KiB multiples.
    Misaligned { gpa: u64, hpa: u64, size: u64 },
    /// The range ends beyond 2^48.
    OutOfRange { gpa: u64, size: u64 },
    /// Part of the range is mapped already.
    AlreadyMapped { gpa: u64 },
    /// No memory for another table.
    OutOfTables,
}

/// Where EPT tables live.
pub trait TableMemory {
    /// A zeroed 4 KiB table; its physical address.
    fn allocate_table(&mut self) -> Option<u64>;
    /// The entries of the table at `physical` (one this memory allocated).
    fn table(&mut self, physical: u64) -> &mut [u64; ENTRIES];
    /// Give a table back.
    fn free_table(&mut self, physical: u64);
}

/// One VM's EPT hierarchy.
pub struct Ept<M: TableMemory> {
    memory: M,
    root: u64,
    tables: Vec<u64>,
}

/// What a guest-physical address maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    pub hpa: u64,
    pub flags: EptFlags,
    pub page_size: u64,
}

fn index(gpa: u64, level: u32) -> usize {
    ((gpa >> (12 + 9 * level)) & (ENTRIES as u64 - 1)) as usize
}

impl<M: TableMemory> Ept<M> {
    /// An empty hierarchy (one PML4 table).
    pub fn new(mut memory: M) -> Result<Self, EptError> {
        let root = memory.allocate_table().ok_or(EptError::OutOfTables)?;
        Ok(Ept {
            memory,
            root,
            tables: alloc::vec![root],
        })
    }

    /// The EPT pointer for the VMCS: write-back tables, 4-level walk, optional A/D flags.
    pub fn eptp(&self, accessed_dirty: bool) -> u64 {
        let ad = if accessed_dirty {
            EPTP_ACCESSED_DIRTY
        } else {
            0
        };
        self.root | EPTP_MEMORY_TYPE_WB | EPTP_WALK_LENGTH_4 | ad
    }

    /// Tables in use (PML4 included).
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// Map `[gpa, gpa+size)` to `[hpa, hpa+size)` with `access` (a subset of RWX); leaves are
    /// write-back. Uses 2 MiB pages where both sides are 2 MiB aligned and 2 MiB remain.
    pub fn map(&mut self, gpa: u64, hpa: u64, size: u64, access: EptFlags) -> Result<(), EptError> {
        self.map_typed(gpa, hpa, size, access, EptFlags::MEMORY_TYPE_WB)
    }

    /// Map a host device's memory (passthrough): as [`map`](Self::map), but uncacheable
    /// (memory type 0), as device registers must be.
    pub fn map_device(&mut self, gpa: u64, hpa: u64, size: u64) -> Result<(), EptError> {
        self.map_typed(
            gpa,
            hpa,
            size,
            EptFlags::READ | EptFlags::WRITE,
            EptFlags::empty(),
        )
    }

    fn map_typed(
        &mut self,
        gpa: u64,
        hpa: u64,
        size: u64,
        access: EptFlags,
        memory_type: EptFlags,
    ) -> Result<(), EptError> {
        if !(gpa | hpa | size).is_multiple_of(PAGE_4K) || size == 0 {
            return Err(EptError::Misaligned { gpa, hpa, size });
        }
        let end = gpa.checked_add(size).filter(|&end| end <= GPA_LIMIT);
        if end.is_none() || hpa.checked_add(size).is_none() {
            return Err(EptError::OutOfRange { gpa, size });
        }
        // Refuse overlaps before changing anything.
        let mut probe = gpa;
        while probe < gpa + size {
            if self.translate(probe).is_some() {
                return Err(EptError::AlreadyMapped { gpa: probe });
            }
            probe += PAGE_4K;
        }
        let leaf_flags = (access & EptFlags::RWX) | memory_type;
        let mut offset = 0;
        while offset < size {
            let (g, h) = (gpa + offset, hpa + offset);
            let large = g % PAGE_2M == 0 && h % PAGE_2M == 0 && size - offset >= PAGE_2M;
            let (level, page) = if large { (1, PAGE_2M) } else { (0, PAGE_4K) };
            let table = self.walk_to(g, level)?;
            let extra = if large {
                EptFlags::LARGE_PAGE
            } else {
                EptFlags::empty()
            };
            self.memory.table(table)[index(g, level)] = h | (leaf_flags | extra).bits();
            offset += page;
        }
        Ok(())
    }

    /// Remove the mappings of `[gpa, gpa+size)` (4 KiB granular; a 2 MiB page partly inside
    /// is split first). Unmapped parts are skipped.
    pub fn unmap(&mut self, gpa: u64, size: u64) -> Result<(), EptError> {
        if !(gpa | size).is_multiple_of(PAGE_4K) {
            return Err(EptError::Misaligned { gpa, hpa: 0, size });
        }
        let end = gpa
            .checked_add(size)
            .filter(|&e| e <= GPA_LIMIT)
            .ok_or(EptError::OutOfRange { gpa, size })?;
        let mut address = gpa;
        while address < end {
            match self.translate(address) {
                None => address += PAGE_4K,
                Some(t) if t.page_size == PAGE_2M => {
                    let base = address & !(PAGE_2M - 1);
                    let table = self.walk_to(base, 1)?;
                    if base >= address && base + PAGE_2M <= end {
                        self.memory.table(table)[index(base, 1)] = 0;
                        address = base + PAGE_2M;
                    } else {
                        let page_base = Translation {
                            hpa: t.hpa - (address - base),
                            ..t
                        };
                        self.split_large(table, base, page_base)?;
                    }
                }
                Some(_) => {
                    let table = self.walk_to(address, 0)?;
                    self.memory.table(table)[index(address, 0)] = 0;
                    address += PAGE_4K;
                }
            }
        }
        Ok(())
    }

    fn split_large(&mut self, pd: u64, base: u64, large: Translation) -> Result<(), EptError> {
        let pt = self.memory.allocate_table().ok_or(EptError::OutOfTables)?;
        self.tables.push(pt);
        let flags = large.flags & !EptFlags::LARGE_PAGE;
        for (i, entry) in self.memory.table(pt).iter_mut().enumerate() {
            *entry = (large.hpa + i as u64 * PAGE_4K) | flags.bits();
        }
        self.memory.table(pd)[index(base, 1)] = pt | EptFlags::RWX.bits();
        Ok(())
    }

    /// The table at `level` (0 = PT, 1 = PD, 2 = PDPT) for `gpa`, creating tables on the way.
    fn walk_to(&mut self, gpa: u64, level: u32) -> Result<u64, EptError> {
        let mut table = self.root;
        for current in (level + 1..=3).rev() {
            let slot = index(gpa, current);
            let entry = self.memory.table(table)[slot];
            if entry & EptFlags::RWX.bits() == 0 {
                let next = self.memory.allocate_table().ok_or(EptError::OutOfTables)?;
                self.tables.push(next);
                self.memory.table(table)[slot] = next | EptFlags::RWX.bits();
                table = next;
            } else if entry & EptFlags::LARGE_PAGE.bits() != 0 {
                return Err(EptError::AlreadyMapped { gpa });
            } else {
                table = entry & ADDRESS_MASK;
            }
        }
        Ok(table)
    }

    /// Where `gpa` maps to, if anywhere.
    pub fn translate(&mut self, gpa: u64) -> Option<Translation> {
        if gpa >= GPA_LIMIT {
            return None;
        }
        let mut table = self.root;
        for level in (0..=3).rev() {
            let entry = self.memory.table(table)[index(gpa, level)];
            let flags = EptFlags::from_bits_truncate(entry);
            if flags & EptFlags::RWX == EptFlags::empty() {
                return None;
            }
            let page_size = PAGE_4K << (9 * level);
            if level == 0 || (level <= 2 && flags.contains(EptFlags::LARGE_PAGE)) {
                let base = entry & ADDRESS_MASK & !(page_size - 1);
                return Some(Translation {
                    hpa: base + (gpa & (page_size - 1)),
                    flags,
                    page_size,
                });
            }
            table = entry & ADDRESS_MASK;
        }
        None
    }

    /// Give every table back (the VM is gone).
    pub fn release(mut self) -> M {
        for table in core::mem::take(&mut self.tables) {
            self.memory.free_table(table);
        }
        self.memory
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct FakeTables {
        tables: HashMap<u64, Box<[u64; ENTRIES]>>,
        next: u64,
        limit: usize,
        freed: usize,
    }

    impl TableMemory for FakeTables {
        fn allocate_table(&mut self) -> Option<u64> {
            if self.limit != 0 && self.tables.len() >= self.limit {
                return None;
            }
            self.next += PAGE_4K;
            let address = 0x1000_0000 + self.next;
            self.tables.insert(address, Box::new([0; ENTRIES]));
            Some(address)
        }
        fn table(&mut self, physical: u64) -> &mut [u64; ENTRIES] {
            self.tables
                .get_mut(&physical)
                .expect("table allocated by this memory")
        }
        fn free_table(&mut self, physical: u64) {
            self.tables.remove(&physical);
            self.freed += 1;
        }
    }

    #[test]
    fn eptp_has_write_back_and_four_levels() {
        let ept = Ept::new(FakeTables::default()).unwrap();
        assert_eq!(ept.eptp(false) & 0x3f, 0x1e);
        assert_eq!(ept.eptp(true) & 0x7f, 0x5e);
    }

    #[test]
    fn aligned_ram_uses_2m_pages() {
        let mut ept = Ept::new(FakeTables::default()).unwrap();
        ept.map(0, 0x4000_0000, 8 * PAGE_2M, EptFlags::RWX).unwrap();
        // PML4 + PDPT + PD: no page tables needed.
        assert_eq!(ept.table_count(), 3);
        let t = ept.translate(0x0030_1234).unwrap();
        assert_eq!(t.hpa, 0x4030_1234);
        assert_eq!(t.page_size, PAGE_2M);
        assert!(
            t.flags
                .contains(EptFlags::RWX | EptFlags::MEMORY_TYPE_WB | EptFlags::LARGE_PAGE)
        );
        assert_eq!(ept.translate(8 * PAGE_2M), None);
    }

    #[test]
    fn unaligned_ends_fall_back_to_4k_pages() {
        let mut ept = Ept::new(FakeTables::default()).unwrap();
        ept.map(0x1000, 0x20_1000, PAGE_2M + 0x3000, EptFlags::RWX)
            .unwrap();
        let first = ept.translate(0x1000).unwrap();
        assert_eq!((first.hpa, first.page_size), (0x20_1000, PAGE_4K));
        let last = ept.translate(PAGE_2M + 0x3000).unwrap();
        assert_eq!(last.hpa, 0x20_1000 + PAGE_2M + 0x2000);
        assert_eq!(ept.translate(PAGE_2M + 0x4000), None);
        assert_eq!(ept.translate(0), None);
    }

    #[test]
    fn overlaps_and_bad_ranges_are_refused() {
        let mut ept = Ept::new(FakeTables::default()).unwrap();
        ept.map(0, 0, PAGE_2M, EptFlags::RWX).unwrap();
        assert_eq!(
            ept.map(0x1000, 0, PAGE_4K, EptFlags::RWX),
            Err(EptError::AlreadyMapped { gpa: 0x1000 })
        );
        assert_eq!(
            ept.map(0x10, 0, PAGE_4K, EptFlags::RWX),
            Err(EptError::Misaligned {
                gpa: 0x10,
                hpa: 0,
                size: PAGE_4K
            })
        );
        assert_eq!(
            ept.map(GPA_LIMIT - PAGE_4K, 0, 2 * PAGE_4K, EptFlags::RWX),
            Err(EptError::OutOfRange {
                gpa: GPA_LIMIT - PAGE_4K,
                size: 2 * PAGE_4K
            })
        );
        assert!(
            ept.map(u64::MAX - 0xfff, 0, PAGE_4K, EptFlags::RWX)
                .is_err()
        );
    }

    #[test]
    fn unmap_splits_a_large_page() {
        let mut ept = Ept::new(FakeTables::default()).unwrap();
        ept.map(0, 0x80_0000, PAGE_2M, EptFlags::RWX).unwrap();
        ept.unmap(0x5000, PAGE_4K).unwrap();
        assert_eq!(ept.translate(0x5000), None);
        assert_eq!(ept.translate(0x4000).unwrap().hpa, 0x80_4000);
        assert_eq!(ept.translate(0x6000).unwrap().page_size, PAGE_4K);
        ept.map(0x5000, 0x1234_5000, PAGE_4K, EptFlags::READ)
            .unwrap();
        assert_eq!(ept.translate(0x5008).unwrap().hpa, 0x1234_5008);
    }

    #[test]
    fn device_memory_is_uncacheable() {
        let mut ept = Ept::new(FakeTables::default()).unwrap();
        ept.map_device(0xfe00_0000, 0xfd00_0000, PAGE_4K).unwrap();
        let t = ept.translate(0xfe00_0008).unwrap();
        assert_eq!(t.hpa, 0xfd00_0008);
        assert!(
            !t.flags
                .intersects(EptFlags::MEMORY_TYPE_WB | EptFlags::EXECUTE)
        );
    }

    #[test]
    fn running_out_of_tables_is_an_error() {
        let mut ept = Ept::new(FakeTables {
            limit: 2,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            ept.map(0, 0, PAGE_4K, EptFlags::RWX),
            Err(EptError::OutOfTables)
        );
    }

    #[test]
    fn release_frees_every_table() {
        let mut ept = Ept::new(FakeTables::default()).unwrap();
        ept.map(0, 0, 3 * PAGE_2M + PAGE_4K, EptFlags::RWX).unwrap();
        let count = ept.table_count();
        let memory = ept.release();
        assert_eq!(memory.freed, count);
        assert!(memory.tables.is_empty());
    }
}
