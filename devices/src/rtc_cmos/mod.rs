//! The PC's MC146818 real-time clock and 128-byte CMOS RAM (Motorola MC146818A datasheet;
//! memory-size bytes as the IBM PC/AT BIOS and SeaBIOS/QEMU lay them out), at index port 0x70
//! and data port 0x71, interrupting on IRQ 8.
//!
//! # Behaviour
//! - **Ports**: a write to 0x70 selects register `value & 0x7F` and sets the NMI mask from
//!   bit 7 ([`RtcCmos::nmi_masked`]); 0x70 reads all-ones (write-only on the PC); 0x71 reads or
//!   writes the selected register.
//! - **Time registers** 0x00 seconds, 0x02 minutes, 0x04 hours, 0x06 weekday (1 = Sunday),
//!   0x07 day, 0x08 month, 0x09 year, plus the IBM century byte 0x32, in BCD or binary
//!   (register B DM) and 12- or 24-hour form (register B 24/12; 12-hour hours carry PM in
//!   bit 7). The clock is kept as seconds since 1970 (given at construction, advanced from
//!   `ctx.now()`) and presented in the current format, so changing DM or 24/12 converts the
//!   registers (the chip would leave them for software to rewrite). Weekday is derived from
//!   the date.
//! - **Register A**: UIP (bit 7, read-only) reads 1 during the last 244 µs before each update;
//!   DV (bits 6–4) = 11x holds the divider in reset (no updates, no periodic interrupts); on
//!   leaving reset the first update comes 500 ms later; RS (bits 3–0) selects the periodic rate
//!   (32.768 kHz / 2^(RS−1); RS 1 and 2 alias 8 and 9; 0 = none).
//! - **Register B**: SET stops updates so software can write the time (setting it clears UIE);
//!   PIE, AIE, UIE enable the interrupts; SQWE and DSE are stored without effect.
//! - **Register C** (read-only): IRQF, PF, AF, UF. PF is set at the periodic rate, UF after
//!   every update, AF after an update whose time matches the alarm registers 0x01, 0x03, 0x05
//!   (a value with bits 7–6 = 11 matches anything). The flags are set whether or not enabled;
//!   IRQF = (PF·PIE + AF·AIE + UF·UIE), and IRQ 8 follows IRQF. Reading C clears it all.
//! - **Register D**: VRT (bit 7) always 1: the battery is fine.
//! - **CMOS**: bytes 0x0E–0x7F are plain RAM, kept across power cycles. At install the
//!   memory-size bytes are filled from `ctx.vm_config().ram_bytes`: 0x15/0x16 base memory in
//!   KiB (640), 0x17/0x18 and 0x30/0x31 extended memory above 1 MiB in KiB (capped at 0xFFFF),
//!   0x34/0x35 memory above 16 MiB in 64 KiB blocks (capped at 0xFFFF), 0x5B–0x5D memory
//!   above 4 GiB in 64 KiB blocks, and the standard checksum 0x2E/0x2F over 0x10–0x2D. RAM
//!   beyond [`LOW_RAM_LIMIT`] is assumed to sit above 4 GiB (the VMM's memory map must agree).
//! - **Time and events** are computed from the context clock, not stepped: every access first
//!   settles what happened since the last one. While an interrupt is enabled the RTC holds one
//!   context timer (the periodic period, or [`UPDATE_POLL_NS`] for update/alarm, never below
//!   [`MIN_TIMER_PERIOD_NS`]) to raise IRQ 8 on time; missed events coalesce into the flags,
//!   which is what the chip's sticky flags do too.
//! - **Not modelled**: daylight-saving adjustment (DSE), the square-wave pin, the 4.194304 and
//!   1.048576 MHz time bases (every DV other than 11x runs at 32.768 kHz), the update cycle's
//!   1984 µs duration (the registers change at the end of UIP).
//!
//! # Threat note
//! The guest controls the index (masked to 7 bits, so every index is inside the 128-byte
//! RAM) and every byte written. Time registers written by the guest are decoded leniently and
//! clamped into range before they restart the clock, so no date is invalid; the year stays in
//! 0–9999. All clock arithmetic is `i128` on nanoseconds with Euclidean division; the alarm
//! search visits at most 1441 minutes whatever the gap. Nothing grows; the RTC holds at most one
//! timer, never shorter than [`MIN_TIMER_PERIOD_NS`].

pub mod calendar;

#[cfg(test)]
mod tests;

use calendar::{DateTime, decode, decode_hour, encode, encode_hour};

use crate::interface::{
    Device, DeviceContext, DeviceError, IrqLine, Nanos, PortRange, TimerError, TimerId,
};
use crate::port_claims::{claim_ports, release_ports};

/// Index port (bit 7: NMI mask).
pub const INDEX_PORT: u16 = 0x70;
/// Data port.
pub const DATA_PORT: u16 = 0x71;
/// The RTC's interrupt line.
pub const IRQ: IrqLine = IrqLine(8);
/// Bytes of CMOS (clock registers included).
pub const CMOS_BYTES: usize = 128;
/// The index bits of port 0x70.
pub const INDEX_MASK: u8 = 0x7F;
/// Port 0x70 bit 7: NMI disabled.
pub const NMI_MASK: u8 = 0x80;
/// How long before an update UIP reads 1.
pub const UIP_LEAD_NS: Nanos = 244_000;
/// Timer period used for update and alarm interrupts.
pub const UPDATE_POLL_NS: Nanos = 10_000_000;
/// The shortest timer period the RTC asks the VMM for.
pub const MIN_TIMER_PERIOD_NS: Nanos = 100_000;
/// The latest wall time the RTC can be constructed with: 9999-12-31 23:59:59.
pub const MAX_EPOCH_SECONDS: u64 = 253_402_300_799;
/// Guest RAM below this address stays below 4 GiB; the rest is above 4 GiB (the PCI hole).
pub const LOW_RAM_LIMIT: u64 = 0xE000_0000;

const NANOS_PER_SECOND: i128 = 1_000_000_000;
/// The divider's time base: 32.768 kHz.
const TIME_BASE_HZ: i128 = 32_768;
/// After the divider leaves reset, the first update comes this much later.
const FIRST_UPDATE_AFTER_RESET_NS: i128 = 500_000_000;

/// Register indices.
pub mod register {
    pub const SECONDS: u8 = 0x00;
    pub const SECONDS_ALARM: u8 = 0x01;
    pub const MINUTES: u8 = 0x02;
    pub const MINUTES_ALARM: u8 = 0x03;
    pub const HOURS: u8 = 0x04;
    pub const HOURS_ALARM: u8 = 0x05;
    pub const WEEKDAY: u8 = 0x06;
    pub const DAY: u8 = 0x07;
    pub const MONTH: u8 = 0x08;
    pub const YEAR: u8 = 0x09;
    pub const A: u8 = 0x0A;
    pub const B: u8 = 0x0B;
    pub const C: u8 = 0x0C;
    pub const D: u8 = 0x0D;
    /// First byte covered by the standard CMOS checksum.
    pub const CHECKSUM_FIRST: u8 = 0x10;
    /// Last byte covered by the standard CMOS checksum.
    pub const CHECKSUM_LAST: u8 = 0x2D;
    /// Checksum, high byte (0x2F is the low byte).
    pub const CHECKSUM_HIGH: u8 = 0x2E;
    pub const CHECKSUM_LOW: u8 = 0x2F;
    /// Base memory in KiB, low/high.
    pub const BASE_MEMORY_LOW: u8 = 0x15;
    pub const BASE_MEMORY_HIGH: u8 = 0x16;
    /// Extended memory above 1 MiB in KiB, low/high (and the copy at 0x30/0x31).
    pub const EXTENDED_MEMORY_LOW: u8 = 0x17;
    pub const EXTENDED_MEMORY_HIGH: u8 = 0x18;
    pub const EXTENDED_MEMORY_COPY_LOW: u8 = 0x30;
    pub const EXTENDED_MEMORY_COPY_HIGH: u8 = 0x31;
    /// The IBM century byte.
    pub const CENTURY: u8 = 0x32;
    /// Memory above 16 MiB in 64 KiB blocks, low/high.
    pub const HIGH_MEMORY_LOW: u8 = 0x34;
    pub const HIGH_MEMORY_HIGH: u8 = 0x35;
    /// Memory above 4 GiB in 64 KiB blocks, three bytes from here.
    pub const ABOVE_4G_FIRST: u8 = 0x5B;
}

/// Register A bits.
pub mod reg_a {
    /// Update in progress (read-only).
    pub const UIP: u8 = 0x80;
    /// Divider control bits 6–4.
    pub const DIVIDER_MASK: u8 = 0x70;
    /// DV = 11x: divider held in reset.
    pub const DIVIDER_RESET: u8 = 0x60;
    /// DV = 010: 32.768 kHz time base, running (the usual value).
    pub const DIVIDER_NORMAL: u8 = 0x20;
    /// Rate select bits 3–0.
    pub const RATE_MASK: u8 = 0x0F;
}

/// Register B bits.
pub mod reg_b {
    /// Halt updates to set the time.
    pub const SET: u8 = 0x80;
    /// Periodic interrupt enable.
    pub const PIE: u8 = 0x40;
    /// Alarm interrupt enable.
    pub const AIE: u8 = 0x20;
    /// Update-ended interrupt enable.
    pub const UIE: u8 = 0x10;
    /// Square-wave enable (no effect).
    pub const SQWE: u8 = 0x08;
    /// Data mode: 1 = binary, 0 = BCD.
    pub const BINARY: u8 = 0x04;
    /// 1 = 24-hour mode.
    pub const TWENTY_FOUR_HOUR: u8 = 0x02;
    /// Daylight saving enable (no effect).
    pub const DSE: u8 = 0x01;
}

/// Register C bits (flags), which line up with register B's enables.
pub mod reg_c {
    /// Some enabled flag is set.
    pub const IRQF: u8 = 0x80;
    /// Periodic flag.
    pub const PF: u8 = 0x40;
    /// Alarm flag.
    pub const AF: u8 = 0x20;
    /// Update-ended flag.
    pub const UF: u8 = 0x10;
    /// The three event flags.
    pub const FLAGS: u8 = PF | AF | UF;
}

/// Register D bits.
pub mod reg_d {
    /// Valid RAM and time.
    pub const VRT: u8 = 0x80;
}

/// An alarm register value with bits 7–6 set matches every value.
const ALARM_DONT_CARE: u8 = 0xC0;
/// Register A after construction: divider running, 1024 Hz periodic rate (the BIOS default).
const DEFAULT_REGISTER_A: u8 = reg_a::DIVIDER_NORMAL | 0x06;
/// Register B after construction: BCD, 24-hour, nothing enabled.
const DEFAULT_REGISTER_B: u8 = reg_b::TWENTY_FOUR_HOUR;
const OPEN_BUS: u8 = 0xFF;
const BASE_MEMORY_KIB: u64 = 640;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const BLOCK_64K: u64 = 64 * KIB;

/// Why an RTC could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcError {
    /// The initial wall time is past [`MAX_EPOCH_SECONDS`].
    TimeOutOfRange(u64),
}

/// One alarm register, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AlarmField {
    Any,
    Exactly(i64),
    Never,
}

impl AlarmField {
    fn matches(self, value: i64) -> bool {
        match self {
            AlarmField::Any => true,
            AlarmField::Exactly(wanted) => wanted == value,
            AlarmField::Never => false,
        }
    }
}

/// The RTC and CMOS RAM.
#[derive(Debug, Clone)]
pub struct RtcCmos {
    ram: [u8; CMOS_BYTES],
    index: u8,
    nmi_masked: bool,
    /// Update boundaries fall at `anchor_ns + k × 1 s`; the clock read `anchor_seconds` at
    /// `anchor_ns`. Periodic boundaries fall at `anchor_ns + k × period`.
    anchor_ns: i128,
    anchor_seconds: i64,
    /// The clock while the divider is held in reset.
    frozen_seconds: i64,
    /// Events have been settled up to here.
    settled_ns: i128,
    flags: u8,
    irq_level: bool,
    timer: Option<(TimerId, Nanos)>,
    timer_error: Option<TimerError>,
}

impl RtcCmos {
    /// An RTC reading `epoch_seconds` (seconds since 1970-01-01 00:00:00, the RTC's local
    /// time) at VM time 0, registers in the BIOS's usual state.
    pub fn new(epoch_seconds: u64) -> Result<Self, RtcError> {
        if epoch_seconds > MAX_EPOCH_SECONDS {
            return Err(RtcError::TimeOutOfRange(epoch_seconds));
        }
        let seconds = epoch_seconds as i64;
        let mut ram = [0u8; CMOS_BYTES];
        ram[usize::from(register::A)] = DEFAULT_REGISTER_A;
        ram[usize::from(register::B)] = DEFAULT_REGISTER_B;
        ram[usize::from(register::D)] = reg_d::VRT;
        let mut rtc = RtcCmos {
            ram,
            index: 0,
            nmi_masked: false,
            anchor_ns: 0,
            anchor_seconds: seconds,
            frozen_seconds: seconds,
            settled_ns: 0,
            flags: 0,
            irq_level: false,
            timer: None,
            timer_error: None,
        };
        rtc.write_time_registers(seconds);
        Ok(rtc)
    }

    /// The ports the RTC decodes.
    pub const PORTS: [PortRange; 2] = [PortRange::single(INDEX_PORT), PortRange::single(DATA_PORT)];

    /// Whether the guest masked NMI through port 0x70 bit 7.
    pub fn nmi_masked(&self) -> bool {
        self.nmi_masked
    }

    /// The clock as seconds since 1970 at `now` (what the time registers show).
    pub fn seconds_at(&self, now: Nanos) -> i64 {
        if self.divider_reset() {
            self.frozen_seconds
        } else {
            self.running_seconds(i128::from(now))
        }
    }

    /// A CMOS byte, without side effects (for the VMM and tests).
    pub fn cmos(&self, index: u8) -> u8 {
        self.ram[usize::from(index & INDEX_MASK)]
    }

    /// The last error the context gave when the RTC asked for a timer.
    pub fn timer_error(&self) -> Option<TimerError> {
        self.timer_error
    }

    fn register_a(&self) -> u8 {
        self.ram[usize::from(register::A)]
    }

    fn register_b(&self) -> u8 {
        self.ram[usize::from(register::B)]
    }

    fn divider_reset(&self) -> bool {
        self.register_a() & reg_a::DIVIDER_RESET == reg_a::DIVIDER_RESET
    }

    fn set_mode(&self) -> bool {
        self.register_b() & reg_b::SET != 0
    }

    fn binary(&self) -> bool {
        self.register_b() & reg_b::BINARY != 0
    }

    fn twenty_four(&self) -> bool {
        self.register_b() & reg_b::TWENTY_FOUR_HOUR != 0
    }

    fn updates_enabled(&self) -> bool {
        !self.set_mode() && !self.divider_reset()
    }

    fn running_seconds(&self, now: i128) -> i64 {
        let elapsed = (now - self.anchor_ns).div_euclid(NANOS_PER_SECOND);
        // `elapsed` is at most 2^64 ns / 1 s ≈ 1.8e10, so the sum stays far inside i64.
        self.anchor_seconds.saturating_add(elapsed as i64)
    }

    /// Update boundaries passed in (from, to].
    fn updates_between(&self, from: i128, to: i128) -> i128 {
        (to - self.anchor_ns).div_euclid(NANOS_PER_SECOND)
            - (from - self.anchor_ns).div_euclid(NANOS_PER_SECOND)
    }

    /// The periodic interrupt period as a fraction: boundaries at multiples of
    /// `numerator / TIME_BASE_HZ` seconds; `None` for RS = 0.
    fn periodic_divisor(&self) -> Option<i128> {
        let rate = match self.register_a() & reg_a::RATE_MASK {
            0 => return None,
            1 => 8,
            2 => 9,
            other => other,
        };
        Some(1i128 << (rate - 1))
    }

    fn periodic_between(&self, from: i128, to: i128, divisor: i128) -> i128 {
        let index =
            |t: i128| ((t - self.anchor_ns) * TIME_BASE_HZ).div_euclid(divisor * NANOS_PER_SECOND);
        index(to) - index(from)
    }

    fn alarm_fields(&self) -> [AlarmField; 3] {
        let binary = self.binary();
        let field = |index: u8, limit: u8| {
            let byte = self.ram[usize::from(index)];
            if byte & ALARM_DONT_CARE == ALARM_DONT_CARE {
                return AlarmField::Any;
            }
            let value = if binary {
                Some(byte)
            } else {
                calendar::from_bcd_strict(byte)
            };
            match value {
                Some(value) if value < limit => AlarmField::Exactly(i64::from(value)),
                _ => AlarmField::Never,
            }
        };
        let hours_byte = self.ram[usize::from(register::HOURS_ALARM)];
        let hours = if hours_byte & ALARM_DONT_CARE == ALARM_DONT_CARE {
            AlarmField::Any
        } else {
            decode_hour(hours_byte, binary, self.twenty_four()).map_or(AlarmField::Never, |hour| {
                AlarmField::Exactly(i64::from(hour))
            })
        };
        [
            field(register::SECONDS_ALARM, 60),
            field(register::MINUTES_ALARM, 60),
            hours,
        ]
    }

    /// Whether the clock shows the alarm time at some second in [first, last].
    fn alarm_between(&self, first: i64, last: i64) -> bool {
        if last < first {
            return false;
        }
        let [seconds, minutes, hours] = self.alarm_fields();
        if [seconds, minutes, hours].contains(&AlarmField::Never) {
            return false;
        }
        if last - first >= calendar::SECONDS_PER_DAY {
            return true;
        }
        // At most a day: at most 1441 minutes to look at.
        let mut minute = first.div_euclid(60);
        while minute <= last.div_euclid(60) {
            let of_day = minute.rem_euclid(calendar::SECONDS_PER_DAY / 60);
            if hours.matches(of_day / 60) && minutes.matches(of_day % 60) {
                let low = first.max(minute * 60);
                let high = last.min(minute * 60 + 59);
                let hit = match seconds {
                    AlarmField::Exactly(second) => (low..=high).contains(&(minute * 60 + second)),
                    _ => true,
                };
                if hit {
                    return true;
                }
            }
            minute += 1;
        }
        false
    }

    /// Sets the event flags for everything that happened in (settled, now], then refreshes the
    /// time registers (unless SET) and the IRQ line.
    fn settle(&mut self, ctx: &mut dyn DeviceContext) {
        let now = i128::from(ctx.now());
        let from = self.settled_ns;
        if now > from && !self.divider_reset() {
            if let Some(divisor) = self.periodic_divisor()
                && self.periodic_between(from, now, divisor) > 0
            {
                self.flags |= reg_c::PF;
            }
            if self.updates_enabled() && self.updates_between(from, now) > 0 {
                self.flags |= reg_c::UF;
                let first = self.running_seconds(from).saturating_add(1);
                if self.alarm_between(first, self.running_seconds(now)) {
                    self.flags |= reg_c::AF;
                }
            }
        }
        self.settled_ns = self.settled_ns.max(now);
        if !self.set_mode() {
            self.write_time_registers(self.seconds_at(ctx.now()));
        }
        self.update_irq(ctx);
    }

    fn irq_flag(&self) -> bool {
        self.flags & self.register_b() & reg_c::FLAGS != 0
    }

    fn update_irq(&mut self, ctx: &mut dyn DeviceContext) {
        let level = self.irq_flag();
        if level != self.irq_level {
            self.irq_level = level;
            // IRQ 8 is checked at install; nothing better to do if it went away.
            let _ = ctx.set_irq(IRQ, level);
        }
    }

    fn write_time_registers(&mut self, seconds: i64) {
        let time = DateTime::from_seconds(seconds);
        let binary = self.binary();
        let year = time.year.rem_euclid(10_000);
        let fields = [
            (register::SECONDS, encode(time.second, binary)),
            (register::MINUTES, encode(time.minute, binary)),
            (
                register::HOURS,
                encode_hour(time.hour, binary, self.twenty_four()),
            ),
            (register::WEEKDAY, encode(time.weekday, binary)),
            (register::DAY, encode(time.day, binary)),
            (register::MONTH, encode(time.month, binary)),
            (register::YEAR, encode((year % 100) as u8, binary)),
            (register::CENTURY, encode((year / 100) as u8, binary)),
        ];
        for (index, value) in fields {
            self.ram[usize::from(index)] = value;
        }
    }

    /// The time the registers hold, clamped into range.
    fn time_from_registers(&self) -> i64 {
        let binary = self.binary();
        let get = |index: u8| decode(self.ram[usize::from(index)], binary);
        let hours_byte = self.ram[usize::from(register::HOURS)];
        let hour = decode_hour(hours_byte, binary, self.twenty_four())
            .unwrap_or_else(|| decode(hours_byte & !calendar::PM, binary).min(23));
        let year = i64::from(get(register::CENTURY).min(99)) * 100
            + i64::from(get(register::YEAR).min(99));
        DateTime {
            year,
            month: get(register::MONTH).clamp(1, 12),
            day: get(register::DAY).clamp(1, 31),
            hour,
            minute: get(register::MINUTES).min(59),
            second: get(register::SECONDS).min(59),
            weekday: 1,
        }
        .to_seconds()
    }

    /// Restarts the clock from `seconds`, keeping the divider's phase.
    fn restart_clock(&mut self, seconds: i64, now: i128) {
        if self.divider_reset() {
            self.frozen_seconds = seconds;
        } else {
            let whole = (now - self.anchor_ns).div_euclid(NANOS_PER_SECOND);
            self.anchor_ns += whole * NANOS_PER_SECOND;
            self.anchor_seconds = seconds;
        }
    }

    fn read_data(&mut self, ctx: &mut dyn DeviceContext) -> u8 {
        self.settle(ctx);
        match self.index {
            register::A => {
                let mut value = self.register_a();
                let phase = (i128::from(ctx.now()) - self.anchor_ns).rem_euclid(NANOS_PER_SECOND);
                if self.updates_enabled() && phase >= NANOS_PER_SECOND - i128::from(UIP_LEAD_NS) {
                    value |= reg_a::UIP;
                }
                value
            }
            register::C => {
                let value = self.flags | if self.irq_flag() { reg_c::IRQF } else { 0 };
                self.flags = 0;
                self.update_irq(ctx);
                value
            }
            register::D => reg_d::VRT,
            index => self.ram[usize::from(index)],
        }
    }

    fn write_data(&mut self, ctx: &mut dyn DeviceContext, value: u8) {
        self.settle(ctx);
        let now = i128::from(ctx.now());
        match self.index {
            register::A => {
                let was_reset = self.divider_reset();
                if !was_reset && (value & reg_a::DIVIDER_RESET) == reg_a::DIVIDER_RESET {
                    self.frozen_seconds = self.running_seconds(now);
                }
                self.ram[usize::from(register::A)] = value & !reg_a::UIP;
                if was_reset && !self.divider_reset() {
                    self.anchor_ns = now + FIRST_UPDATE_AFTER_RESET_NS - NANOS_PER_SECOND;
                    self.anchor_seconds = self.frozen_seconds;
                }
                self.reschedule(ctx);
            }
            register::B => {
                let was_set = self.set_mode();
                let mut value = value;
                if value & reg_b::SET != 0 {
                    value &= !reg_b::UIE;
                }
                self.ram[usize::from(register::B)] = value;
                if was_set && !self.set_mode() {
                    self.restart_clock(self.time_from_registers(), now);
                }
                self.reschedule(ctx);
            }
            register::C | register::D => {}
            index @ (register::SECONDS
            | register::MINUTES
            | register::HOURS
            | register::WEEKDAY
            | register::DAY
            | register::MONTH
            | register::YEAR
            | register::CENTURY) => {
                self.ram[usize::from(index)] = value;
                if !self.set_mode() {
                    self.restart_clock(self.time_from_registers(), now);
                }
            }
            index => self.ram[usize::from(index)] = value,
        }
        self.settle(ctx);
    }

    /// Holds one timer while an interrupt is enabled (see the module docs).
    fn reschedule(&mut self, ctx: &mut dyn DeviceContext) {
        let enables = self.register_b();
        let periodic = (enables & reg_b::PIE != 0)
            .then(|| self.periodic_divisor())
            .flatten()
            .filter(|_| !self.divider_reset())
            .map(|divisor| (divisor * NANOS_PER_SECOND + TIME_BASE_HZ - 1) / TIME_BASE_HZ);
        let updates = enables & (reg_b::AIE | reg_b::UIE) != 0;
        let wanted = match (periodic, updates) {
            (Some(period), true) => Some(period.min(i128::from(UPDATE_POLL_NS))),
            (Some(period), false) => Some(period),
            (None, true) => Some(i128::from(UPDATE_POLL_NS)),
            (None, false) => None,
        }
        .map(|period| (period as Nanos).max(MIN_TIMER_PERIOD_NS));
        if self.timer.map(|(_, period)| period) == wanted {
            return;
        }
        if let Some((timer, _)) = self.timer.take() {
            // A timer we hold cannot be unknown to the context that gave it.
            let _ = ctx.disconnect_timer(timer);
        }
        if let Some(period) = wanted {
            match ctx.connect_timer(period) {
                Ok(timer) => self.timer = Some((timer, period)),
                Err(error) => self.timer_error = Some(error),
            }
        }
    }

    fn fill_memory_sizes(&mut self, ram_bytes: u64) {
        let below_4g = ram_bytes.min(LOW_RAM_LIMIT);
        let above_4g = ram_bytes - below_4g;
        let base = (ram_bytes / KIB).min(BASE_MEMORY_KIB);
        let extended = (below_4g.saturating_sub(MIB) / KIB).min(0xFFFF);
        let high = (below_4g.saturating_sub(16 * MIB) / BLOCK_64K).min(0xFFFF);
        let above = (above_4g / BLOCK_64K).min(0xFF_FFFF);
        let mut put16 = |low: u8, high_index: u8, value: u64| {
            let [a, b, ..] = value.to_le_bytes();
            self.ram[usize::from(low)] = a;
            self.ram[usize::from(high_index)] = b;
        };
        put16(register::BASE_MEMORY_LOW, register::BASE_MEMORY_HIGH, base);
        put16(
            register::EXTENDED_MEMORY_LOW,
            register::EXTENDED_MEMORY_HIGH,
            extended,
        );
        put16(
            register::EXTENDED_MEMORY_COPY_LOW,
            register::EXTENDED_MEMORY_COPY_HIGH,
            extended,
        );
        put16(register::HIGH_MEMORY_LOW, register::HIGH_MEMORY_HIGH, high);
        let first = usize::from(register::ABOVE_4G_FIRST);
        self.ram[first..first + 3].copy_from_slice(&above.to_le_bytes()[..3]);
        let sum: u16 = self.ram
            [usize::from(register::CHECKSUM_FIRST)..=usize::from(register::CHECKSUM_LAST)]
            .iter()
            .map(|byte| u16::from(*byte))
            .sum();
        let [low, high] = sum.to_le_bytes();
        self.ram[usize::from(register::CHECKSUM_HIGH)] = high;
        self.ram[usize::from(register::CHECKSUM_LOW)] = low;
    }
}

impl Device for RtcCmos {
    fn name(&self) -> &str {
        "rtc_cmos"
    }

    /// Claims 0x70–0x71, checks IRQ 8, fills the memory-size bytes from the VM configuration.
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        ctx.set_irq(IRQ, false)
            .map_err(|e| DeviceError::Config(alloc::format!("rtc_cmos irq 8: {e:?}")))?;
        self.fill_memory_sizes(ctx.vm_config().ram_bytes);
        claim_ports(ctx, &Self::PORTS)
    }

    /// The chip's RESET: PIE, AIE, UIE, SQWE and every flag cleared; time and RAM kept.
    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.settle(ctx);
        self.ram[usize::from(register::B)] &= !(reg_b::PIE | reg_b::AIE | reg_b::UIE | reg_b::SQWE);
        self.flags = 0;
        self.update_irq(ctx);
        self.reschedule(ctx);
        Ok(())
    }

    fn power_off(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        if let Some((timer, _)) = self.timer.take() {
            ctx.disconnect_timer(timer)?;
        }
        if self.irq_level {
            self.irq_level = false;
            let _ = ctx.set_irq(IRQ, false);
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
        for (index, byte) in data.iter_mut().enumerate() {
            *byte = match u16::try_from(index)
                .ok()
                .and_then(|index| port.checked_add(index))
            {
                Some(DATA_PORT) => self.read_data(ctx),
                _ => OPEN_BUS,
            };
        }
    }

    fn pio_write(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &[u8]) {
        for (index, value) in data.iter().enumerate() {
            match u16::try_from(index)
                .ok()
                .and_then(|index| port.checked_add(index))
            {
                Some(INDEX_PORT) => {
                    self.index = value & INDEX_MASK;
                    self.nmi_masked = value & NMI_MASK != 0;
                }
                Some(DATA_PORT) => self.write_data(ctx, *value),
                _ => {}
            }
        }
    }

    fn timer(&mut self, ctx: &mut dyn DeviceContext, id: TimerId, _now: Nanos) {
        if self.timer.is_some_and(|(held, _)| held == id) {
            self.settle(ctx);
        }
    }
}
