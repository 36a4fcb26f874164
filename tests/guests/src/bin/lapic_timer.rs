//! Local APIC guest (boot with `vm_apic=on`): the timer in its three modes, self IPIs, task
//! priority and EOI, first through the xAPIC page, then through the x2APIC MSRs (Intel SDM
//! Vol. 3A chapter 11). The hypervisor's APIC timer input clock is 1 GHz
//! (`kernel/src/vm/machine.rs`, `LAPIC_TIMER_HZ`); the guest measures it against the PIT the
//! way an OS calibrates, and uses the TSC, measured in the same window, to time its waits.
//!
//! Checks, each printed as `ok:`/`FAIL:` (exit 0 only if all pass):
//! - CPUID.1 reports the APIC, x2APIC and TSC-deadline; IA32_APIC_BASE is 0xFEE0_0000,
//!   enabled, BSP, xAPIC mode; the version register is an integrated APIC's with ≥ 4 LVTs;
//! - software enable through SVR reads back; PPR is 0 with TPR 0;
//! - the timer clock measured over a 50 ms PIT one-shot is 1 GHz ± 10 %;
//! - xAPIC periodic (divide 16, initial 625 000: 100 Hz): an interrupt arrives while the guest
//!   spins, the count over 2 RTC seconds is 200 ± 10 %, none in service and none after the
//!   timer is stopped;
//! - xAPIC one-shot (divide 16, initial 625 000: 10 ms): HLT wakes on the timer, before a
//!   50 ms PIT safety net, no earlier than 10 ms − 10 %; the current count reads 0; exactly one
//!   interrupt in 4 delays;
//! - a self IPI through the ICR waits in IRR while IF = 0, is held back by TPR 0x30 (its own
//!   priority class), is delivered once after TPR 0 with its ISR bit set in the handler, and
//!   leaves IRR and ISR clear after EOI;
//! - x2APIC mode through IA32_APIC_BASE.EXTD: the page no longer decodes (reads all-ones), the
//!   ID MSR is 0 and the LDR 0x1 (cluster 0, bit 0), SVR stays enabled, the version matches;
//!   periodic through the MSRs (divide 1, initial 5 000 000: 200 Hz) counts 400 ± 10 % over
//!   2 RTC seconds; SELF IPI (0x83F) and the ICR MSR deliver their vectors; a non-zero EOI
//!   write and a read of SELF IPI raise #GP;
//! - TSC-deadline mode: IA32_TSC_DEADLINE reads 0 while disarmed, a deadline 10 ms ahead
//!   wakes HLT with one interrupt (and no other in 4 delays) taken at a TSC at or after it,
//!   the MSR then reads 0; writing 0 disarms (no interrupt in 3 delays); a deadline already
//!   passed fires at once;
//! - no spurious interrupt and an empty ESR at the end.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use guests::check::Checks;
use guests::idt::{APIC_VECTOR_BASE, VECTOR_GP};
use guests::lapic::{self, Divide, TimerMode, reg};
use guests::{BootInfo, entry, idt, interrupts, pic, pit, println, rtc};

entry!(main);

/// The timer's vector (one-shot and periodic).
const TIMER_VECTOR: u8 = APIC_VECTOR_BASE;
/// The ICR self IPI's vector (priority class 3, like the timer's).
const SELF_IPI_VECTOR: u8 = APIC_VECTOR_BASE + 1;
/// The x2APIC SELF IPI register's vector.
const X2APIC_SELF_IPI_VECTOR: u8 = APIC_VECTOR_BASE + 2;
/// The TSC-deadline timer's vector.
const DEADLINE_VECTOR: u8 = APIC_VECTOR_BASE + 3;
/// The spurious vector (SVR); the APIC hands it out only when an acknowledge finds nothing.
const SPURIOUS_VECTOR: u8 = APIC_VECTOR_BASE + 0xF;
/// Vectors with a handler here: 0x30–0x3F.
const APIC_VECTORS: usize = 16;
/// A TPR in the self IPI's own priority class (3), which must hold it back.
const TPR_CLASS_3: u32 = 0x30;
/// The LVT entries the version register must report at least (timer, thermal, perf, LINT0).
const MIN_MAX_LVT: u32 = 3;

/// The hypervisor's APIC timer input clock (`LAPIC_TIMER_HZ`).
const MODEL_TIMER_HZ: u64 = 1_000_000_000;
/// Tolerance of every rate check: ±10 %.
const TOLERANCE_PERCENT: u64 = 10;
/// The calibration window: a PIT one-shot of 59 659 clocks, 50 ms.
const CALIBRATION_PIT_COUNT: u16 = 59_659;
/// PIT status polls before the calibration gives up.
const CALIBRATION_POLL_LIMIT: u32 = 5_000_000;
/// The calibration's masked count start (the counter must not run out in 50 ms at 1 GHz).
const CALIBRATION_INITIAL: u32 = u32::MAX;

/// xAPIC periodic: divide 16 at 1 GHz is 62.5 MHz, 625 000 counts a period: 100 Hz.
const XAPIC_PERIODIC_DIVIDE: Divide = Divide::By16;
const XAPIC_PERIODIC_INITIAL: u32 = 625_000;
const XAPIC_PERIODIC_HZ: u64 = 100;
/// x2APIC periodic: divide 1, 5 000 000 counts a period: 200 Hz.
const X2APIC_PERIODIC_DIVIDE: Divide = Divide::By1;
const X2APIC_PERIODIC_INITIAL: u32 = 5_000_000;
const X2APIC_PERIODIC_HZ: u64 = 200;
/// RTC seconds each periodic run is counted over.
const MEASURE_SECONDS: u32 = 2;
/// One-shot: divide 16, 625 000 counts: 10 ms.
const ONE_SHOT_DIVIDE: Divide = Divide::By16;
const ONE_SHOT_INITIAL: u32 = 625_000;
/// The one-shot delay and the TSC-deadline delay, in microseconds.
const SHOT_MICROS: u64 = 10_000;
/// The PIT one-shot that bounds every HLT: 59 659 clocks, 50 ms.
const SAFETY_NET_PIT_COUNT: u16 = 59_659;
/// HLTs a wait may take (the timer's interrupt, or the safety net's, ends it well before).
const HALT_LIMIT: u32 = 8;
/// How long to watch for interrupts that must not come: 3 shot delays.
const QUIET_MICROS: u64 = 3 * SHOT_MICROS;
/// How long to let a pending interrupt in with IF = 1.
const SETTLE_MICROS: u64 = 1_000;
/// The longest a first periodic interrupt may take to arrive.
const FIRST_TICK_MICROS: u64 = 100_000;
/// The longest an RTC seconds change may take (1.5 s).
const SECOND_CHANGE_MICROS: u64 = 1_500_000;
/// TSC time between RTC polls (the guest runs exit-free in between).
const RTC_POLL_GAP_MICROS: u64 = 1_000;
/// UIP polls per RTC read.
const UIP_POLL_LIMIT: u32 = 10_000;
const MICROS_PER_SECOND: u64 = 1_000_000;

/// Interrupts taken per vector 0x30–0x3F.
static COUNTS: [AtomicU32; APIC_VECTORS] = [const { AtomicU32::new(0) }; APIC_VECTORS];
/// Bit `v - 0x30` set: the handler of `v` found `v` in service (ISR).
static SAW_IN_SERVICE: AtomicU32 = AtomicU32::new(0);
/// The TSC when the last APIC interrupt's handler ran.
static LAST_TSC: AtomicU64 = AtomicU64::new(0);
/// PIT interrupts (the safety net).
static SAFETY_TICKS: AtomicU32 = AtomicU32::new(0);

/// The index of an APIC vector in [`COUNTS`].
fn slot(vector: u8) -> usize {
    usize::from(vector.wrapping_sub(APIC_VECTOR_BASE)) % APIC_VECTORS
}

fn on_apic_interrupt(vector: u8) {
    LAST_TSC.store(lapic::rdtsc(), Ordering::SeqCst);
    let index = slot(vector);
    COUNTS[index].fetch_add(1, Ordering::SeqCst);
    if vector == SPURIOUS_VECTOR {
        // A spurious interrupt is not in service and takes no EOI (SDM 11.9).
        return;
    }
    if lapic::in_service(vector) {
        SAW_IN_SERVICE.fetch_or(1 << index, Ordering::SeqCst);
    }
    lapic::eoi();
}

fn on_pit(_vector: u8) {
    SAFETY_TICKS.fetch_add(1, Ordering::SeqCst);
    pic::eoi(pit::IRQ);
}

fn count(vector: u8) -> u32 {
    COUNTS[slot(vector)].load(Ordering::SeqCst)
}

fn reset(vector: u8) {
    COUNTS[slot(vector)].store(0, Ordering::SeqCst);
    SAW_IN_SERVICE.fetch_and(!(1 << slot(vector)), Ordering::SeqCst);
}

fn saw_in_service(vector: u8) -> bool {
    SAW_IN_SERVICE.load(Ordering::SeqCst) & (1 << slot(vector)) != 0
}

/// `value` is within ±10 % of `expected`.
fn within_tolerance(value: u64, expected: u64) -> bool {
    value.abs_diff(expected).saturating_mul(100) <= expected.saturating_mul(TOLERANCE_PERCENT)
}

/// The clocks measured against the PIT.
#[derive(Debug, Clone, Copy)]
struct Clocks {
    /// The APIC timer's input clock (divide 1).
    timer_hz: u64,
    /// The TSC.
    tsc_hz: u64,
}

impl Clocks {
    /// TSC ticks in `micros` microseconds.
    fn ticks(&self, micros: u64) -> u64 {
        let ticks = u128::from(self.tsc_hz) * u128::from(micros) / u128::from(MICROS_PER_SECOND);
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// Microseconds in `ticks` TSC ticks.
    fn micros(&self, ticks: u64) -> u64 {
        let micros =
            u128::from(ticks) * u128::from(MICROS_PER_SECOND) / u128::from(self.tsc_hz.max(1));
        u64::try_from(micros).unwrap_or(u64::MAX)
    }

    /// Spins (no exits) until `done()` or `micros` have passed: whether `done()` held.
    fn wait_until(&self, micros: u64, mut done: impl FnMut() -> bool) -> bool {
        let start = lapic::rdtsc();
        let limit = self.ticks(micros);
        while lapic::rdtsc().wrapping_sub(start) < limit {
            if done() {
                return true;
            }
            interrupts::spin_hint();
        }
        done()
    }

    /// Spins for `micros` microseconds.
    fn wait(&self, micros: u64) {
        self.wait_until(micros, || false);
    }

    /// Lets interrupts in for `micros` microseconds, then turns them off again.
    fn open_window(&self, micros: u64) {
        interrupts::enable();
        self.wait(micros);
        interrupts::disable();
    }
}

/// Measures the APIC timer clock and the TSC over a 50 ms PIT one-shot (polled, IRQ 0
/// masked at the PIC).
fn calibrate(checks: &mut Checks) -> Option<Clocks> {
    lapic::start_masked_count(Divide::By1, CALIBRATION_INITIAL);
    pit::start_one_shot(CALIBRATION_PIT_COUNT);
    let count_start = lapic::current_count();
    let tsc_start = lapic::rdtsc();
    let mut ran_out = false;
    for _ in 0..CALIBRATION_POLL_LIMIT {
        if pit::out_high() {
            ran_out = true;
            break;
        }
    }
    let count_end = lapic::current_count();
    let tsc_end = lapic::rdtsc();
    pit::stop();
    lapic::stop_timer();
    if !checks.check(
        ran_out,
        format_args!("the 50 ms PIT calibration window ends"),
    ) {
        return None;
    }
    let pit_clocks = u64::from(CALIBRATION_PIT_COUNT);
    let per_second = |elapsed: u64| {
        let hz = u128::from(elapsed) * u128::from(pit::INPUT_HZ) / u128::from(pit_clocks);
        u64::try_from(hz).unwrap_or(u64::MAX)
    };
    let timer_hz = per_second(u64::from(count_start.saturating_sub(count_end)));
    let tsc_hz = per_second(tsc_end.wrapping_sub(tsc_start));
    println!("calibrated against the PIT: APIC timer clock {timer_hz} Hz, TSC {tsc_hz} Hz");
    checks.check(
        within_tolerance(timer_hz, MODEL_TIMER_HZ),
        format_args!(
            "APIC timer clock over a 50 ms PIT window: {timer_hz} Hz (expected {MODEL_TIMER_HZ} ± {TOLERANCE_PERCENT} %)"
        ),
    );
    checks
        .check(tsc_hz > 0, format_args!("the TSC advances: {tsc_hz} Hz"))
        .then_some(Clocks { timer_hz, tsc_hz })
}

/// Waits for the RTC's time of day to differ from `from`, for at most 1.5 s of TSC time.
fn next_second(clocks: &Clocks, from: u32) -> Option<u32> {
    let start = lapic::rdtsc();
    let limit = clocks.ticks(SECOND_CHANGE_MICROS);
    while lapic::rdtsc().wrapping_sub(start) < limit {
        let now = rtc::time_of_day(UIP_POLL_LIMIT)?;
        if now != from {
            return Some(now);
        }
        clocks.wait(RTC_POLL_GAP_MICROS);
    }
    None
}

/// Interrupts on `vector` over [`MEASURE_SECONDS`] RTC seconds, from one seconds change to
/// another; interrupts must be enabled.
fn count_over_rtc_seconds(clocks: &Clocks, vector: u8) -> Option<u32> {
    let mut second = rtc::time_of_day(UIP_POLL_LIMIT).and_then(|now| next_second(clocks, now))?;
    let first = count(vector);
    for _ in 0..MEASURE_SECONDS {
        second = next_second(clocks, second)?;
    }
    Some(count(vector).wrapping_sub(first))
}

/// A periodic run: `divide`/`initial` must give `hz` interrupts a second.
fn periodic(
    checks: &mut Checks,
    clocks: &Clocks,
    label: &str,
    divide: Divide,
    initial: u32,
    hz: u64,
) {
    reset(TIMER_VECTOR);
    lapic::start_timer(TimerMode::Periodic, TIMER_VECTOR, divide, initial);
    let current = lapic::current_count();
    checks.check(
        current > 0 && current <= initial,
        format_args!("{label} periodic: current count {current} counts down from {initial}"),
    );
    interrupts::enable();
    let arrived = clocks.wait_until(FIRST_TICK_MICROS, || count(TIMER_VECTOR) > 0);
    checks.check(
        arrived,
        format_args!("{label} periodic: the timer interrupt arrives while the guest spins"),
    );
    let expected = hz * u64::from(MEASURE_SECONDS);
    match count_over_rtc_seconds(clocks, TIMER_VECTOR) {
        Some(counted) => {
            checks.check(
                within_tolerance(u64::from(counted), expected),
                format_args!(
                    "{label} periodic {hz} Hz over {MEASURE_SECONDS} RTC seconds: {counted} interrupts (expected {expected} ± {TOLERANCE_PERCENT} %)"
                ),
            );
        }
        None => {
            checks.check(
                false,
                format_args!("{label} periodic: the RTC seconds change while the timer runs"),
            );
        }
    }
    interrupts::disable();
    lapic::stop_timer();
    // One expiry may already be requested when the timer stopped: let it in, then none.
    clocks.open_window(SETTLE_MICROS);
    let settled = count(TIMER_VECTOR);
    clocks.open_window(QUIET_MICROS);
    let late = count(TIMER_VECTOR).wrapping_sub(settled);
    checks.check(
        late == 0,
        format_args!("{label} periodic: {late} interrupts in 3 delays after the timer stopped"),
    );
    checks.check(
        saw_in_service(TIMER_VECTOR) && !lapic::any_in_service(),
        format_args!(
            "{label} periodic: the vector was in service in its handler, nothing is after EOI"
        ),
    );
}

/// Lets an IRQ 0 the PIT latched at the PIC in, so the safety net starts from zero.
fn drain_safety_net(clocks: &Clocks) {
    clocks.open_window(SETTLE_MICROS);
    SAFETY_TICKS.store(0, Ordering::SeqCst);
}

/// HLTs (IF = 1 only inside `sti; hlt`) until `vector` was taken or the 50 ms PIT safety net
/// fired: whether `vector` came first. The PIT is stopped afterwards.
fn halt_until(vector: u8) -> bool {
    pit::start_one_shot(SAFETY_NET_PIT_COUNT);
    for _ in 0..HALT_LIMIT {
        if count(vector) > 0 || SAFETY_TICKS.load(Ordering::SeqCst) > 0 {
            break;
        }
        interrupts::enable_and_halt();
        interrupts::disable();
    }
    pit::stop();
    count(vector) > 0 && SAFETY_TICKS.load(Ordering::SeqCst) == 0
}

fn one_shot(checks: &mut Checks, clocks: &Clocks) {
    drain_safety_net(clocks);
    reset(TIMER_VECTOR);
    let start = lapic::rdtsc();
    lapic::start_timer(
        TimerMode::OneShot,
        TIMER_VECTOR,
        ONE_SHOT_DIVIDE,
        ONE_SHOT_INITIAL,
    );
    let woke = halt_until(TIMER_VECTOR);
    checks.check(
        woke,
        format_args!(
            "xAPIC one-shot 10 ms: HLT woke on the timer interrupt before the 50 ms PIT safety net"
        ),
    );
    let after = clocks.micros(LAST_TSC.load(Ordering::SeqCst).wrapping_sub(start));
    let earliest = SHOT_MICROS - SHOT_MICROS * TOLERANCE_PERCENT / 100;
    checks.check(
        woke && after >= earliest,
        format_args!(
            "xAPIC one-shot 10 ms: the interrupt came after {after} µs (at least {earliest})"
        ),
    );
    checks.equal(
        "xAPIC one-shot: current count after the expiry",
        lapic::current_count(),
        0,
    );
    clocks.open_window(QUIET_MICROS);
    checks.equal(
        "xAPIC one-shot: interrupts in 4 delays",
        count(TIMER_VECTOR),
        1,
    );
    lapic::stop_timer();
}

fn self_ipi_xapic(checks: &mut Checks, clocks: &Clocks) {
    reset(SELF_IPI_VECTOR);
    lapic::send_self_ipi(SELF_IPI_VECTOR);
    checks.equal(
        "ICR delivery status after a self IPI (idle)",
        lapic::read(reg::ICR_LOW) & lapic::ICR_DELIVERY_STATUS,
        0,
    );
    checks.check(
        lapic::requested(SELF_IPI_VECTOR) && count(SELF_IPI_VECTOR) == 0,
        format_args!("self IPI 0x31 through the ICR waits in IRR while IF = 0"),
    );
    lapic::write(reg::TPR, TPR_CLASS_3);
    checks.equal("PPR with TPR 0x30", lapic::read(reg::PPR), TPR_CLASS_3);
    clocks.open_window(SETTLE_MICROS);
    checks.equal(
        "self IPI 0x31 deliveries with TPR 0x30 (same class: held back)",
        count(SELF_IPI_VECTOR),
        0,
    );
    lapic::write(reg::TPR, 0);
    clocks.open_window(SETTLE_MICROS);
    checks.equal(
        "self IPI 0x31 deliveries after TPR 0",
        count(SELF_IPI_VECTOR),
        1,
    );
    checks.check(
        saw_in_service(SELF_IPI_VECTOR),
        format_args!("self IPI 0x31 was in service (ISR) in its handler"),
    );
    checks.check(
        !lapic::requested(SELF_IPI_VECTOR) && !lapic::in_service(SELF_IPI_VECTOR),
        format_args!("self IPI 0x31: IRR and ISR clear after EOI"),
    );
}

fn discover(checks: &mut Checks) -> bool {
    let features = lapic::features();
    checks.check(features.apic, format_args!("CPUID.1:EDX.APIC (bit 9) set"));
    checks.check(
        features.x2apic,
        format_args!("CPUID.1:ECX.x2APIC (bit 21) set"),
    );
    checks.check(
        features.tsc_deadline,
        format_args!("CPUID.1:ECX.TSC-deadline (bit 24) set"),
    );
    let base = match lapic::apic_base() {
        Ok(base) => base,
        Err(fault) => {
            checks.check(
                false,
                format_args!("RDMSR IA32_APIC_BASE: {}", idt::mnemonic(fault.vector)),
            );
            return false;
        }
    };
    checks.equal(
        "IA32_APIC_BASE page",
        base & lapic::BASE_ADDRESS_MASK,
        lapic::DEFAULT_PAGE,
    );
    checks.equal(
        "IA32_APIC_BASE EN, BSP, EXTD (enabled BSP in xAPIC mode)",
        base & (lapic::BASE_ENABLE | lapic::BASE_BSP | lapic::BASE_EXTD),
        lapic::BASE_ENABLE | lapic::BASE_BSP,
    );
    lapic::use_page_of(base);
    let version = lapic::read(reg::VERSION);
    let max_lvt = (version >> lapic::VERSION_MAX_LVT_SHIFT) & lapic::VERSION_MAX_LVT_MASK;
    checks.check(
        lapic::INTEGRATED_VERSIONS.contains(&(version & lapic::VERSION_MASK))
            && max_lvt >= MIN_MAX_LVT,
        format_args!("version register {version:#x}: integrated APIC, max LVT entry {max_lvt}"),
    );
    checks.equal(
        "xAPIC ID matches CPUID.1:EBX[31:24]",
        lapic::read(reg::ID) >> lapic::XAPIC_ID_SHIFT,
        u32::from(features.initial_apic_id),
    );
    lapic::software_enable(SPURIOUS_VECTOR);
    checks.equal(
        "SVR after software enable",
        lapic::read(reg::SVR),
        lapic::SVR_ENABLE | u32::from(SPURIOUS_VECTOR),
    );
    checks.equal(
        "PPR with TPR 0 and nothing in service",
        lapic::read(reg::PPR),
        0,
    );
    features.apic
}

fn x2apic(checks: &mut Checks, clocks: &Clocks) -> bool {
    let xapic_version = lapic::read(reg::VERSION);
    if let Err(fault) = lapic::enter_x2apic() {
        checks.check(
            false,
            format_args!(
                "WRMSR IA32_APIC_BASE |= EXTD: {} error {:#x}",
                idt::mnemonic(fault.vector),
                fault.error_code
            ),
        );
        return false;
    }
    let base = lapic::apic_base().unwrap_or(0);
    checks.equal(
        "IA32_APIC_BASE EN, EXTD after the switch",
        base & (lapic::BASE_ENABLE | lapic::BASE_EXTD),
        lapic::BASE_ENABLE | lapic::BASE_EXTD,
    );
    checks.equal(
        "xAPIC page version register in x2APIC mode (not decoded)",
        lapic::read_page(reg::VERSION),
        u32::MAX,
    );
    checks.equal("x2APIC ID (MSR 0x802)", lapic::read(reg::ID), 0);
    checks.equal(
        "x2APIC LDR (MSR 0x80D) for ID 0: cluster 0, bit 0",
        lapic::read(reg::LDR),
        1,
    );
    checks.equal(
        "x2APIC version (MSR 0x803)",
        lapic::read(reg::VERSION),
        xapic_version,
    );
    checks.equal(
        "x2APIC SVR (MSR 0x80F) keeps the software enable",
        lapic::read(reg::SVR),
        lapic::SVR_ENABLE | u32::from(SPURIOUS_VECTOR),
    );
    periodic(
        checks,
        clocks,
        "x2APIC",
        X2APIC_PERIODIC_DIVIDE,
        X2APIC_PERIODIC_INITIAL,
        X2APIC_PERIODIC_HZ,
    );

    reset(X2APIC_SELF_IPI_VECTOR);
    let sent = lapic::x2apic_self_ipi(X2APIC_SELF_IPI_VECTOR);
    checks.check(
        sent.is_ok() && lapic::requested(X2APIC_SELF_IPI_VECTOR),
        format_args!("x2APIC SELF IPI (MSR 0x83F) requests vector 0x32 (IRR)"),
    );
    clocks.open_window(SETTLE_MICROS);
    checks.equal(
        "x2APIC SELF IPI 0x32 deliveries",
        count(X2APIC_SELF_IPI_VECTOR),
        1,
    );
    reset(SELF_IPI_VECTOR);
    lapic::send_self_ipi(SELF_IPI_VECTOR);
    clocks.open_window(SETTLE_MICROS);
    checks.equal(
        "x2APIC ICR (MSR 0x830) self IPI 0x31 deliveries",
        count(SELF_IPI_VECTOR),
        1,
    );
    // SAFETY: a non-zero EOI write is refused with #GP (SDM 11.12.1.3); the probe catches it.
    let eoi = unsafe { idt::try_wrmsr(lapic::x2apic_msr(reg::EOI), 1) };
    checks.check(
        eoi.is_err_and(|fault| fault.vector == VECTOR_GP),
        format_args!("x2APIC: WRMSR EOI with a non-zero value raises #GP ({eoi:?})"),
    );
    let self_ipi_read = idt::try_rdmsr(lapic::x2apic_msr(reg::SELF_IPI));
    checks.check(
        self_ipi_read.is_err_and(|fault| fault.vector == VECTOR_GP),
        format_args!("x2APIC: RDMSR of the write-only SELF IPI raises #GP ({self_ipi_read:?})"),
    );
    true
}

fn tsc_deadline(checks: &mut Checks, clocks: &Clocks) {
    lapic::write(
        reg::LVT_TIMER,
        TimerMode::TscDeadline.lvt_bits() | u32::from(DEADLINE_VECTOR),
    );
    checks.equal(
        "IA32_TSC_DEADLINE while disarmed",
        lapic::tsc_deadline().unwrap_or(u64::MAX),
        0,
    );

    drain_safety_net(clocks);
    reset(DEADLINE_VECTOR);
    let deadline = lapic::rdtsc().saturating_add(clocks.ticks(SHOT_MICROS));
    let armed = lapic::set_tsc_deadline(deadline);
    let woke = armed.is_ok() && halt_until(DEADLINE_VECTOR);
    checks.check(
        woke,
        format_args!(
            "TSC deadline 10 ms ahead: HLT woke on its interrupt before the 50 ms PIT safety net"
        ),
    );
    let taken_at = LAST_TSC.load(Ordering::SeqCst);
    checks.check(
        woke && taken_at >= deadline,
        format_args!(
            "TSC deadline: interrupt taken {} TSC ticks after the deadline (not before it)",
            taken_at.wrapping_sub(deadline) as i64
        ),
    );
    checks.equal(
        "IA32_TSC_DEADLINE after it fired",
        lapic::tsc_deadline().unwrap_or(u64::MAX),
        0,
    );
    clocks.open_window(QUIET_MICROS);
    checks.equal(
        "TSC deadline: interrupts in 4 delays",
        count(DEADLINE_VECTOR),
        1,
    );

    reset(DEADLINE_VECTOR);
    let disarm = lapic::set_tsc_deadline(lapic::rdtsc().saturating_add(clocks.ticks(SHOT_MICROS)))
        .and_then(|()| lapic::set_tsc_deadline(0));
    clocks.open_window(QUIET_MICROS);
    checks.check(
        disarm.is_ok() && count(DEADLINE_VECTOR) == 0,
        format_args!("TSC deadline disarmed by writing 0: no interrupt in 3 delays"),
    );

    reset(DEADLINE_VECTOR);
    let passed = lapic::set_tsc_deadline(lapic::rdtsc());
    clocks.open_window(SETTLE_MICROS);
    checks.check(
        passed.is_ok() && count(DEADLINE_VECTOR) == 1,
        format_args!(
            "a TSC deadline already passed fires at once: {} interrupt(s)",
            count(DEADLINE_VECTOR)
        ),
    );
    lapic::stop_timer();
}

fn main(_boot: BootInfo) -> u32 {
    let mut checks = Checks::new();
    pic::init();
    for vector in APIC_VECTOR_BASE..APIC_VECTOR_BASE + APIC_VECTORS as u8 {
        if idt::set_handler(vector, on_apic_interrupt).is_err() {
            println!("FAIL: no gate for vector {vector:#x}");
            return checks.finish();
        }
    }
    if idt::set_handler(pic::vector(pit::IRQ), on_pit).is_err() {
        println!("FAIL: no gate for IRQ 0's vector");
        return checks.finish();
    }
    let _ = pic::unmask(pit::IRQ);
    if !discover(&mut checks) {
        return checks.finish();
    }
    let Some(clocks) = calibrate(&mut checks) else {
        return checks.finish();
    };
    println!(
        "timer clock {} Hz; waits are timed by the TSC at {} Hz",
        clocks.timer_hz, clocks.tsc_hz
    );
    periodic(
        &mut checks,
        &clocks,
        "xAPIC",
        XAPIC_PERIODIC_DIVIDE,
        XAPIC_PERIODIC_INITIAL,
        XAPIC_PERIODIC_HZ,
    );
    one_shot(&mut checks, &clocks);
    self_ipi_xapic(&mut checks, &clocks);
    if x2apic(&mut checks, &clocks) {
        tsc_deadline(&mut checks, &clocks);
    }
    checks.equal("spurious interrupts", count(SPURIOUS_VECTOR), 0);
    lapic::write(reg::ESR, 0);
    checks.equal("ESR after the run", lapic::read(reg::ESR), 0);
    checks.finish()
}
