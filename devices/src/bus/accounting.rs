//! Per-device accounting: what each device obtained through its context (operations 10, 16,
//! 18–21 and its claims), so that removal (operation 14) can release all of it and prove that
//! nothing is left.
//!
//! Every collection here is bounded by the bus's [`Limits`]: a device (and through it a guest)
//! cannot make the ledger grow past them.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::interface::{CriticalSectionId, Region};

/// Caps on what one device may hold, and on the bus as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Devices on one bus at once.
    pub max_devices: usize,
    /// Timers one device may hold.
    pub timers_per_device: usize,
    /// Critical sections one device may hold.
    pub critical_sections_per_device: usize,
    /// Regions (port ranges, MMIO ranges, PCI functions) one device may claim.
    pub claims_per_device: usize,
    /// Live allocations one device may hold.
    pub allocations_per_device: usize,
    /// Bytes one device may hold.
    pub alloc_bytes_per_device: usize,
    /// The shortest timer period the VMM serves, in nanoseconds.
    pub min_timer_period: u64,
}

impl Limits {
    /// Defaults: generous for the PC models, small enough that a misbehaving device is stopped
    /// early.
    pub const DEFAULT: Limits = Limits {
        max_devices: 256,
        timers_per_device: 8,
        critical_sections_per_device: 8,
        claims_per_device: 32,
        allocations_per_device: 64,
        alloc_bytes_per_device: 4 << 20,
        min_timer_period: 1_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// What one device holds now.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Allocation id → size.
    pub(crate) allocations: BTreeMap<u64, usize>,
    pub(crate) bytes: usize,
    pub(crate) timers: usize,
    /// Critical section → entered.
    pub(crate) sections: BTreeMap<CriticalSectionId, bool>,
    pub(crate) claims: Vec<Region>,
}

impl Ledger {
    pub(crate) fn snapshot(&self) -> Holdings {
        Holdings {
            allocations: self.allocations.len(),
            bytes: self.bytes,
            timers: self.timers,
            critical_sections: self.sections.len(),
            entered_critical_sections: self.sections.values().filter(|e| **e).count(),
            claims: self.claims.len(),
        }
    }
}

/// A count of what a device (or the whole bus) holds: all zero after removal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Live allocations (operation 16 minus 17).
    pub allocations: usize,
    /// Bytes in those allocations.
    pub bytes: usize,
    /// Connected timers (operation 10).
    pub timers: usize,
    /// Critical sections created and not removed (operations 18, 21).
    pub critical_sections: usize,
    /// Of those, how many are entered now (operations 19, 20).
    pub entered_critical_sections: usize,
    /// Claimed regions.
    pub claims: usize,
}

impl Holdings {
    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        *self == Holdings::default()
    }

    pub(crate) fn add(&mut self, other: &Holdings) {
        self.allocations = self.allocations.saturating_add(other.allocations);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.timers = self.timers.saturating_add(other.timers);
        self.critical_sections = self
            .critical_sections
            .saturating_add(other.critical_sections);
        self.entered_critical_sections = self
            .entered_critical_sections
            .saturating_add(other.entered_critical_sections);
        self.claims = self.claims.saturating_add(other.claims);
    }
}
