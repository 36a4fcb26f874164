//! One counter of the 8254 (Intel 82C54 datasheet, order 231244): its programming state
//! (mode, access, BCD), latches, read/write flip-flops, and the counting element, computed from
//! the input clock rather than stepped: everything here is a function of "ticks since the
//! counter started", so a late read or a late timer callback sees exactly what the chip would.

use crate::pit8254::clock::Ticks;

/// Counter modes (control word bits 3–1; 6 and 7 alias 2 and 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Mode 0: OUT low, goes high at terminal count and stays high.
    InterruptOnTerminalCount,
    /// Mode 1: gate-triggered one-shot, OUT low for N clocks.
    OneShot,
    /// Mode 2: divide by N, OUT low for one clock per period.
    RateGenerator,
    /// Mode 3: divide by N, OUT high for ⌈N/2⌉ and low for ⌊N/2⌋ clocks.
    SquareWave,
    /// Mode 4: software-triggered strobe, OUT low for one clock after N clocks.
    SoftwareStrobe,
    /// Mode 5: gate-triggered strobe.
    HardwareStrobe,
}

impl Mode {
    /// Decodes control word bits 3–1 (already shifted to 0–7).
    pub fn from_bits(bits: u8) -> Mode {
        match bits & MODE_MASK {
            0 => Mode::InterruptOnTerminalCount,
            1 => Mode::OneShot,
            2 | 6 => Mode::RateGenerator,
            3 | 7 => Mode::SquareWave,
            4 => Mode::SoftwareStrobe,
            _ => Mode::HardwareStrobe,
        }
    }

    /// The three mode bits as the status byte reports them.
    pub fn bits(self) -> u8 {
        match self {
            Mode::InterruptOnTerminalCount => 0,
            Mode::OneShot => 1,
            Mode::RateGenerator => 2,
            Mode::SquareWave => 3,
            Mode::SoftwareStrobe => 4,
            Mode::HardwareStrobe => 5,
        }
    }

    fn periodic(self) -> bool {
        matches!(self, Mode::RateGenerator | Mode::SquareWave)
    }

    fn gate_triggered(self) -> bool {
        matches!(self, Mode::OneShot | Mode::HardwareStrobe)
    }
}

/// Mask of the three mode bits.
pub const MODE_MASK: u8 = 0x07;

/// How the counter's 16 bits are read and written (control word bits 5–4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// 01: least significant byte only.
    LowByte,
    /// 10: most significant byte only.
    HighByte,
    /// 11: least significant byte, then most significant byte.
    LowThenHigh,
}

impl Access {
    /// The two RW bits as the status byte reports them.
    pub fn bits(self) -> u8 {
        match self {
            Access::LowByte => 1,
            Access::HighByte => 2,
            Access::LowThenHigh => 3,
        }
    }
}

/// Status byte bits (read-back command).
pub mod status {
    /// Bit 7: the OUT pin.
    pub const OUTPUT: u8 = 0x80;
    /// Bit 6: null count: the last count written has not reached the counting element.
    pub const NULL_COUNT: u8 = 0x40;
    /// Bits 5–4: RW.
    pub const ACCESS_SHIFT: u8 = 4;
    /// Bits 3–1: mode.
    pub const MODE_SHIFT: u8 = 1;
    /// Bit 0: BCD.
    pub const BCD: u8 = 0x01;
}

/// The largest count in binary (written as 0).
pub const BINARY_MODULUS: u32 = 0x1_0000;
/// The largest count in BCD (written as 0000).
pub const BCD_MODULUS: u32 = 10_000;

/// Where the counting element is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Control word written, no count yet (or, in mode 0, only the first byte of one).
    Unloaded { value: u32 },
    /// Modes 1 and 5: count loaded, waiting for a gate rising edge.
    Armed { count: u32 },
    /// Counting since tick `start`.
    Running { count: u32, start: Ticks },
    /// Modes 0 and 4 with the gate low: `elapsed` ticks counted so far.
    Paused { count: u32, elapsed: Ticks },
    /// Modes 2 and 3 with the gate low: OUT high, the counter holds `value`; the next gate
    /// rising edge reloads `count`.
    Held { count: u32, value: u32 },
}

/// When the null-count status bit clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NullCount {
    Clear,
    UntilCountWritten,
    /// The count written at this tick reaches the counting element on the next clock.
    UntilAfter(Ticks),
}

/// A count written during a period of mode 2 or 3, taking over at the period's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reload {
    count: u32,
    at: Ticks,
}

/// A latched count being read out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LatchedCount {
    value: u16,
    high_next: bool,
}

/// One counter.
#[derive(Debug, Clone)]
pub struct Channel {
    mode: Mode,
    access: Access,
    bcd: bool,
    gate: bool,
    phase: Phase,
    reload: Option<Reload>,
    /// Modes 1 and 5: a count written while counting, used at the next trigger.
    next_trigger_count: Option<u32>,
    write_low: Option<u8>,
    read_high: bool,
    latched_count: Option<LatchedCount>,
    latched_status: Option<u8>,
    null_count: NullCount,
    /// Rising edges of OUT have been counted up to this tick.
    edges_counted_to: Ticks,
}

impl Channel {
    /// Power-on state: mode 0, binary, LSB-then-MSB access, no count, gate as given.
    pub const fn new(gate: bool) -> Self {
        Channel {
            mode: Mode::InterruptOnTerminalCount,
            access: Access::LowThenHigh,
            bcd: false,
            gate,
            phase: Phase::Unloaded { value: 0 },
            reload: None,
            next_trigger_count: None,
            write_low: None,
            read_high: false,
            latched_count: None,
            latched_status: None,
            null_count: NullCount::UntilCountWritten,
            edges_counted_to: 0,
        }
    }

    /// The programmed mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn modulus(&self) -> u32 {
        if self.bcd {
            BCD_MODULUS
        } else {
            BINARY_MODULUS
        }
    }

    /// A control word for this counter (RW ≠ 00): all control logic reset, OUT to the mode's
    /// initial level, latches dropped, counting stopped until a count is written.
    pub fn program(&mut self, mode: Mode, access: Access, bcd: bool, now: Ticks) {
        self.sync(now);
        let value = self.counter_value(now);
        self.mode = mode;
        self.access = access;
        self.bcd = bcd;
        self.phase = Phase::Unloaded { value };
        self.reload = None;
        self.next_trigger_count = None;
        self.write_low = None;
        self.read_high = false;
        self.latched_count = None;
        self.latched_status = None;
        self.null_count = NullCount::UntilCountWritten;
        self.edges_counted_to = now;
    }

    /// The counter latch command (or read-back's count latch): freezes the current count for
    /// reading; ignored while a latched count is still unread.
    pub fn latch_count(&mut self, now: Ticks) {
        if self.latched_count.is_none() {
            self.sync(now);
            let value = self.encoded_value(now);
            self.latched_count = Some(LatchedCount {
                value,
                high_next: false,
            });
        }
    }

    /// Read-back's status latch; ignored while a latched status is still unread.
    pub fn latch_status(&mut self, now: Ticks) {
        if self.latched_status.is_none() {
            self.sync(now);
            let null = match self.null_count {
                NullCount::Clear => false,
                NullCount::UntilCountWritten => true,
                NullCount::UntilAfter(tick) => now <= tick,
            };
            let mut value = (self.access.bits() << status::ACCESS_SHIFT)
                | (self.mode.bits() << status::MODE_SHIFT);
            if self.output(now) {
                value |= status::OUTPUT;
            }
            if null {
                value |= status::NULL_COUNT;
            }
            if self.bcd {
                value |= status::BCD;
            }
            self.latched_status = Some(value);
        }
    }

    /// A read of the counter's port: latched status first, then a latched count, else the
    /// live count, a byte at a time as the access mode says.
    pub fn read(&mut self, now: Ticks) -> u8 {
        if let Some(value) = self.latched_status.take() {
            return value;
        }
        if let Some(latch) = self.latched_count {
            let [low, high] = latch.value.to_le_bytes();
            return match self.access {
                Access::LowByte => {
                    self.latched_count = None;
                    low
                }
                Access::HighByte => {
                    self.latched_count = None;
                    high
                }
                Access::LowThenHigh if !latch.high_next => {
                    self.latched_count = Some(LatchedCount {
                        high_next: true,
                        ..latch
                    });
                    low
                }
                Access::LowThenHigh => {
                    self.latched_count = None;
                    high
                }
            };
        }
        self.sync(now);
        let [low, high] = self.encoded_value(now).to_le_bytes();
        match self.access {
            Access::LowByte => low,
            Access::HighByte => high,
            Access::LowThenHigh => {
                self.read_high = !self.read_high;
                if self.read_high { low } else { high }
            }
        }
    }

    /// A write of the counter's port: a count byte as the access mode says.
    pub fn write(&mut self, byte: u8, now: Ticks) {
        self.sync(now);
        match self.access {
            Access::LowByte => self.load(u16::from(byte), now),
            Access::HighByte => self.load(u16::from(byte) << 8, now),
            Access::LowThenHigh => match self.write_low.take() {
                None => {
                    self.write_low = Some(byte);
                    if self.mode == Mode::InterruptOnTerminalCount {
                        // Datasheet, mode 0: writing the first byte stops counting and sets
                        // OUT low at once.
                        let value = self.counter_value(now);
                        self.phase = Phase::Unloaded { value };
                    }
                }
                Some(low) => self.load(u16::from_le_bytes([low, byte]), now),
            },
        }
    }

    /// The count a written register value stands for: 0 is the largest count.
    fn decode_count(&self, raw: u16) -> u32 {
        let count = if self.bcd {
            from_bcd(raw)
        } else {
            u32::from(raw)
        };
        if count == 0 { self.modulus() } else { count }
    }

    fn load(&mut self, raw: u16, now: Ticks) {
        let count = self.decode_count(raw);
        self.null_count = NullCount::UntilAfter(now);
        match (self.mode, self.phase) {
            (Mode::InterruptOnTerminalCount | Mode::SoftwareStrobe, _) => {
                self.phase = if self.gate {
                    Phase::Running { count, start: now }
                } else {
                    Phase::Paused { count, elapsed: 0 }
                };
                self.edges_counted_to = now;
            }
            (Mode::OneShot | Mode::HardwareStrobe, Phase::Running { .. }) => {
                self.next_trigger_count = Some(count);
            }
            (Mode::OneShot | Mode::HardwareStrobe, _) => self.phase = Phase::Armed { count },
            (
                Mode::RateGenerator | Mode::SquareWave,
                Phase::Running {
                    count: current,
                    start,
                },
            ) => {
                let elapsed = now.saturating_sub(start);
                let periods = (elapsed / u64::from(current)).saturating_add(1);
                let at = start.saturating_add(periods.saturating_mul(u64::from(current)));
                self.reload = Some(Reload { count, at });
            }
            (Mode::RateGenerator | Mode::SquareWave, Phase::Held { value, .. }) => {
                self.phase = Phase::Held { count, value };
            }
            (Mode::RateGenerator | Mode::SquareWave, _) => {
                self.phase = if self.gate {
                    Phase::Running { count, start: now }
                } else {
                    Phase::Held {
                        count,
                        value: count % self.modulus(),
                    }
                };
                self.edges_counted_to = now;
            }
        }
    }

    /// Drives the gate input.
    pub fn set_gate(&mut self, level: bool, now: Ticks) {
        self.sync(now);
        let rising = level && !self.gate;
        let falling = !level && self.gate;
        self.gate = level;
        if rising {
            match (self.mode, self.phase) {
                (mode, Phase::Armed { count } | Phase::Running { count, .. })
                    if mode.gate_triggered() =>
                {
                    let count = self.next_trigger_count.take().unwrap_or(count);
                    self.phase = Phase::Running { count, start: now };
                    self.edges_counted_to = now;
                }
                (_, Phase::Held { count, .. }) => {
                    self.phase = Phase::Running { count, start: now };
                    self.edges_counted_to = now;
                }
                (_, Phase::Paused { count, elapsed }) => {
                    self.phase = Phase::Running {
                        count,
                        start: now.saturating_sub(elapsed),
                    };
                }
                _ => {}
            }
        } else if falling {
            match (self.mode, self.phase) {
                (
                    Mode::InterruptOnTerminalCount | Mode::SoftwareStrobe,
                    Phase::Running { count, start },
                ) => {
                    self.phase = Phase::Paused {
                        count,
                        elapsed: now.saturating_sub(start),
                    };
                }
                (mode, Phase::Running { count, .. }) if mode.periodic() => {
                    let value = self.counter_value(now);
                    let count = self.reload.take().map_or(count, |reload| reload.count);
                    self.phase = Phase::Held { count, value };
                }
                _ => {}
            }
        }
    }

    /// Applies a mode 2/3 reload whose period has ended by `now`.
    fn sync(&mut self, now: Ticks) {
        if let (Some(reload), Phase::Running { .. }) = (self.reload, self.phase)
            && now >= reload.at
        {
            self.phase = Phase::Running {
                count: reload.count,
                start: reload.at,
            };
            self.reload = None;
        }
        if matches!(self.null_count, NullCount::UntilAfter(tick) if now > tick) {
            self.null_count = NullCount::Clear;
        }
    }

    /// Rising edges of OUT from the last call up to `now` (what drives an edge-triggered IRQ).
    pub fn advance(&mut self, now: Ticks) -> u64 {
        let mut edges = 0u64;
        if let (Some(reload), Phase::Running { .. }) = (self.reload, self.phase)
            && now >= reload.at
        {
            edges = self.rising_edges(self.edges_counted_to, reload.at);
            self.edges_counted_to = self.edges_counted_to.max(reload.at);
        }
        self.sync(now);
        edges = edges.saturating_add(self.rising_edges(self.edges_counted_to, now));
        self.edges_counted_to = self.edges_counted_to.max(now);
        edges
    }

    /// Rising edges of OUT in the tick interval (from, to] under the current phase.
    fn rising_edges(&self, from: Ticks, to: Ticks) -> u64 {
        let Phase::Running { count, start } = self.phase else {
            return 0;
        };
        let count = u64::from(count);
        let before = from.saturating_sub(start);
        let after = to.saturating_sub(start);
        let crossed = |edge: u64| u64::from(before < edge && edge <= after);
        match self.mode {
            Mode::InterruptOnTerminalCount | Mode::OneShot => crossed(count),
            Mode::SoftwareStrobe | Mode::HardwareStrobe => crossed(count.saturating_add(1)),
            Mode::RateGenerator | Mode::SquareWave if count < 2 => 0,
            Mode::RateGenerator | Mode::SquareWave => {
                (after / count).saturating_sub(before / count)
            }
        }
    }

    /// The tick of the next rising edge of OUT after `now`, if one is coming.
    pub fn next_edge(&self, now: Ticks) -> Option<Ticks> {
        let Phase::Running { count, start } = self.phase else {
            return None;
        };
        if let Some(reload) = self.reload
            && now < reload.at
        {
            return Some(reload.at);
        }
        let count = u64::from(count);
        let elapsed = now.saturating_sub(start);
        let edge = match self.mode {
            Mode::InterruptOnTerminalCount | Mode::OneShot => {
                Some(count).filter(|edge| *edge > elapsed)
            }
            Mode::SoftwareStrobe | Mode::HardwareStrobe => {
                Some(count.saturating_add(1)).filter(|edge| *edge > elapsed)
            }
            Mode::RateGenerator | Mode::SquareWave if count < 2 => None,
            Mode::RateGenerator | Mode::SquareWave => {
                Some((elapsed / count + 1).saturating_mul(count))
            }
        }?;
        Some(start.saturating_add(edge))
    }

    /// The period of OUT's rising edges while running periodically (modes 2 and 3).
    pub fn period(&self) -> Option<Ticks> {
        match self.phase {
            Phase::Running { count, .. } if self.mode.periodic() && count >= 2 => {
                Some(u64::from(count))
            }
            _ => None,
        }
    }

    /// The OUT pin.
    pub fn output(&self, now: Ticks) -> bool {
        let (count, elapsed) = match self.phase {
            Phase::Unloaded { .. } => return self.mode != Mode::InterruptOnTerminalCount,
            Phase::Armed { .. } | Phase::Held { .. } => return true,
            Phase::Running { count, start } => (u64::from(count), now.saturating_sub(start)),
            Phase::Paused { count, elapsed } => (u64::from(count), elapsed),
        };
        match self.mode {
            Mode::InterruptOnTerminalCount | Mode::OneShot => elapsed >= count,
            Mode::RateGenerator => elapsed % count != count - 1,
            Mode::SquareWave => elapsed % count < count.div_ceil(2),
            Mode::SoftwareStrobe | Mode::HardwareStrobe => elapsed != count,
        }
    }

    /// The counting element, as a number below the modulus.
    fn counter_value(&self, now: Ticks) -> u32 {
        let modulus = u64::from(self.modulus());
        let (count, elapsed) = match self.phase {
            Phase::Unloaded { value } | Phase::Held { value, .. } => return value,
            Phase::Armed { count } => return (u64::from(count) % modulus) as u32,
            Phase::Running { count, start } => (u64::from(count), now.saturating_sub(start)),
            Phase::Paused { count, elapsed } => (u64::from(count), elapsed),
        };
        let value = match self.mode {
            Mode::RateGenerator => count - elapsed % count,
            Mode::SquareWave => {
                let phase = elapsed % count;
                let high = count.div_ceil(2);
                let step = if phase < high { phase } else { phase - high };
                (count & !1).saturating_sub(2 * step)
            }
            _ => (count + modulus - elapsed % modulus) % modulus,
        };
        // Every branch is at most `count` ≤ the modulus; the remainder keeps it below.
        (value % modulus) as u32
    }

    /// The counting element as the guest reads it (BCD digits in BCD mode).
    fn encoded_value(&self, now: Ticks) -> u16 {
        let value = self.counter_value(now);
        if self.bcd {
            to_bcd(value)
        } else {
            value as u16
        }
    }
}

/// Four BCD digits to a number; a nibble above 9 counts as 9 (the chip's behaviour is
/// undefined there).
pub fn from_bcd(raw: u16) -> u32 {
    (0..4).rev().fold(0u32, |acc, digit| {
        let nibble = u32::from((raw >> (digit * 4)) & 0xF).min(9);
        acc * 10 + nibble
    })
}

/// A number below 10000 to four BCD digits.
pub fn to_bcd(value: u32) -> u16 {
    let value = value % BCD_MODULUS;
    (0..4).fold(0u16, |acc, digit| {
        let nibble = (value / 10u32.pow(digit)) % 10;
        acc | ((nibble as u16) << (digit * 4))
    })
}
