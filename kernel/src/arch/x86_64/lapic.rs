//! The boot CPU's local APIC in xAPIC (MMIO) or x2APIC (MSR) mode, and its timer as the
//! hypervisor's periodic tick (Intel SDM Vol. 3A, chapter 11 "Advanced Programmable Interrupt
//! Controller", 11.5.4 "APIC timer", 11.12 "x2APIC").
//!
//! The timer is calibrated against the PIT (channel 2, one-shot) and then runs periodically at
//! the configured rate; every tick increments [`ticks`].

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;
use x86_64::registers::model_specific::Msr;

use super::calibration::{self, CalibrationError};
use super::idt::{APIC_ERROR_VECTOR, APIC_SPURIOUS_VECTOR, APIC_TIMER_VECTOR};
use super::{pit, tsc};

/// IA32_APIC_BASE: the APIC's physical base and enable bits.
const IA32_APIC_BASE: u32 = 0x1b;
/// IA32_APIC_BASE bit 11: APIC globally enabled.
const APIC_BASE_ENABLE: u64 = 1 << 11;
/// IA32_APIC_BASE bit 10: x2APIC mode.
const APIC_BASE_X2APIC: u64 = 1 << 10;
/// IA32_APIC_BASE bits 12 and up: the xAPIC page's physical address.
const APIC_BASE_ADDRESS_MASK: u64 = !0xfff;
/// First MSR of the x2APIC register block (register offset >> 4 is added).
const X2APIC_MSR_BASE: u32 = 0x800;

/// Local APIC registers by their xAPIC MMIO offset (SDM Vol. 3A, table 11-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Register {
    Id = 0x20,
    Version = 0x30,
    TaskPriority = 0x80,
    EndOfInterrupt = 0xb0,
    SpuriousVector = 0xf0,
    ErrorStatus = 0x280,
    LvtTimer = 0x320,
    LvtLint0 = 0x350,
    LvtLint1 = 0x360,
    LvtError = 0x370,
    TimerInitialCount = 0x380,
    TimerCurrentCount = 0x390,
    TimerDivide = 0x3e0,
}

/// Spurious-vector register bit 8: APIC software enable.
const SVR_SOFTWARE_ENABLE: u32 = 1 << 8;
/// LVT bit 16: masked.
const LVT_MASKED: u32 = 1 << 16;
/// LVT timer bits 18:17 = 01: periodic mode.
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
/// Divide configuration 0b1011: divide by 1.
const TIMER_DIVIDE_BY_1: u32 = 0b1011;

/// How the APIC is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApicMode {
    /// Registers in a 4 KiB MMIO page.
    XApic,
    /// Registers as MSRs 0x800–0x8FF.
    X2Apic,
}

/// Why the APIC could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApicError {
    /// CPUID.1:EDX.APIC is clear.
    NotPresent,
    /// Calibration failed.
    Calibration(CalibrationError),
}

struct LocalApic {
    mode: ApicMode,
    /// Virtual address of the xAPIC page (unused in x2APIC mode).
    mmio: u64,
}

impl LocalApic {
    fn read(&self, register: Register) -> u32 {
        match self.mode {
            // SAFETY: `mmio` maps the APIC page (see `init`); the register offset is in it and
            // 4-byte aligned as the APIC requires.
            ApicMode::XApic => unsafe {
                core::ptr::read_volatile((self.mmio + register as u64) as *const u32)
            },
            // SAFETY: x2APIC mode is enabled, so MSR 0x800 + offset/16 is this register.
            ApicMode::X2Apic => unsafe { Msr::new(x2apic_msr(register)).read() as u32 },
        }
    }

    fn write(&self, register: Register, value: u32) {
        match self.mode {
            // SAFETY: as in `read`.
            ApicMode::XApic => unsafe {
                core::ptr::write_volatile((self.mmio + register as u64) as *mut u32, value)
            },
            // SAFETY: as in `read`; writes of these registers have no effect beyond the APIC.
            ApicMode::X2Apic => unsafe { Msr::new(x2apic_msr(register)).write(u64::from(value)) },
        }
    }
}

fn x2apic_msr(register: Register) -> u32 {
    X2APIC_MSR_BASE + (register as u32 >> 4)
}

static APIC: Once<LocalApic> = Once::new();
static TICKS: AtomicU64 = AtomicU64::new(0);
static ERRORS: AtomicU64 = AtomicU64::new(0);
static TIMER_HZ: AtomicU64 = AtomicU64::new(0);
static TICK_HZ: AtomicU64 = AtomicU64::new(0);

/// Enable the APIC in the preferred mode (x2APIC when the CPU has it and `prefer_x2apic`).
/// `physical_memory_offset` is where the bootloader mapped physical memory.
pub fn init(physical_memory_offset: u64, prefer_x2apic: bool) -> Result<ApicMode, ApicError> {
    let features = raw_cpuid::CpuId::new()
        .get_feature_info()
        .ok_or(ApicError::NotPresent)?;
    if !features.has_apic() {
        return Err(ApicError::NotPresent);
    }
    let mode = if prefer_x2apic && features.has_x2apic() {
        ApicMode::X2Apic
    } else {
        ApicMode::XApic
    };
    let mut base_msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC (checked above).
    let base = unsafe { base_msr.read() };
    let mut enabled = base | APIC_BASE_ENABLE;
    if mode == ApicMode::X2Apic {
        enabled |= APIC_BASE_X2APIC;
    }
    // SAFETY: setting the enable bits (xAPIC → x2APIC is a permitted transition) keeps the
    // base address; nothing else uses the APIC yet.
    unsafe { base_msr.write(enabled) };
    let mmio = physical_memory_offset + (base & APIC_BASE_ADDRESS_MASK);
    let apic = APIC.call_once(|| LocalApic { mode, mmio });
    apic.write(Register::TaskPriority, 0);
    apic.write(Register::LvtLint0, LVT_MASKED);
    apic.write(Register::LvtLint1, LVT_MASKED);
    apic.write(Register::LvtError, u32::from(APIC_ERROR_VECTOR));
    apic.write(
        Register::LvtTimer,
        LVT_MASKED | u32::from(APIC_TIMER_VECTOR),
    );
    apic.write(
        Register::SpuriousVector,
        SVR_SOFTWARE_ENABLE | u32::from(APIC_SPURIOUS_VECTOR),
    );
    Ok(mode)
}

fn apic() -> &'static LocalApic {
    APIC.get().expect("local APIC used before lapic::init")
}

/// The APIC ID of this CPU.
pub fn id() -> u32 {
    let raw = apic().read(Register::Id);
    match apic().mode {
        ApicMode::XApic => raw >> 24,
        ApicMode::X2Apic => raw,
    }
}

/// The APIC version register (version in bits 7:0, max LVT entry in 23:16).
pub fn version() -> u32 {
    apic().read(Register::Version)
}

/// Measure the timer's input frequency (divide by 1) over a `window_micros` PIT window.
pub fn calibrate(window_micros: u64) -> Result<u64, ApicError> {
    let apic = apic();
    let pit_ticks = calibration::pit_ticks_for_micros(window_micros)
        .ok_or(ApicError::Calibration(CalibrationError::NoMeasurement))?;
    apic.write(Register::TimerDivide, TIMER_DIVIDE_BY_1);
    apic.write(
        Register::LvtTimer,
        LVT_MASKED | u32::from(APIC_TIMER_VECTOR),
    );
    // Several windows, median of each rate: one window stretched by an emulator's host being
    // busy (or an SMI on hardware) does not skew the result.
    let mut timer_rates = [0u64; CALIBRATION_ROUNDS];
    let mut tsc_rates = [0u64; CALIBRATION_ROUNDS];
    for round in 0..CALIBRATION_ROUNDS {
        let mut tsc_start = 0;
        pit::wait_ticks(pit_ticks, || {
            apic.write(Register::TimerInitialCount, u32::MAX);
            tsc_start = tsc::now();
        });
        let remaining = apic.read(Register::TimerCurrentCount);
        let tsc_ticks = tsc::now().wrapping_sub(tsc_start);
        apic.write(Register::TimerInitialCount, 0);
        let counted = u64::from(u32::MAX - remaining);
        timer_rates[round] =
            calibration::timer_hz(counted, u64::from(pit_ticks)).map_err(ApicError::Calibration)?;
        tsc_rates[round] = calibration::timer_hz(tsc_ticks, u64::from(pit_ticks)).unwrap_or(0);
    }
    let hz = calibration::median(&mut timer_rates);
    tsc::record_rate(calibration::median(&mut tsc_rates));
    TIMER_HZ.store(hz, Ordering::Relaxed);
    Ok(hz)
}

/// PIT windows the calibration takes the median of.
const CALIBRATION_ROUNDS: usize = 3;

/// Start the periodic tick at `rate_hz` (after [`calibrate`]). Returns the initial count.
pub fn start_periodic(rate_hz: u64) -> Result<u32, ApicError> {
    let apic = apic();
    let count = calibration::initial_count(TIMER_HZ.load(Ordering::Relaxed), rate_hz)
        .map_err(ApicError::Calibration)?;
    TICK_HZ.store(rate_hz, Ordering::Relaxed);
    apic.write(Register::TimerDivide, TIMER_DIVIDE_BY_1);
    apic.write(
        Register::LvtTimer,
        LVT_TIMER_PERIODIC | u32::from(APIC_TIMER_VECTOR),
    );
    apic.write(Register::TimerInitialCount, count);
    Ok(count)
}

/// Stop the tick.
pub fn stop_timer() {
    let apic = apic();
    apic.write(
        Register::LvtTimer,
        LVT_MASKED | u32::from(APIC_TIMER_VECTOR),
    );
    apic.write(Register::TimerInitialCount, 0);
}

/// Periodic ticks since the timer started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The configured tick rate in Hz (0 before [`start_periodic`]).
pub fn tick_hz() -> u64 {
    TICK_HZ.load(Ordering::Relaxed)
}

/// APIC errors seen.
pub fn error_count() -> u64 {
    ERRORS.load(Ordering::Relaxed)
}

/// Signal end of interrupt.
pub fn end_of_interrupt() {
    if let Some(apic) = APIC.get() {
        apic.write(Register::EndOfInterrupt, 0);
    }
}

/// Called from the timer vector.
pub fn on_timer_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Called from the error vector: latch and log the error status.
pub fn on_error() {
    ERRORS.fetch_add(1, Ordering::Relaxed);
    if let Some(apic) = APIC.get() {
        // Writing ESR latches the current errors into it (SDM Vol. 3A, 11.5.3).
        apic.write(Register::ErrorStatus, 0);
        let status = apic.read(Register::ErrorStatus);
        log::warn!("local APIC error, ESR={status:#x}");
    }
}
