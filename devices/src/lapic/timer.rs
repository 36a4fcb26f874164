//! The local APIC timer's counting arithmetic (SDM 11.5.4): one-shot, periodic and
//! TSC-deadline modes, derived from the context's clock, never stepped.
//!
//! The counter decrements at `timer input frequency / divisor`. Its state is an *anchor*: at
//! `anchor_ns` the counter had already counted `anchor_counts` in the current period, and
//! `signalled` expiries since the anchor have been handed to the LVT. Counts since then are
//! `(now − anchor_ns) × frequency / (10^9 × divisor)` (in `u128`, floored); an expiry time is
//! the first nanosecond at which the count is reached (ceiling). Changing the divisor or the
//! mode re-anchors at the current count (a fraction of one count may be lost), so the count
//! rate changes from that moment, as on the chip.

use crate::interface::Nanos;

use super::registers::{divide, lvt};

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// The timer mode (LVT timer bits 18:17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerMode {
    /// 00: count down once from the initial count.
    OneShot,
    /// 01: reload the initial count at zero.
    Periodic,
    /// 10: fire when the guest's TSC reaches IA32_TSC_DEADLINE.
    TscDeadline,
}

impl TimerMode {
    /// Decodes an LVT timer entry. The reserved encoding 11 behaves as one-shot.
    pub const fn of(lvt_timer: u32) -> Self {
        match (lvt_timer & lvt::TIMER_MODE) >> lvt::TIMER_MODE_SHIFT {
            1 => TimerMode::Periodic,
            2 => TimerMode::TscDeadline,
            _ => TimerMode::OneShot,
        }
    }
}

/// The divisor a divide configuration register value selects: 2, 4, ..., 128, then 1 for
/// code 111 (SDM figure 11-10).
pub const fn divisor(config: u32) -> u32 {
    let code =
        (config & divide::LOW_BITS) | ((config & divide::HIGH_BIT) >> divide::HIGH_BIT_SHIFT);
    1 << ((code + 1) & divide::CODE_MASK)
}

/// Whole counts in `elapsed` nanoseconds at `frequency` Hz and `divisor`.
pub fn counts_in(elapsed: Nanos, frequency: u64, divisor: u32) -> u64 {
    let scaled = u128::from(elapsed) * u128::from(frequency);
    let per_count = NANOS_PER_SECOND * u128::from(divisor);
    u64::try_from(scaled / per_count).unwrap_or(u64::MAX)
}

/// Nanoseconds until `counts` counts have elapsed (rounded up), saturating.
pub fn nanos_for(counts: u64, frequency: u64, divisor: u32) -> Nanos {
    let scaled = u128::from(counts) * u128::from(divisor) * NANOS_PER_SECOND;
    // `frequency` is validated non-zero at construction; `max(1)` keeps this total anyway.
    let frequency = u128::from(frequency.max(1));
    u64::try_from(scaled.div_ceil(frequency)).unwrap_or(u64::MAX)
}

/// The initial-count/current-count timer's state (one-shot and periodic modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountdownState {
    /// The initial count register.
    pub initial: u32,
    /// The divide configuration register (writable bits only).
    pub divide_config: u32,
    /// Whether the counter is counting (a non-zero initial count that has not run out).
    pub running: bool,
    anchor_ns: Nanos,
    anchor_counts: u64,
    signalled: u64,
}

impl CountdownState {
    /// A stopped timer with divide configuration 0 (divide by 2).
    pub const fn new() -> Self {
        CountdownState {
            initial: 0,
            divide_config: 0,
            running: false,
            anchor_ns: 0,
            anchor_counts: 0,
            signalled: 0,
        }
    }

    fn divisor(&self) -> u32 {
        divisor(self.divide_config)
    }

    /// Counts since the start of the current period (may exceed the initial count before the
    /// expiries are taken).
    fn counted(&self, now: Nanos, frequency: u64) -> u64 {
        let elapsed = now.saturating_sub(self.anchor_ns);
        self.anchor_counts
            .saturating_add(counts_in(elapsed, frequency, self.divisor()))
    }

    /// Expiries since the anchor, by `now`.
    fn expiries(&self, now: Nanos, frequency: u64, mode: TimerMode) -> u64 {
        if !self.running || self.initial == 0 {
            return 0;
        }
        let counted = self.counted(now, frequency);
        match mode {
            TimerMode::Periodic => counted / u64::from(self.initial),
            TimerMode::OneShot => u64::from(counted >= u64::from(self.initial)),
            TimerMode::TscDeadline => 0,
        }
    }

    /// Starts counting from `initial` at `now` (0 stops the timer).
    pub fn start(&mut self, initial: u32, now: Nanos) {
        self.initial = initial;
        self.running = initial != 0;
        self.anchor_ns = now;
        self.anchor_counts = 0;
        self.signalled = 0;
    }

    /// Stops the timer and clears the initial count (a switch to or from TSC-deadline mode).
    pub fn disarm(&mut self) {
        self.start(0, 0);
    }

    /// Takes the expiries that happened by `now` and not yet taken; a one-shot timer stops at
    /// its first. Returns how many.
    pub fn take_expiries(&mut self, now: Nanos, frequency: u64, mode: TimerMode) -> u64 {
        let expiries = self.expiries(now, frequency, mode);
        let new = expiries.saturating_sub(self.signalled);
        self.signalled = expiries;
        if mode == TimerMode::OneShot && expiries > 0 {
            self.running = false;
        }
        new
    }

    /// The current count register at `now`.
    pub fn current(&self, now: Nanos, frequency: u64, mode: TimerMode) -> u32 {
        if !self.running || self.initial == 0 {
            return 0;
        }
        let initial = u64::from(self.initial);
        let counted = self.counted(now, frequency);
        let remaining = match mode {
            TimerMode::Periodic => initial - counted % initial,
            TimerMode::OneShot => initial.saturating_sub(counted),
            TimerMode::TscDeadline => 0,
        };
        u32::try_from(remaining).unwrap_or(u32::MAX)
    }

    /// Re-anchors at `now` keeping the current count, so that a new divisor or mode applies
    /// from now on. Call after taking the expiries due by `now`.
    pub fn rebase(&mut self, now: Nanos, frequency: u64, mode: TimerMode) {
        if !self.running || self.initial == 0 {
            return;
        }
        let initial = u64::from(self.initial);
        let counted = self.counted(now, frequency);
        self.anchor_counts = match mode {
            TimerMode::Periodic => counted % initial,
            _ => counted.min(initial),
        };
        self.anchor_ns = now;
        self.signalled = 0;
    }

    /// When the next expiry falls due (None if the timer is stopped).
    pub fn next_expiry(&self, frequency: u64, mode: TimerMode) -> Option<Nanos> {
        if !self.running || self.initial == 0 || mode == TimerMode::TscDeadline {
            return None;
        }
        let initial = u64::from(self.initial);
        let target = match mode {
            TimerMode::Periodic => self.signalled.saturating_add(1).saturating_mul(initial),
            _ => initial,
        };
        let needed = target.saturating_sub(self.anchor_counts);
        Some(
            self.anchor_ns
                .saturating_add(nanos_for(needed, frequency, self.divisor())),
        )
    }

    /// One period in nanoseconds (rounded up).
    pub fn period(&self, frequency: u64) -> Nanos {
        nanos_for(u64::from(self.initial), frequency, self.divisor())
    }
}

/// The guest TSC as a linear function of the context's clock: at `at` nanoseconds the guest's
/// TSC read `tsc`, and it advances at the TSC frequency given at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TscReference {
    pub at: Nanos,
    pub tsc: u64,
}

impl TscReference {
    /// The guest TSC at `now`.
    pub fn tsc_at(&self, now: Nanos, tsc_frequency: u64) -> u64 {
        let scale = |ns: Nanos| {
            let ticks = u128::from(ns) * u128::from(tsc_frequency) / NANOS_PER_SECOND;
            u64::try_from(ticks).unwrap_or(u64::MAX)
        };
        if now >= self.at {
            self.tsc.saturating_add(scale(now - self.at))
        } else {
            self.tsc.saturating_sub(scale(self.at - now))
        }
    }

    /// The first nanosecond at which the guest TSC reaches `deadline`.
    pub fn time_of(&self, deadline: u64, tsc_frequency: u64) -> Nanos {
        let frequency = u128::from(tsc_frequency.max(1));
        if deadline >= self.tsc {
            let ns = (u128::from(deadline - self.tsc) * NANOS_PER_SECOND).div_ceil(frequency);
            self.at
                .saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
        } else {
            let ns = u128::from(self.tsc - deadline) * NANOS_PER_SECOND / frequency;
            self.at
                .saturating_sub(u64::try_from(ns).unwrap_or(u64::MAX))
        }
    }
}
