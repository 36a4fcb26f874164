//! The timer's side of the context (SDM 11.5.4): taking expiries, delivering them through the
//! LVT, and holding at most one context timer (operation 10) for the next expiry.

use crate::interface::{DeviceContext, Nanos, TimerId};

use super::registers::lvt;
use super::timer::TimerMode;
use super::{ApicMode, Armed, LocalApic, Lvt, MIN_TIMER_PERIOD_NS};

/// A periodic wait within this many nanoseconds of a whole period connects a periodic timer
/// (expiry times are rounded up to whole nanoseconds).
const ROUNDING_SLACK_NS: Nanos = 1;

impl LocalApic {
    /// Takes every timer expiry due by `now` and raises the timer LVT's vector once if there
    /// were any (unless masked). Callbacks and register accesses do this themselves; the VMM
    /// may call it before [`LocalApic::pending_interrupt`] if the context could not give the
    /// APIC a timer ([`LocalApic::timer_error`]).
    pub fn catch_up(&mut self, now: Nanos) {
        self.sync_timer(now);
    }

    pub(super) fn sync_timer(&mut self, now: Nanos) {
        if self.mode() == ApicMode::Disabled {
            return;
        }
        let mode = self.timer_mode();
        let expiries = match mode {
            TimerMode::TscDeadline => {
                let due = self.tsc_deadline != 0
                    && self
                        .tsc_reference
                        .time_of(self.tsc_deadline, self.config.tsc_frequency_hz)
                        <= now;
                if due {
                    self.tsc_deadline = 0;
                }
                u64::from(due)
            }
            _ => self
                .countdown
                .take_expiries(now, self.config.timer_frequency_hz, mode),
        };
        if expiries == 0 {
            return;
        }
        let entry = self.lvt(Lvt::Timer);
        if entry & lvt::MASK == 0 {
            let _ = self.accept(entry.to_le_bytes()[0], false);
            self.counters.coalesced_timer_interrupts = self
                .counters
                .coalesced_timer_interrupts
                .saturating_add(expiries - 1);
        }
    }

    /// Drops the context timer, if any.
    pub(super) fn disarm_timer(&mut self, ctx: &mut dyn DeviceContext) {
        if let Some(armed) = self.armed.take() {
            // A timer this device holds cannot be unknown to the context that gave it.
            let _ = ctx.disconnect_timer(armed.id);
        }
    }

    /// Connects the context timer for the next expiry (see the module docs), replacing any.
    pub(super) fn rearm(&mut self, ctx: &mut dyn DeviceContext) {
        self.disarm_timer(ctx);
        if self.mode() == ApicMode::Disabled || self.lvt(Lvt::Timer) & lvt::MASK != 0 {
            return;
        }
        let now = ctx.now();
        let mode = self.timer_mode();
        let frequency = self.config.timer_frequency_hz;
        let (due, period) = match mode {
            TimerMode::TscDeadline => {
                let due = (self.tsc_deadline != 0).then(|| {
                    self.tsc_reference
                        .time_of(self.tsc_deadline, self.config.tsc_frequency_hz)
                });
                (due, None)
            }
            TimerMode::Periodic => (
                self.countdown.next_expiry(frequency, mode),
                Some(self.countdown.period(frequency)),
            ),
            TimerMode::OneShot => (self.countdown.next_expiry(frequency, mode), None),
        };
        let Some(due) = due else {
            return;
        };
        let wait = due.saturating_sub(now);
        let (length, periodic) = match period {
            Some(period) if wait <= period && period - wait <= ROUNDING_SLACK_NS => {
                (period.max(MIN_TIMER_PERIOD_NS), true)
            }
            _ => (wait.max(MIN_TIMER_PERIOD_NS), false),
        };
        match ctx.connect_timer(length) {
            Ok(id) => self.armed = Some(Armed { id, periodic }),
            Err(error) => self.timer_error = Some(error),
        }
    }

    /// A context timer callback.
    pub(super) fn on_timer(&mut self, ctx: &mut dyn DeviceContext, id: TimerId, now: Nanos) {
        let Some(armed) = self.armed else {
            return;
        };
        if armed.id != id {
            return;
        }
        self.sync_timer(now);
        if !armed.periodic {
            self.rearm(ctx);
        }
    }

    /// Writes IA32_TSC_DEADLINE: ignored unless the timer is in TSC-deadline mode; 0 disarms; a
    /// deadline already passed fires at once.
    pub(super) fn write_tsc_deadline(&mut self, ctx: &mut dyn DeviceContext, deadline: u64) {
        if self.mode() == ApicMode::Disabled || self.timer_mode() != TimerMode::TscDeadline {
            return;
        }
        let now = ctx.now();
        self.sync_timer(now);
        self.tsc_deadline = deadline;
        self.sync_timer(now);
        self.rearm(ctx);
    }

    /// IA32_TSC_DEADLINE as the guest reads it.
    pub(super) fn read_tsc_deadline(&self) -> u64 {
        if self.mode() == ApicMode::Disabled || self.timer_mode() != TimerMode::TscDeadline {
            0
        } else {
            self.tsc_deadline
        }
    }

    /// Writes the initial count: restarts the count (0 stops it); ignored in TSC-deadline mode.
    pub(super) fn write_initial_count(&mut self, ctx: &mut dyn DeviceContext, value: u32) {
        if self.timer_mode() == TimerMode::TscDeadline {
            return;
        }
        let now = ctx.now();
        self.sync_timer(now);
        self.countdown.start(value, now);
        self.rearm(ctx);
    }

    /// Writes the divide configuration: the new rate applies from now.
    pub(super) fn write_divide(&mut self, ctx: &mut dyn DeviceContext, value: u32) {
        let now = ctx.now();
        self.sync_timer(now);
        self.countdown
            .rebase(now, self.config.timer_frequency_hz, self.timer_mode());
        self.countdown.divide_config = value;
        self.rearm(ctx);
    }

    /// Writes the timer LVT entry (value already cut to writable bits and forced masked if the
    /// APIC is software disabled).
    pub(super) fn write_timer_lvt(&mut self, ctx: &mut dyn DeviceContext, value: u32) {
        let now = ctx.now();
        self.sync_timer(now);
        let old = self.timer_mode();
        self.lvt[Lvt::Timer.index()] = value;
        let new = self.timer_mode();
        if (old == TimerMode::TscDeadline) != (new == TimerMode::TscDeadline) {
            self.countdown.disarm();
            self.tsc_deadline = 0;
        } else if old != new {
            self.countdown
                .rebase(now, self.config.timer_frequency_hz, old);
        }
        self.rearm(ctx);
    }
}
