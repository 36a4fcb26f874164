//! What a mediated device remembers: a counter per decision and a bounded ring of the last
//! [`LOG_CAPACITY`] recorded accesses, drained by the VMM.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use super::policy::{AccessSize, Action, Decision};

/// Recorded accesses kept before the oldest is overwritten.
pub const LOG_CAPACITY: usize = 64;

/// One recorded access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRecord {
    /// The port the access started at.
    pub port: u16,
    /// Its width in bytes: 1, 2 or 4 (an access of another width is recorded with its byte
    /// count, up to 8, and always denied).
    pub size: u8,
    /// `true` for a guest write (`out`), `false` for a read (`in`).
    pub write: bool,
    /// The value entering the mediator: the guest's value on a write (its low four bytes for a
    /// wider, always denied, access); the host device's on a read (`None` when the host was
    /// not read because the read was denied).
    pub value_in: Option<u32>,
    /// The value leaving it: what reached the host device on a write (`None` when the write was
    /// denied); what the guest got on a read.
    pub value_out: Option<u32>,
    /// The action taken.
    pub action: Action,
    /// The 0-based index of the rule that decided; `None` for the default deny (no rule
    /// matched, or a width other than 1, 2 or 4).
    pub rule: Option<usize>,
}

impl fmt::Display for AccessRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let direction = if self.write { "out" } else { "in" };
        write!(f, "{direction} port {:#06x} size {}", self.port, self.size)?;
        match self.value_in {
            Some(value) => write!(f, " value {value:#x}")?,
            None => write!(f, " value -")?,
        }
        match self.value_out {
            Some(value) => write!(f, " -> {value:#x}")?,
            None => write!(f, " -> -")?,
        }
        match self.rule {
            Some(rule) => write!(f, " ({:?} by rule {rule})", self.action),
            None => write!(f, " ({:?}: no rule)", self.action),
        }
    }
}

/// How many accesses took each path. Every access counts in exactly one of `allowed`,
/// `logged`, `rewritten`, `denied`; `unmatched` and `bad_size` break `denied` down further.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediationCounters {
    /// Passed by an [`Action::Allow`] rule.
    pub allowed: u64,
    /// Passed and recorded by an [`Action::Log`] rule.
    pub logged: u64,
    /// Passed rewritten by an [`Action::Rewrite`] rule.
    pub rewritten: u64,
    /// Kept from the host device (a [`Action::Deny`] rule, no rule, or a bad width).
    pub denied: u64,
    /// Of `denied`: no rule matched.
    pub unmatched: u64,
    /// Of `denied`: a width other than 1, 2 or 4 bytes.
    pub bad_size: u64,
    /// Records pushed out of the ring before the VMM drained them.
    pub records_overwritten: u64,
}

impl MediationCounters {
    /// Counts one decision.
    pub fn count(&mut self, decision: Decision, size: Option<AccessSize>) {
        let slot = match decision.action {
            Action::Allow => &mut self.allowed,
            Action::Log => &mut self.logged,
            Action::Rewrite { .. } => &mut self.rewritten,
            Action::Deny => &mut self.denied,
        };
        *slot = slot.saturating_add(1);
        if size.is_none() {
            self.bad_size = self.bad_size.saturating_add(1);
        } else if decision.rule.is_none() {
            self.unmatched = self.unmatched.saturating_add(1);
        }
    }

    /// Every access decided so far.
    pub fn total(&self) -> u64 {
        self.allowed
            .saturating_add(self.logged)
            .saturating_add(self.rewritten)
            .saturating_add(self.denied)
    }
}

/// The bounded ring of recent records.
#[derive(Debug, Clone, Default)]
pub struct AccessLog {
    records: VecDeque<AccessRecord>,
}

impl AccessLog {
    /// An empty ring.
    pub fn new() -> Self {
        AccessLog {
            records: VecDeque::with_capacity(LOG_CAPACITY),
        }
    }

    /// Adds a record; returns `true` if the oldest one was overwritten to make room.
    pub fn push(&mut self, record: AccessRecord) -> bool {
        let overwritten = self.records.len() >= LOG_CAPACITY;
        if overwritten {
            self.records.pop_front();
        }
        self.records.push_back(record);
        overwritten
    }

    /// The records held, oldest first (at most [`LOG_CAPACITY`]).
    pub fn records(&self) -> &VecDeque<AccessRecord> {
        &self.records
    }

    /// Takes every record, oldest first, leaving the ring empty.
    pub fn take(&mut self) -> Vec<AccessRecord> {
        self.records.drain(..).collect()
    }
}
