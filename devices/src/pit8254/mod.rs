//! The PC's 8254 programmable interval timer (Intel 82C54 datasheet, order 231244) at ports
//! 0x40–0x43, with system control port B (0x61: timer 2 gate, speaker data, OUT2 and the
//! refresh toggle, as the IBM PC/AT wires them).
//!
//! # Behaviour
//! - **Counters 0–2** (ports 0x40–0x42), clocked at 1.193182 MHz. Counter 0's OUT drives
//!   IRQ 0; counter 1 (DRAM refresh on old PCs) only counts; counter 2's gate is port 0x61
//!   bit 0 and its OUT reads back in port 0x61 bit 5. Gates 0 and 1 are tied high.
//! - **Control word** (0x43): SC selects the counter (11 = read-back), RW the access (00 =
//!   counter latch command, 01 LSB, 10 MSB, 11 LSB then MSB), M the mode (0–5; 6 and 7 alias 2
//!   and 3), BCD. Writing it resets the counter's control logic and sets OUT to the mode's
//!   initial level (low in mode 0, high otherwise).
//! - **Modes**: 0 interrupt on terminal count; 1 gate-retriggerable one-shot; 2 rate generator
//!   (period N, OUT low for the last clock); 3 square wave (high ⌈N/2⌉, low ⌊N/2⌋); 4 software
//!   strobe; 5 gate-triggered strobe. A count of 0 means 65536 (10000 in BCD). In modes 2 and 3
//!   a count written while counting takes over at the end of the current period; in mode 0 the
//!   first byte of a two-byte count stops counting. Gate low pauses modes 0 and 4 and holds
//!   modes 2 and 3 (OUT high, reload on the next rising edge); a rising edge triggers modes 1
//!   and 5. The count is loaded on the write, not one clock later.
//! - **Latches**: the counter latch command freezes the count until read (further latch
//!   commands are ignored meanwhile); the read-back command latches count and/or status of any
//!   set of counters; the status byte is OUT, null count, RW, mode, BCD; a latched status is
//!   read before a latched count. Null count is set by a control word and by a count write and
//!   clears on the next clock after the count is written.
//! - **Time** comes from the context's clock only (`ctx.now()`), converted exactly
//!   (ticks = ns × 1193182 / 10^9 in `u128`); counters are computed from "ticks since start",
//!   never stepped.
//! - **IRQ 0** (catch-up policy): while counter 0 is running with an edge to come, the PIT holds
//!   a context timer: periodic at counter 0's period in modes 2 and 3 (at least
//!   [`MIN_TIMER_PERIOD_NS`]), one-shot until the terminal count in modes 0 and 4. On each
//!   callback (and on every port access) the rising edges of OUT0 since the last check are
//!   counted and, if there were any, IRQ 0 gets **one** edge (`pulse_irq`): an edge-triggered
//!   PIC latches one request however many periods were missed, as the chip would if the CPU
//!   were slow to acknowledge. The surplus is counted in [`Pit8254::coalesced_edges`]; a guest
//!   that counts ticks for time loses them (Linux does not: it uses a clocksource). The timer is
//!   disconnected when counter 0 stops, is reprogrammed, or the PIT is powered off. The
//!   periodic timer's period is N ticks rounded up to whole nanoseconds, so callbacks drift
//!   late by under 1 ns per period (at HZ = 1000, one period every ~23 minutes): edges are
//!   counted from exact tick arithmetic, so none is lost, at worst two merge into one.
//! - **Port 0x61**: bit 0 gate 2, bit 1 speaker data (stored), bits 2–3 stored (parity/channel
//!   check enables), bit 4 toggles every [`REFRESH_TOGGLE_NS`] (the DRAM refresh request
//!   detect that BIOSes and Linux's delay calibration poll), bit 5 OUT2, bits 6–7 read 0.
//!
//! # Threat note
//! The guest controls every control word and count byte and when it accesses the ports. All
//! state is fixed-size; counts are in 1..=65536, so every division has a non-zero divisor;
//! tick arithmetic uses `u128` for the conversion and saturating `u64` operations afterwards
//! (the clock could in principle be set backwards by a VMM: nothing underflows). Timer
//! periods are clamped to [`MIN_TIMER_PERIOD_NS`], so a guest cannot make the VMM call it
//! more often than that, and the PIT holds at most one timer.

mod channel;
pub mod clock;

#[cfg(test)]
mod tests;

pub use channel::{Access, BCD_MODULUS, BINARY_MODULUS, Mode, status};

use channel::{Channel, MODE_MASK};
use clock::{Ticks, nanos_for, ticks_at};

use crate::interface::{
    Device, DeviceContext, DeviceError, IrqLine, Nanos, PortRange, TimerError, TimerId,
};
use crate::port_claims::{claim_ports, release_ports};

/// Counter 0's data port; counters 1 and 2 follow.
pub const COUNTER0: u16 = 0x40;
/// Counter 1's data port.
pub const COUNTER1: u16 = 0x41;
/// Counter 2's data port.
pub const COUNTER2: u16 = 0x42;
/// The control word register (write only; reads return all-ones).
pub const CONTROL: u16 = 0x43;
/// System control port B.
pub const PORT_B: u16 = 0x61;
/// The interrupt line counter 0 drives.
pub const IRQ: IrqLine = IrqLine(0);
/// The shortest timer period the PIT asks the VMM for.
pub const MIN_TIMER_PERIOD_NS: Nanos = 100_000;
/// Port 0x61 bit 4 changes level this often (15.085 µs, the PC/AT refresh period).
pub const REFRESH_TOGGLE_NS: Nanos = 15_085;
/// Counters in one 8254.
pub const COUNTERS: usize = 3;

/// Control word fields.
pub mod control {
    /// Bits 7–6: select counter.
    pub const SELECT_SHIFT: u8 = 6;
    /// SC = 11: read-back command.
    pub const READ_BACK: u8 = 3;
    /// Bits 5–4: read/write access.
    pub const ACCESS_SHIFT: u8 = 4;
    /// Two-bit field mask.
    pub const FIELD_MASK: u8 = 0x03;
    /// RW = 00: counter latch command.
    pub const LATCH: u8 = 0;
    /// Bits 3–1: mode.
    pub const MODE_SHIFT: u8 = 1;
    /// Bit 0: BCD counting.
    pub const BCD: u8 = 0x01;
    /// Read-back bit 5: 0 = latch count.
    pub const READ_BACK_NO_COUNT: u8 = 0x20;
    /// Read-back bit 4: 0 = latch status.
    pub const READ_BACK_NO_STATUS: u8 = 0x10;
    /// Read-back bit 1 selects counter 0, bit 2 counter 1, bit 3 counter 2.
    pub const READ_BACK_COUNTER0: u8 = 0x02;
}

/// Port 0x61 bits.
pub mod port_b {
    /// Bit 0: timer 2 gate.
    pub const GATE2: u8 = 0x01;
    /// Bit 1: speaker data enable.
    pub const SPEAKER_DATA: u8 = 0x02;
    /// Bits 2–3: parity and channel check enables (stored, no effect).
    pub const CHECK_ENABLES: u8 = 0x0C;
    /// Bit 4: refresh request toggle (read only).
    pub const REFRESH_TOGGLE: u8 = 0x10;
    /// Bit 5: timer 2 OUT (read only).
    pub const OUT2: u8 = 0x20;
    /// The bits a write stores.
    pub const WRITABLE: u8 = GATE2 | SPEAKER_DATA | CHECK_ENABLES;
}

const OPEN_BUS: u8 = 0xFF;

/// The PIT.
#[derive(Debug, Clone)]
pub struct Pit8254 {
    counters: [Channel; COUNTERS],
    port_b: u8,
    /// The context timer serving counter 0, with the period it was connected at.
    timer: Option<(TimerId, Nanos)>,
    timer_error: Option<TimerError>,
    edges: u64,
    coalesced: u64,
}

impl Default for Pit8254 {
    fn default() -> Self {
        Self::new()
    }
}

impl Pit8254 {
    /// The ports the PIT decodes, one claim each.
    pub const PORTS: [PortRange; 5] = [
        PortRange::single(COUNTER0),
        PortRange::single(COUNTER1),
        PortRange::single(COUNTER2),
        PortRange::single(CONTROL),
        PortRange::single(PORT_B),
    ];

    /// A PIT in power-on state: every counter in mode 0 without a count, gate 2 low.
    pub const fn new() -> Self {
        Pit8254 {
            counters: [Channel::new(true), Channel::new(true), Channel::new(false)],
            port_b: 0,
            timer: None,
            timer_error: None,
            edges: 0,
            coalesced: 0,
        }
    }

    /// Rising edges of counter 0's OUT seen so far.
    pub fn irq_edges(&self) -> u64 {
        self.edges
    }

    /// Edges of OUT0 that were merged into an earlier IRQ 0 edge (see the catch-up policy).
    pub fn coalesced_edges(&self) -> u64 {
        self.coalesced
    }

    /// The last error the context gave when the PIT asked for a timer.
    pub fn timer_error(&self) -> Option<TimerError> {
        self.timer_error
    }

    /// Counter `index`'s programmed mode (None for an index above 2).
    pub fn mode(&self, index: usize) -> Option<Mode> {
        self.counters.get(index).map(Channel::mode)
    }

    /// Counter `index`'s OUT pin at `now` (None for an index above 2).
    pub fn output(&self, index: usize, now: Nanos) -> Option<bool> {
        self.counters
            .get(index)
            .map(|counter| counter.output(ticks_at(now)))
    }

    /// Counts the edges of OUT0 up to `now` and gives IRQ 0 one edge if there were any.
    fn catch_up(&mut self, ctx: &mut dyn DeviceContext, now: Ticks) {
        let [counter0, counter1, counter2] = &mut self.counters;
        counter1.advance(now);
        counter2.advance(now);
        let edges = counter0.advance(now);
        if edges > 0 {
            self.edges = self.edges.saturating_add(edges);
            self.coalesced = self.coalesced.saturating_add(edges - 1);
            // IRQ 0 is checked to exist at install; nothing better to do if it went away.
            let _ = ctx.pulse_irq(IRQ);
        }
    }

    /// Connects or drops the context timer to match counter 0 (see the module docs).
    fn reschedule(&mut self, ctx: &mut dyn DeviceContext, now: Ticks) {
        if let Some((timer, _)) = self.timer.take() {
            // A timer we hold cannot be unknown to the context that gave it.
            let _ = ctx.disconnect_timer(timer);
        }
        let counter0 = &self.counters[0];
        let wait = match (counter0.period(), counter0.next_edge(now)) {
            (Some(period), Some(edge)) if edge.saturating_sub(now) == period => Some(period),
            (_, Some(edge)) => Some(edge.saturating_sub(now)),
            (_, None) => None,
        };
        if let Some(wait) = wait {
            let period = nanos_for(wait).max(MIN_TIMER_PERIOD_NS);
            match ctx.connect_timer(period) {
                Ok(timer) => self.timer = Some((timer, period)),
                Err(error) => self.timer_error = Some(error),
            }
        }
    }

    fn read_port(&mut self, port: u16, now: Nanos) -> u8 {
        let ticks = ticks_at(now);
        match port {
            COUNTER0..=COUNTER2 => self.counters[usize::from(port - COUNTER0)].read(ticks),
            PORT_B => {
                let mut value = self.port_b & port_b::WRITABLE;
                if (now / REFRESH_TOGGLE_NS) % 2 == 1 {
                    value |= port_b::REFRESH_TOGGLE;
                }
                if self.counters[2].output(ticks) {
                    value |= port_b::OUT2;
                }
                value
            }
            _ => OPEN_BUS,
        }
    }

    /// Returns whether counter 0's programming changed.
    fn write_port(&mut self, port: u16, value: u8, now: Ticks) -> bool {
        match port {
            COUNTER0..=COUNTER2 => {
                let index = usize::from(port - COUNTER0);
                self.counters[index].write(value, now);
                index == 0
            }
            CONTROL => self.write_control(value, now),
            PORT_B => {
                self.port_b = value & port_b::WRITABLE;
                self.counters[2].set_gate(value & port_b::GATE2 != 0, now);
                false
            }
            _ => false,
        }
    }

    fn write_control(&mut self, value: u8, now: Ticks) -> bool {
        let select = (value >> control::SELECT_SHIFT) & control::FIELD_MASK;
        if select == control::READ_BACK {
            for (index, counter) in self.counters.iter_mut().enumerate() {
                if value & (control::READ_BACK_COUNTER0 << index) == 0 {
                    continue;
                }
                if value & control::READ_BACK_NO_STATUS == 0 {
                    counter.latch_status(now);
                }
                if value & control::READ_BACK_NO_COUNT == 0 {
                    counter.latch_count(now);
                }
            }
            return false;
        }
        let counter = &mut self.counters[usize::from(select)];
        let access = match (value >> control::ACCESS_SHIFT) & control::FIELD_MASK {
            control::LATCH => {
                counter.latch_count(now);
                return false;
            }
            1 => Access::LowByte,
            2 => Access::HighByte,
            _ => Access::LowThenHigh,
        };
        let mode = Mode::from_bits((value >> control::MODE_SHIFT) & MODE_MASK);
        counter.program(mode, access, value & control::BCD != 0, now);
        select == 0
    }
}

impl Device for Pit8254 {
    fn name(&self) -> &str {
        "pit8254"
    }

    /// Claims ports 0x40–0x43 and 0x61 and checks that IRQ 0 exists.
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        ctx.set_irq(IRQ, false)
            .map_err(|e| DeviceError::Config(alloc::format!("pit8254 irq 0: {e:?}")))?;
        claim_ports(ctx, &Self::PORTS)
    }

    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        if let Some((timer, _)) = self.timer.take() {
            ctx.disconnect_timer(timer)?;
        }
        *self = Pit8254::new();
        Ok(())
    }

    fn power_off(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        if let Some((timer, _)) = self.timer.take() {
            ctx.disconnect_timer(timer)?;
        }
        Ok(())
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        if let Some((timer, _)) = self.timer.take() {
            ctx.disconnect_timer(timer)?;
        }
        release_ports(ctx, &Self::PORTS)
    }

    fn pio_read(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &mut [u8]) {
        let now = ctx.now();
        self.catch_up(ctx, ticks_at(now));
        for (index, byte) in data.iter_mut().enumerate() {
            *byte = match u16::try_from(index)
                .ok()
                .and_then(|index| port.checked_add(index))
            {
                Some(port) => self.read_port(port, now),
                None => OPEN_BUS,
            };
        }
    }

    fn pio_write(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &[u8]) {
        let now = ticks_at(ctx.now());
        self.catch_up(ctx, now);
        let mut counter0_changed = false;
        for (index, value) in data.iter().enumerate() {
            if let Some(port) = u16::try_from(index)
                .ok()
                .and_then(|index| port.checked_add(index))
            {
                counter0_changed |= self.write_port(port, *value, now);
            }
        }
        if counter0_changed {
            self.reschedule(ctx, now);
        }
    }

    fn timer(&mut self, ctx: &mut dyn DeviceContext, id: TimerId, now: Nanos) {
        let Some((held, connected_period)) = self.timer else {
            return;
        };
        if held != id {
            return;
        }
        let ticks = ticks_at(now);
        self.catch_up(ctx, ticks);
        // A periodic timer whose period still matches counter 0 keeps running; anything else
        // (a one-shot that fired, a reload that changed the period, a stopped counter) is
        // derived afresh.
        let keep = self.counters[0]
            .period()
            .is_some_and(|period| nanos_for(period).max(MIN_TIMER_PERIOD_NS) == connected_period);
        if !keep {
            self.reschedule(ctx, ticks);
        }
    }
}
