//! The local APIC of one virtual CPU (Intel SDM Vol. 3A, chapter 11): the xAPIC page at
//! 0xFEE0_0000 (movable through IA32_APIC_BASE), the x2APIC MSR interface 0x800–0x8FF, the
//! timer, interrupt acceptance and priority, EOI, the ICR and the LINT pins.
//!
//! # Behaviour (SDM sections in parentheses)
//! - **Modes** (11.4.3, 11.12.5): IA32_APIC_BASE (MSR 0x1B) bit 11 enables the APIC, bit 10
//!   selects x2APIC. [`LocalApic::set_apic_base`] allows disabled ⇄ xAPIC, xAPIC → x2APIC and
//!   x2APIC → disabled; the invalid state (EXTD without EN), x2APIC → xAPIC, disabled →
//!   x2APIC and reserved bits (0–7, 9, at or above MAXPHYADDR) return a [`Fault`] (#GP). The
//!   BSP flag (bit 8) is read only. Going to disabled, and from disabled to xAPIC, resets the
//!   registers to their power-up values (11.4.7.1); entering x2APIC keeps them, with the ID
//!   and LDR becoming the x2APIC ones (11.12.5.1). Moving the base re-claims the page.
//! - **xAPIC page** (11.4.1): registers are the first dword of each 16-byte slot. Reads of any
//!   size return the bytes of the registers they cover (bytes 4–15 of a slot read 0); only
//!   4-byte writes aligned on a slot reach a register, other writes are dropped and counted
//!   ([`LapicCounters::malformed_accesses`]). An access to a reserved slot reads 0 and sets
//!   ESR bit 7 (illegal register address). APR and RRD (not supported since the Pentium 4)
//!   read 0. While the APIC is disabled or in x2APIC mode the page is not decoded: reads
//!   return all-ones and writes are dropped, as for an xAPIC that is globally disabled
//!   (11.12.1.2).
//! - **x2APIC MSRs** (11.12.1): [`LocalApic::msr_read`]/[`LocalApic::msr_write`] answer
//!   0x800–0x8FF (only in x2APIC mode), 0x1B and IA32_TSC_DEADLINE (0x6E0). The ICR is one
//!   64-bit MSR (0x830, destination in 63:32), the ID is the 32-bit x2APIC ID, the LDR is
//!   derived from it (cluster `id >> 4` in 31:16, bit `id & 15`), DFR/APR/RRD/ICR-high do not
//!   exist, and SELF IPI (0x83F) is write only. Reserved MSRs, writes to read-only registers,
//!   reads of write-only ones, non-zero writes to EOI and ESR, and writes with reserved bits
//!   set (RsvdZ, 11.12.1.3; read-only bits such as delivery status and remote IRR may be
//!   written back) fault.
//! - **Registers** (11.4, 11.5, 11.6, 11.8): version 0x14 with max LVT entry 5 (timer,
//!   thermal, performance, LINT0, LINT1, error; no CMCI) and EOI-broadcast suppression
//!   ([`VERSION_VALUE`]). ID (writable in xAPIC mode), TPR (bits 7:0), PPR (computed: TPR if its
//!   class ≥ the highest in-service class, else that class, 11.8.3.1), LDR (bits 31:24), DFR
//!   (bits 31:28, the rest read as ones), SVR (vector 7:0, enable bit 8, EOI-broadcast
//!   suppression bit 12), ISR/TMR/IRR (eight words each, read only), ESR (write to latch: a
//!   write moves the errors found since the last write into the readable register, 11.5.3),
//!   ICR low/high, the six LVT entries with their read-only bits (delivery status reads idle,
//!   remote IRR), and the timer's initial/current count and divide configuration. Reserved
//!   bits read 0 (DFR's read 1). With SVR bit 8 clear (software disabled, 11.4.7.2) every LVT
//!   is masked and stays masked, no fixed interrupt is accepted or delivered, IRR and ISR
//!   are held.
//! - **Timer** (11.5.4): see [`timer`] for the arithmetic. The counter runs at
//!   [`LapicConfig::timer_frequency_hz`] / divisor (default 1 GHz, KVM's APIC bus rate: one
//!   count per nanosecond); TSC-deadline mode converts IA32_TSC_DEADLINE to the context's clock
//!   through [`LapicConfig::tsc_frequency_hz`] and a [`TscReference`] the VMM sets
//!   ([`LocalApic::set_tsc_reference`]); the MSR reads 0 once the deadline fired, writing 0
//!   disarms, and outside TSC-deadline mode writes are ignored and reads return 0. Switching
//!   into or out of TSC-deadline mode disarms the timer (initial count and deadline cleared);
//!   switching between one-shot and periodic keeps the current count. An initial-count write
//!   (ignored in TSC-deadline mode) restarts the count; 0 stops it. A masked LVT still counts
//!   but interrupts nobody. The model holds at most one context timer: one-shot and deadline
//!   waits connect it for the remaining time and disconnect after the first callback; a
//!   periodic count connects it with the period (re-arming disconnects the old one). Waits
//!   shorter than [`MIN_TIMER_PERIOD_NS`] are stretched to it. **Catch-up policy**: every
//!   callback and every register access takes the expiries due by then; however many there
//!   were, the LVT gets one interrupt (the IRR bit coalesces them, as on the chip) and the
//!   surplus is counted in [`LapicCounters::coalesced_timer_interrupts`].
//! - **Acceptance and delivery** (11.8): [`LocalApic::accept`] sets IRR (TMR per trigger
//!   mode); vectors 0–15 are refused and set ESR bit 6. [`LocalApic::pending_interrupt`] is the
//!   highest IRR vector whose class is above PPR's; [`LocalApic::acknowledge`] moves it to ISR.
//!   An EOI clears the highest ISR bit; if its TMR bit is set the EOI is broadcast: unless SVR
//!   bit 12 suppresses it, the vector is recorded for [`LocalApic::take_eoi_broadcasts`] (a
//!   256-bit set, so bounded) to be forwarded to the I/O APIC, and a LINT pin's remote IRR for
//!   that vector is cleared.
//! - **Errors** (11.5.3): a detected error sets its ESR bit (pending until the next ESR write)
//!   and, unless the error LVT is masked, raises its vector.
//! - **ICR** (11.6): writing ICR low (xAPIC) or the ICR MSR (x2APIC) sends. Fixed and
//!   lowest-priority messages with a vector below 16 are not sent and set ESR bit 5. A message
//!   whose destination includes this APIC (shorthand self or all-including-self, the own ID,
//!   the broadcast ID, or a matching logical destination) is delivered locally when it can be:
//!   fixed and lowest priority set IRR (edge), NMI sets the NMI latch. A message that may
//!   reach another APIC, or that this model cannot deliver locally (INIT, start-up, SMI), is
//!   queued for the VMM ([`LocalApic::take_ipis`], at most [`MAX_QUEUED_IPIS`]; a full queue
//!   drops the message and sets ESR bit 2). Delivery is complete when the write returns, so
//!   the delivery-status bit always reads idle.
//! - **LINT pins** (11.5.1): [`LocalApic::set_lint0`] / [`LocalApic::set_lint1`] drive the pins.
//!   Per LVT entry: polarity, fixed (edge: a rising edge accepts the vector; level, LINT0 only:
//!   accepted while asserted with remote IRR clear, which sets remote IRR until the EOI), NMI
//!   (a rising edge sets the latch the VMM takes with [`LocalApic::take_nmi`]) and ExtINT
//!   ([`LocalApic::lint0_extint_enabled`]: the VMM asks the 8259A for the vector). SMI and INIT
//!   on a LINT pin are not modelled. With the APIC globally disabled, LINT0 is the INTR pin
//!   (ExtINT) and LINT1 the NMI pin. The bootstrap processor's LINT0 powers on as unmasked
//!   ExtINT (the virtual-wire mode a PC BIOS leaves; KVM's LINT0_REENABLED quirk), so an
//!   8259A works before the guest touches its APIC.
//!
//! Several vCPUs: each has its own `LocalApic` with its own ID; [`LocalApic::is_destination`]
//! tells the VMM whether a message for a destination reaches this one, and IPIs carry the
//! sender's ID.
//!
//! # Threat note
//! The guest controls every register write (MMIO and MSR), the access sizes and alignment,
//! IA32_APIC_BASE and IA32_TSC_DEADLINE, and the timing of all of it. All state is fixed-size
//! (three 256-bit sets, six LVT words, a 256-bit set of pending EOI broadcasts) except the IPI
//! queue, capped at [`MAX_QUEUED_IPIS`]. No offset, size or value panics: offsets are
//! computed with checked arithmetic and matched against named constants; vector sets are
//! indexed by `u8`. Timer arithmetic is `u128` for every product and saturating in `u64`
//! (the divisor is 1–128, the frequencies are validated non-zero at construction), so no
//! count, deadline or clock value overflows, and a clock that runs backwards only reads as no
//! time passing. The guest cannot make the VMM call it more often than every
//! [`MIN_TIMER_PERIOD_NS`], and the model holds at most one context timer.

mod access;
mod arming;
pub mod base;
mod delivery;
pub mod fuzz;
pub mod message;
mod msr_access;
pub mod registers;
pub mod timer;
pub mod vectors;

#[cfg(test)]
mod tests_delivery;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_registers;
#[cfg(test)]
mod tests_support;
#[cfg(test)]
mod tests_timer;
#[cfg(test)]
mod tests_x2apic;

use alloc::vec::Vec;

pub use base::{ApicMode, Fault};
pub use fuzz::fuzz_lapic;
pub use message::{DeliveryMode, DestinationMode, Ipi, Shorthand};
pub use timer::{TimerMode, TscReference};
pub use vectors::VectorSet;

use registers::{lvt, offset, svr, version};
use timer::CountdownState;

use crate::interface::{
    ClaimError, Device, DeviceContext, DeviceError, MmioRange, Nanos, TimerError, TimerId,
};

/// The version register: version 0x14, max LVT entry 5, EOI-broadcast suppression.
pub const VERSION_VALUE: u32 = version::VERSION
    | ((LVT_ENTRIES as u32 - 1) << version::MAX_LVT_SHIFT)
    | version::EOI_SUPPRESSION;
/// The default timer input frequency: 1 GHz (one count per nanosecond before division).
pub const DEFAULT_TIMER_FREQUENCY_HZ: u64 = 1_000_000_000;
/// The default guest TSC frequency (1 GHz); the VMM should pass the one it advertises.
pub const DEFAULT_TSC_FREQUENCY_HZ: u64 = 1_000_000_000;
/// Highest timer or TSC frequency accepted (1 THz), keeping all products in `u128` range.
pub const MAX_FREQUENCY_HZ: u64 = 1_000_000_000_000;
/// The default physical-address width (MAXPHYADDR) for IA32_APIC_BASE's reserved bits.
pub const DEFAULT_PHYSICAL_ADDRESS_BITS: u8 = 46;
/// Narrowest MAXPHYADDR accepted.
pub const MIN_PHYSICAL_ADDRESS_BITS: u8 = 36;
/// Widest MAXPHYADDR accepted.
pub const MAX_PHYSICAL_ADDRESS_BITS: u8 = 52;
/// The shortest wait the local APIC asks the VMM's timers for (10 µs): one-shot expiries
/// come at most this late, periodic ones faster than this coalesce.
pub const MIN_TIMER_PERIOD_NS: Nanos = 10_000;
/// IPIs held for the VMM before further ones are dropped.
pub const MAX_QUEUED_IPIS: usize = 64;
/// Entries in the local vector table.
pub const LVT_ENTRIES: usize = 6;

/// One local vector table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lvt {
    Timer,
    Thermal,
    Performance,
    Lint0,
    Lint1,
    Error,
}

impl Lvt {
    /// Every entry, in register order.
    pub const ALL: [Lvt; LVT_ENTRIES] = [
        Lvt::Timer,
        Lvt::Thermal,
        Lvt::Performance,
        Lvt::Lint0,
        Lvt::Lint1,
        Lvt::Error,
    ];

    const fn index(self) -> usize {
        match self {
            Lvt::Timer => 0,
            Lvt::Thermal => 1,
            Lvt::Performance => 2,
            Lvt::Lint0 => 3,
            Lvt::Lint1 => 4,
            Lvt::Error => 5,
        }
    }

    /// The entry's xAPIC offset.
    pub const fn offset(self) -> u32 {
        match self {
            Lvt::Timer => offset::LVT_TIMER,
            Lvt::Thermal => offset::LVT_THERMAL,
            Lvt::Performance => offset::LVT_PERF,
            Lvt::Lint0 => offset::LVT_LINT0,
            Lvt::Lint1 => offset::LVT_LINT1,
            Lvt::Error => offset::LVT_ERROR,
        }
    }

    /// The entry at xAPIC offset `offset`.
    pub fn at(offset: u32) -> Option<Lvt> {
        Self::ALL.into_iter().find(|entry| entry.offset() == offset)
    }

    /// Bits a write stores.
    pub const fn writable(self) -> u32 {
        match self {
            Lvt::Timer => lvt::TIMER_WRITABLE,
            Lvt::Thermal | Lvt::Performance => lvt::LOCAL_WRITABLE,
            Lvt::Lint0 | Lvt::Lint1 => lvt::LINT_WRITABLE,
            Lvt::Error => lvt::ERROR_WRITABLE,
        }
    }

    /// Read-only bits a write may carry (written-back values) without effect.
    pub const fn read_only(self) -> u32 {
        match self {
            Lvt::Lint0 | Lvt::Lint1 => lvt::DELIVERY_STATUS | lvt::REMOTE_IRR,
            _ => lvt::DELIVERY_STATUS,
        }
    }
}

/// How a local APIC is built. Validated by [`LocalApic::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LapicConfig {
    /// The initial APIC ID: the x2APIC ID, and (low 8 bits) the xAPIC ID at reset.
    pub apic_id: u32,
    /// Whether this is the bootstrap processor (IA32_APIC_BASE bit 8; LINT0 in virtual wire).
    pub bootstrap: bool,
    /// The timer's input clock before the divider.
    pub timer_frequency_hz: u64,
    /// The guest TSC's frequency, for TSC-deadline mode.
    pub tsc_frequency_hz: u64,
    /// MAXPHYADDR: IA32_APIC_BASE bits at and above it are reserved.
    pub physical_address_bits: u8,
}

impl LapicConfig {
    /// The bootstrap processor's APIC with the default frequencies and address width.
    pub const fn bootstrap(apic_id: u32) -> Self {
        LapicConfig {
            apic_id,
            bootstrap: true,
            timer_frequency_hz: DEFAULT_TIMER_FREQUENCY_HZ,
            tsc_frequency_hz: DEFAULT_TSC_FREQUENCY_HZ,
            physical_address_bits: DEFAULT_PHYSICAL_ADDRESS_BITS,
        }
    }
}

/// Why a [`LapicConfig`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// A timer or TSC frequency of 0 or above [`MAX_FREQUENCY_HZ`].
    Frequency(u64),
    /// MAXPHYADDR outside 36–52.
    PhysicalAddressBits(u8),
    /// 0xFFFF_FFFF is the x2APIC broadcast ID.
    BroadcastId,
}

/// Why [`LocalApic::accept`] did not take an interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// Vectors 0–15 are illegal (ESR bit 6 is set).
    IllegalVector(u8),
    /// The APIC is globally or software disabled.
    Disabled,
}

/// Event counts for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LapicCounters {
    /// Timer expiries merged into an interrupt already signalled (catch-up policy).
    pub coalesced_timer_interrupts: u64,
    /// IPIs dropped because the queue was full.
    pub dropped_ipis: u64,
    /// xAPIC writes that were not aligned 4-byte writes.
    pub malformed_accesses: u64,
}

/// The context timer the APIC holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Armed {
    id: TimerId,
    periodic: bool,
}

/// The LINT pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lint {
    Lint0,
    Lint1,
}

/// One vCPU's local APIC.
#[derive(Debug, Clone)]
pub struct LocalApic {
    config: LapicConfig,
    base: u64,
    claimed: Option<MmioRange>,
    claim_error: Option<ClaimError>,
    xapic_id: u8,
    tpr: u8,
    ldr: u32,
    dfr: u32,
    svr: u32,
    irr: VectorSet,
    isr: VectorSet,
    tmr: VectorSet,
    esr: u32,
    pending_errors: u32,
    icr_low: u32,
    icr_high: u32,
    lvt: [u32; LVT_ENTRIES],
    countdown: CountdownState,
    tsc_deadline: u64,
    tsc_reference: TscReference,
    armed: Option<Armed>,
    timer_error: Option<TimerError>,
    lint_levels: [bool; 2],
    nmi_pending: bool,
    eoi_broadcasts: VectorSet,
    ipis: Vec<Ipi>,
    counters: LapicCounters,
}

impl LocalApic {
    /// A local APIC in its power-up state: enabled in xAPIC mode at 0xFEE0_0000, software
    /// disabled, every LVT masked (but see the BSP's LINT0 in the module docs).
    pub fn new(config: LapicConfig) -> Result<Self, ConfigError> {
        for frequency in [config.timer_frequency_hz, config.tsc_frequency_hz] {
            if frequency == 0 || frequency > MAX_FREQUENCY_HZ {
                return Err(ConfigError::Frequency(frequency));
            }
        }
        if !(MIN_PHYSICAL_ADDRESS_BITS..=MAX_PHYSICAL_ADDRESS_BITS)
            .contains(&config.physical_address_bits)
        {
            return Err(ConfigError::PhysicalAddressBits(
                config.physical_address_bits,
            ));
        }
        if config.apic_id == registers::logical::X2APIC_BROADCAST {
            return Err(ConfigError::BroadcastId);
        }
        let mut apic = LocalApic {
            config,
            base: 0,
            claimed: None,
            claim_error: None,
            xapic_id: 0,
            tpr: 0,
            ldr: 0,
            dfr: 0,
            svr: 0,
            irr: VectorSet::new(),
            isr: VectorSet::new(),
            tmr: VectorSet::new(),
            esr: 0,
            pending_errors: 0,
            icr_low: 0,
            icr_high: 0,
            lvt: [lvt::RESET; LVT_ENTRIES],
            countdown: CountdownState::new(),
            tsc_deadline: 0,
            tsc_reference: TscReference::default(),
            armed: None,
            timer_error: None,
            lint_levels: [false; 2],
            nmi_pending: false,
            eoi_broadcasts: VectorSet::new(),
            ipis: Vec::new(),
            counters: LapicCounters::default(),
        };
        apic.base = apic.power_on_base();
        apic.reset_registers(true);
        Ok(apic)
    }

    fn power_on_base(&self) -> u64 {
        let bsp = if self.config.bootstrap {
            registers::base::BSP
        } else {
            0
        };
        registers::base::DEFAULT_ADDRESS | registers::base::ENABLE | bsp
    }

    /// Power-up register values (SDM 11.4.7.1); `restore_id` also restores the xAPIC ID from
    /// the configuration (power-up, not INIT). The caller drops any context timer first.
    fn reset_registers(&mut self, restore_id: bool) {
        if restore_id {
            // The xAPIC ID is the initial ID's low byte (truncation intended for IDs > 255).
            self.xapic_id = self.config.apic_id.to_le_bytes()[0];
        }
        self.tpr = 0;
        self.ldr = 0;
        self.dfr = registers::logical::DFR_FLAT | registers::logical::DFR_RESERVED_ONES;
        self.svr = svr::RESET;
        self.irr = VectorSet::new();
        self.isr = VectorSet::new();
        self.tmr = VectorSet::new();
        self.esr = 0;
        self.pending_errors = 0;
        self.icr_low = 0;
        self.icr_high = 0;
        self.lvt = [lvt::RESET; LVT_ENTRIES];
        if self.config.bootstrap {
            self.lvt[Lvt::Lint0.index()] = DeliveryMode::ExtInt.code() << lvt::DELIVERY_MODE_SHIFT;
        }
        self.countdown = CountdownState::new();
        self.tsc_deadline = 0;
        if self.mode() == ApicMode::X2Apic {
            self.ldr = self.x2apic_ldr();
        }
    }

    /// INIT reset (SDM 11.4.7.3): the power-up register values, keeping the APIC ID and
    /// IA32_APIC_BASE. The VMM calls this when it delivers INIT to this vCPU.
    pub fn init_reset(&mut self, ctx: &mut dyn DeviceContext) {
        self.disarm_timer(ctx);
        self.reset_registers(false);
    }

    // ---- configuration and state, for the VMM and tests ----

    /// The configuration it was built with.
    pub fn config(&self) -> &LapicConfig {
        &self.config
    }
    /// IA32_APIC_BASE.
    pub fn apic_base(&self) -> u64 {
        self.base
    }
    /// The mode IA32_APIC_BASE selects.
    pub fn mode(&self) -> ApicMode {
        ApicMode::of(self.base).unwrap_or(ApicMode::Disabled)
    }
    /// The xAPIC page's guest-physical address.
    pub fn page_address(&self) -> u64 {
        base::page_address(self.base, self.config.physical_address_bits)
    }
    /// The APIC ID in the current mode (the 8-bit xAPIC ID, or the 32-bit x2APIC ID).
    pub fn id(&self) -> u32 {
        match self.mode() {
            ApicMode::X2Apic => self.config.apic_id,
            _ => u32::from(self.xapic_id),
        }
    }
    /// Whether the APIC is globally enabled and software enabled (SVR bit 8).
    pub fn is_enabled(&self) -> bool {
        self.mode() != ApicMode::Disabled && self.svr & svr::ENABLE != 0
    }
    /// The task priority (TPR bits 7:0).
    pub fn tpr(&self) -> u8 {
        self.tpr
    }
    /// Sets the TPR (the VMM's path for MOV to CR8: CR8 = TPR bits 7:4).
    pub fn set_tpr(&mut self, tpr: u8) {
        self.tpr = tpr;
    }
    /// The processor priority (SDM 11.8.3.1).
    pub fn ppr(&self) -> u8 {
        let isrv = self.isr.highest().unwrap_or(0);
        let class = registers::priority::CLASS_MASK;
        if self.tpr & class >= isrv & class {
            self.tpr
        } else {
            isrv & class
        }
    }
    /// The interrupt request register.
    pub fn irr(&self) -> VectorSet {
        self.irr
    }
    /// The in-service register.
    pub fn isr(&self) -> VectorSet {
        self.isr
    }
    /// The trigger mode register.
    pub fn tmr(&self) -> VectorSet {
        self.tmr
    }
    /// An LVT entry as the guest reads it.
    pub fn lvt(&self, entry: Lvt) -> u32 {
        self.lvt[entry.index()]
    }
    /// The spurious-interrupt vector register.
    pub fn svr(&self) -> u32 {
        self.svr
    }
    /// The spurious vector (SVR bits 7:0), which hardware hands out on an acknowledge that
    /// finds nothing; [`LocalApic::acknowledge`] returns `None` instead.
    pub fn spurious_vector(&self) -> u8 {
        self.svr.to_le_bytes()[0]
    }
    /// The readable ESR (latched by the last ESR write).
    pub fn esr(&self) -> u32 {
        self.esr
    }
    /// Errors detected since the last ESR write (what the next write will latch).
    pub fn pending_errors(&self) -> u32 {
        self.pending_errors
    }
    /// The last error the context gave when the APIC asked for a timer.
    pub fn timer_error(&self) -> Option<TimerError> {
        self.timer_error
    }
    /// The last error the context gave when the APIC claimed its page.
    pub fn claim_error(&self) -> Option<ClaimError> {
        self.claim_error
    }
    /// The page the APIC holds on the bus.
    pub fn claimed_page(&self) -> Option<MmioRange> {
        self.claimed
    }
    /// Event counts.
    pub fn counters(&self) -> LapicCounters {
        self.counters
    }
    /// The timer mode the LVT selects.
    pub fn timer_mode(&self) -> TimerMode {
        TimerMode::of(self.lvt(Lvt::Timer))
    }
    /// The current count register at `now`.
    pub fn timer_current_count(&self, now: Nanos) -> u32 {
        self.countdown
            .current(now, self.config.timer_frequency_hz, self.timer_mode())
    }
    /// Whether the APIC holds a context timer now.
    pub fn timer_armed(&self) -> bool {
        self.armed.is_some()
    }

    /// Sets how the guest TSC relates to the context's clock (TSC-deadline mode).
    pub fn set_tsc_reference(&mut self, reference: TscReference) {
        self.tsc_reference = reference;
    }
    /// The guest TSC at `now`, by the reference.
    pub fn guest_tsc(&self, now: Nanos) -> u64 {
        self.tsc_reference.tsc_at(now, self.config.tsc_frequency_hz)
    }

    /// Moves the claim to the page IA32_APIC_BASE names (no-op if it is already there).
    fn reclaim(&mut self, ctx: &mut dyn DeviceContext) {
        let Ok(page) = MmioRange::new(self.page_address(), u64::from(offset::PAGE_SIZE)) else {
            return;
        };
        if self.claimed == Some(page) {
            return;
        }
        self.release_page(ctx);
        match ctx.claim(crate::interface::Region::Mmio(page)) {
            Ok(()) => self.claimed = Some(page),
            Err(ClaimError::Unsupported) => {}
            Err(error) => self.claim_error = Some(error),
        }
    }

    fn release_page(&mut self, ctx: &mut dyn DeviceContext) {
        if let Some(page) = self.claimed.take() {
            // A page this device claimed cannot be unknown to the context that took the claim.
            let _ = ctx.release(crate::interface::Region::Mmio(page));
        }
    }

    /// Writes IA32_APIC_BASE (the VMM's WRMSR 0x1B path), following the SDM's legal
    /// transitions; an illegal value leaves everything unchanged and returns the #GP reason.
    pub fn set_apic_base(&mut self, ctx: &mut dyn DeviceContext, value: u64) -> Result<(), Fault> {
        let to = base::check_transition(self.base, value, self.config.physical_address_bits)?;
        let from = self.mode();
        self.sync_timer(ctx.now());
        self.base = (value & !registers::base::BSP) | (self.base & registers::base::BSP);
        match (from, to) {
            (ApicMode::Disabled, ApicMode::Disabled) => {}
            (_, ApicMode::Disabled) | (ApicMode::Disabled, _) => {
                self.disarm_timer(ctx);
                self.reset_registers(true);
            }
            (ApicMode::XApic, ApicMode::X2Apic) => self.ldr = self.x2apic_ldr(),
            _ => {}
        }
        self.reclaim(ctx);
        Ok(())
    }
}

impl Device for LocalApic {
    fn name(&self) -> &str {
        "lapic"
    }

    /// Claims the xAPIC page at the address IA32_APIC_BASE names.
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.claim_error = None;
        self.reclaim(ctx);
        match self.claim_error {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// Power-up state: IA32_APIC_BASE back to 0xFEE0_0000 enabled, registers reset.
    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.disarm_timer(ctx);
        self.base = self.power_on_base();
        self.reset_registers(true);
        self.reclaim(ctx);
        Ok(())
    }

    fn power_off(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.disarm_timer(ctx);
        Ok(())
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.disarm_timer(ctx);
        self.release_page(ctx);
        Ok(())
    }

    fn mmio_read(
        &mut self,
        ctx: &mut dyn DeviceContext,
        addr: crate::interface::Gpa,
        data: &mut [u8],
    ) {
        self.xapic_read(ctx, addr, data);
    }

    fn mmio_write(
        &mut self,
        ctx: &mut dyn DeviceContext,
        addr: crate::interface::Gpa,
        data: &[u8],
    ) {
        self.xapic_write(ctx, addr, data);
    }

    fn timer(&mut self, ctx: &mut dyn DeviceContext, id: TimerId, now: Nanos) {
        self.on_timer(ctx, id, now);
    }
}
