//! Base address registers (PCI Local Bus Specification 3.0, §6.2.5.1): what a BAR maps, how big
//! it is, and how its register reads back.
//!
//! A BAR's size is a power of two; the register's address bits below the size are hard-wired
//! to zero, so writing all-ones and reading back yields the size mask. I/O BARs decode 16-bit
//! ports only (the upper 16 bits are hard-wired to zero, as the specification allows for x86
//! devices), so every programmed I/O BAR names a valid port range or none.

use crate::interface::{MmioRange, PortRange, Region};
use crate::pci::regs::{BAR_COUNT, BAR_IO_SPACE, BAR_MEMORY_64, BAR_PREFETCHABLE};

/// What a BAR maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    /// I/O ports.
    Io,
    /// Memory below 4 GiB.
    Memory32 { prefetchable: bool },
    /// Memory anywhere; occupies this BAR and the next (the upper 32 address bits).
    Memory64 { prefetchable: bool },
}

/// Why a BAR layout was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarError {
    /// Not a power of two, or outside the kind's limits.
    BadSize(u64),
    /// No BAR with this index (0–5), or a 64-bit BAR in BAR5 (no upper half).
    BadIndex(usize),
    /// The BAR (or a 64-bit BAR's upper half) is already defined.
    Taken(usize),
}

/// A BAR's kind and size, validated at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    kind: BarKind,
    size: u64,
}

/// Smallest I/O BAR (the two flag bits leave 4-port granularity).
pub const MIN_IO_SIZE: u64 = 4;
/// Largest I/O BAR the specification allows.
pub const MAX_IO_SIZE: u64 = 256;
/// Smallest memory BAR (the four flag bits leave 16-byte granularity).
pub const MIN_MEMORY_SIZE: u64 = 16;
/// Largest 32-bit memory BAR.
pub const MAX_MEMORY32_SIZE: u64 = 1 << 31;
/// Largest 64-bit memory BAR.
pub const MAX_MEMORY64_SIZE: u64 = 1 << 63;
/// Address bits an I/O BAR implements (16-bit ports).
const IO_ADDRESS_BITS: u64 = 0xFFFF;
/// Address bits a 32-bit memory BAR implements.
const MEMORY32_ADDRESS_BITS: u64 = 0xFFFF_FFFF;

impl Bar {
    fn new(kind: BarKind, size: u64, min: u64, max: u64) -> Result<Self, BarError> {
        if !size.is_power_of_two() || size < min || size > max {
            return Err(BarError::BadSize(size));
        }
        Ok(Bar { kind, size })
    }
    /// An I/O BAR of `size` ports (4–256, a power of two).
    pub fn io(size: u64) -> Result<Self, BarError> {
        Self::new(BarKind::Io, size, MIN_IO_SIZE, MAX_IO_SIZE)
    }
    /// A 32-bit memory BAR of `size` bytes (16 B – 2 GiB, a power of two).
    pub fn memory32(size: u64, prefetchable: bool) -> Result<Self, BarError> {
        Self::new(
            BarKind::Memory32 { prefetchable },
            size,
            MIN_MEMORY_SIZE,
            MAX_MEMORY32_SIZE,
        )
    }
    /// A 64-bit memory BAR of `size` bytes (16 B – 2^63, a power of two).
    pub fn memory64(size: u64, prefetchable: bool) -> Result<Self, BarError> {
        Self::new(
            BarKind::Memory64 { prefetchable },
            size,
            MIN_MEMORY_SIZE,
            MAX_MEMORY64_SIZE,
        )
    }

    /// What it maps.
    pub fn kind(&self) -> BarKind {
        self.kind
    }
    /// Its size in bytes (ports).
    pub fn size(&self) -> u64 {
        self.size
    }
    /// BAR registers it occupies (2 for 64-bit memory).
    pub fn registers(&self) -> usize {
        match self.kind {
            BarKind::Memory64 { .. } => 2,
            BarKind::Io | BarKind::Memory32 { .. } => 1,
        }
    }
    /// Whether the command register's I/O-space bit (rather than memory-space) enables it.
    pub fn is_io(&self) -> bool {
        self.kind == BarKind::Io
    }

    /// The read-only low bits of the register.
    pub fn flags(&self) -> u32 {
        match self.kind {
            BarKind::Io => BAR_IO_SPACE,
            BarKind::Memory32 { prefetchable } => prefetch_bit(prefetchable),
            BarKind::Memory64 { prefetchable } => BAR_MEMORY_64 | prefetch_bit(prefetchable),
        }
    }

    /// The address bits the guest can write (over both registers of a 64-bit BAR).
    pub fn address_mask(&self) -> u64 {
        let implemented = match self.kind {
            BarKind::Io => IO_ADDRESS_BITS,
            BarKind::Memory32 { .. } => MEMORY32_ADDRESS_BITS,
            BarKind::Memory64 { .. } => u64::MAX,
        };
        !(self.size - 1) & implemented
    }

    /// The region the BAR decodes when programmed to `address`, or `None` if it would run past
    /// the end of its address space.
    pub fn region(&self, address: u64) -> Option<Region> {
        match self.kind {
            BarKind::Io => {
                let start = u16::try_from(address).ok()?;
                let len = u16::try_from(self.size).ok()?;
                PortRange::new(start, len).ok().map(Region::Pio)
            }
            BarKind::Memory32 { .. } | BarKind::Memory64 { .. } => {
                MmioRange::new(address, self.size).ok().map(Region::Mmio)
            }
        }
    }
}

fn prefetch_bit(prefetchable: bool) -> u32 {
    if prefetchable { BAR_PREFETCHABLE } else { 0 }
}

/// Checks that `index` can hold `bar` given which registers are already used.
pub(crate) fn check_slot(
    used: &[bool; BAR_COUNT],
    index: usize,
    bar: &Bar,
) -> Result<(), BarError> {
    let end = index
        .checked_add(bar.registers())
        .ok_or(BarError::BadIndex(index))?;
    if end > BAR_COUNT {
        return Err(BarError::BadIndex(index));
    }
    match (index..end).find(|i| used[*i]) {
        Some(taken) => Err(BarError::Taken(taken)),
        None => Ok(()),
    }
}
