//! The bus's periodic timers (operation 10): which device connected each, its period and when
//! it is next due.
//!
//! The VMM calls [`crate::bus::Bus::run_timers`] from its host timer tick with the VM clock;
//! every timer due by then is called back once, with `now`, and rescheduled to its first
//! period boundary after `now` (a late tick covers all missed periods in one call, as
//! [`crate::interface::Device::timer`] specifies). The table is bounded: each device may hold
//! [`crate::bus::Limits::timers_per_device`] timers, and the bus holds at most `max_devices`
//! devices.

use alloc::collections::BTreeMap;

use crate::interface::{Nanos, TimerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timer {
    pub(crate) owner: u32,
    pub(crate) period: Nanos,
    pub(crate) next_due: Nanos,
}

#[derive(Debug)]
pub(crate) struct TimerTable {
    timers: BTreeMap<TimerId, Timer>,
    next_id: u32,
}

impl TimerTable {
    pub(crate) const fn new() -> Self {
        TimerTable {
            timers: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Adds a timer first due at `now + period`. `period` is non-zero (checked by the caller).
    pub(crate) fn connect(&mut self, owner: u32, period: Nanos, now: Nanos) -> TimerId {
        // Ids are never in use twice: skip any still held after the counter wraps. The table is
        // bounded, so this loop ends within `len() + 1` steps.
        let mut id = TimerId(self.next_id);
        while self.timers.contains_key(&id) {
            id = TimerId(id.0.wrapping_add(1));
        }
        self.next_id = id.0.wrapping_add(1);
        self.timers.insert(
            id,
            Timer {
                owner,
                period,
                next_due: now.saturating_add(period),
            },
        );
        id
    }

    /// Removes `id` if `owner` holds it.
    pub(crate) fn disconnect(&mut self, owner: u32, id: TimerId) -> bool {
        match self.timers.get(&id) {
            Some(t) if t.owner == owner => {
                self.timers.remove(&id);
                true
            }
            _ => false,
        }
    }

    /// Removes every timer of `owner`; returns how many.
    pub(crate) fn disconnect_all(&mut self, owner: u32) -> usize {
        let before = self.timers.len();
        self.timers.retain(|_, t| t.owner != owner);
        before - self.timers.len()
    }

    /// The timer due earliest at or before `now` (ties: lowest id), rescheduled past `now`.
    pub(crate) fn take_due(&mut self, now: Nanos) -> Option<(TimerId, u32)> {
        let (&id, _) = self
            .timers
            .iter()
            .filter(|(_, t)| t.next_due <= now)
            .min_by_key(|(id, t)| (t.next_due, **id))?;
        let timer = self.timers.get_mut(&id)?;
        let missed = (now - timer.next_due) / timer.period;
        let step = missed.saturating_add(1).saturating_mul(timer.period);
        timer.next_due = timer.next_due.saturating_add(step);
        Some((id, timer.owner))
    }

    /// When the next timer falls due.
    pub(crate) fn next_deadline(&self) -> Option<Nanos> {
        self.timers.values().map(|t| t.next_due).min()
    }

    pub(crate) fn get(&self, id: TimerId) -> Option<&Timer> {
        self.timers.get(&id)
    }
}
