//! The bus's address maps: which owner answers each I/O port, guest-physical address and PCI
//! function.
//!
//! Each space is kept sorted by the first address of each claimed range. Claims never overlap
//! (checked on insertion), so the owner of an address is the entry with the greatest start at
//! or below it, if that entry's range reaches the address: one O(log n) bisection. PCI
//! functions are a `BTreeMap` keyed by bus/device/function.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::interface::{Bdf, ClaimError, Gpa, MmioRange, PortRange, Region};

/// Who answers accesses to a claimed region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The device in this bus slot.
    Device(u32),
    /// The bus's own PCI configuration mechanism #1 (ports 0xCF8–0xCFF).
    ConfigIo,
    /// The bus's own PCI Express enhanced configuration window (ECAM).
    Ecam,
}

/// A non-empty inclusive range of some address type.
pub(crate) trait Span: Copy {
    type Addr: Ord + Copy;
    fn first(&self) -> Self::Addr;
    fn last(&self) -> Self::Addr;
}

impl Span for PortRange {
    type Addr = u16;
    fn first(&self) -> u16 {
        PortRange::first(self)
    }
    fn last(&self) -> u16 {
        PortRange::last(self)
    }
}

impl Span for MmioRange {
    type Addr = Gpa;
    fn first(&self) -> Gpa {
        MmioRange::first(self)
    }
    fn last(&self) -> Gpa {
        MmioRange::last(self)
    }
}

/// Non-overlapping ranges of one address space, each with its owner, sorted by first address.
///
/// A sorted vector searched by bisection: lookups are O(log n) without the pointer chasing of
/// a tree (the access path's hot spot); insertion and removal are O(n) but happen only when a
/// device is installed or a BAR is programmed, and `n` is bounded by the bus's limits.
#[derive(Debug)]
pub(crate) struct RangeMap<R: Span> {
    entries: Vec<(R, Owner)>,
}

impl<R: Span> RangeMap<R> {
    pub(crate) const fn new() -> Self {
        RangeMap {
            entries: Vec::new(),
        }
    }

    /// The entry with the greatest start at or below `addr`.
    #[inline]
    fn floor(&self, addr: R::Addr) -> Option<&(R, Owner)> {
        let after = self
            .entries
            .partition_point(|(range, _)| range.first() <= addr);
        after.checked_sub(1).and_then(|i| self.entries.get(i))
    }

    /// The claim containing `addr`.
    #[inline]
    pub(crate) fn lookup(&self, addr: R::Addr) -> Option<(R, Owner)> {
        let &(range, owner) = self.floor(addr)?;
        (addr <= range.last()).then_some((range, owner))
    }

    /// The existing claim `range` would overlap, if any. Claims never overlap each other, so
    /// only the last one starting at or before `range`'s end can.
    pub(crate) fn conflict(&self, range: &R) -> Option<R> {
        let &(existing, _) = self.floor(range.last())?;
        (existing.last() >= range.first()).then_some(existing)
    }

    pub(crate) fn insert(&mut self, range: R, owner: Owner) -> Result<(), R> {
        if let Some(existing) = self.conflict(&range) {
            return Err(existing);
        }
        let at = self
            .entries
            .partition_point(|(r, _)| r.first() < range.first());
        self.entries.insert(at, (range, owner));
        Ok(())
    }

    /// Removes `range` if it is claimed exactly so by `owner`.
    pub(crate) fn remove(&mut self, range: &R, owner: Owner) -> bool {
        let at = self
            .entries
            .partition_point(|(r, _)| r.first() < range.first());
        match self.entries.get(at) {
            Some(&(existing, o))
                if existing.first() == range.first()
                    && existing.last() == range.last()
                    && o == owner =>
            {
                self.entries.remove(at);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// All three address spaces of one VM.
#[derive(Debug)]
pub(crate) struct ClaimMaps {
    pub(crate) pio: RangeMap<PortRange>,
    pub(crate) mmio: RangeMap<MmioRange>,
    pub(crate) pci: BTreeMap<Bdf, Owner>,
}

impl ClaimMaps {
    pub(crate) const fn new() -> Self {
        ClaimMaps {
            pio: RangeMap::new(),
            mmio: RangeMap::new(),
            pci: BTreeMap::new(),
        }
    }

    /// Claims `region` for `owner`, refusing any overlap with an existing claim.
    pub(crate) fn insert(&mut self, region: Region, owner: Owner) -> Result<(), ClaimError> {
        match region {
            Region::Pio(range) => self
                .pio
                .insert(range, owner)
                .map_err(|r| ClaimError::Overlap(Region::Pio(r))),
            Region::Mmio(range) => self
                .mmio
                .insert(range, owner)
                .map_err(|r| ClaimError::Overlap(Region::Mmio(r))),
            Region::Pci(bdf) => {
                if self.pci.contains_key(&bdf) {
                    return Err(ClaimError::Overlap(region));
                }
                self.pci.insert(bdf, owner);
                Ok(())
            }
        }
    }

    /// Releases `region` if `owner` claimed exactly it.
    pub(crate) fn remove(&mut self, region: Region, owner: Owner) -> Result<(), ClaimError> {
        let removed = match region {
            Region::Pio(range) => self.pio.remove(&range, owner),
            Region::Mmio(range) => self.mmio.remove(&range, owner),
            Region::Pci(bdf) => {
                let held = self.pci.get(&bdf) == Some(&owner);
                if held {
                    self.pci.remove(&bdf);
                }
                held
            }
        };
        if removed {
            Ok(())
        } else {
            Err(ClaimError::NotClaimed(region))
        }
    }

    /// The owner of an exact region, if claimed exactly so.
    pub(crate) fn owner_of(&self, region: &Region) -> Option<Owner> {
        match region {
            Region::Pio(range) => self
                .pio
                .lookup(range.first())
                .filter(|(r, _)| r == range)
                .map(|(_, o)| o),
            Region::Mmio(range) => self
                .mmio
                .lookup(range.first())
                .filter(|(r, _)| r == range)
                .map(|(_, o)| o),
            Region::Pci(bdf) => self.pci.get(bdf).copied(),
        }
    }

    /// Number of claims in all spaces.
    pub(crate) fn len(&self) -> usize {
        self.pio.len() + self.mmio.len() + self.pci.len()
    }
}
