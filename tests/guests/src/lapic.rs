//! The local APIC as the APIC test guests drive it (Intel SDM Vol. 3A chapter 11: 11.4 the
//! xAPIC page and IA32_APIC_BASE, 11.5.4 the timer, 11.6 the ICR, 11.8 EOI, 11.12 x2APIC;
//! 11.5.4.1 TSC-deadline mode; CPUID.1 feature bits from vol. 2A).
//!
//! The hypervisor gives a VM a local APIC when its command line has `vm_apic=on`. The APIC
//! starts enabled in xAPIC mode, software-disabled; [`software_enable`] turns it on. Registers
//! are named by their xAPIC page offset ([`reg`]); [`read`] and [`write`] reach them through the
//! page (xAPIC mode) or through MSR `0x800 + offset / 16` (x2APIC mode, after
//! [`enter_x2apic`]), so a guest runs the same sequence in both modes. The mode is global kit
//! state, so an interrupt handler's [`eoi`] uses whichever interface is current.
//!
//! Register accesses here do not probe: an access the hypervisor wrongly refuses (#GP on a
//! valid x2APIC MSR) is reported by the kit's IDT as an unexpected exception, with the frame.
//! Deliberate faulting accesses go through [`crate::idt::try_rdmsr`]/[`crate::idt::try_wrmsr`].

use core::arch::asm;
use core::arch::x86_64::__cpuid_count;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::idt::{self, Fault};

/// IA32_APIC_BASE: the APIC's mode and xAPIC page address.
pub const IA32_APIC_BASE: u32 = 0x1B;
/// IA32_TSC_DEADLINE: the TSC value at which a TSC-deadline timer fires.
pub const IA32_TSC_DEADLINE: u32 = 0x6E0;
/// IA32_APIC_BASE bit 8: this is the bootstrap processor.
pub const BASE_BSP: u64 = 1 << 8;
/// IA32_APIC_BASE bit 10: x2APIC mode.
pub const BASE_EXTD: u64 = 1 << 10;
/// IA32_APIC_BASE bit 11: the APIC is globally enabled.
pub const BASE_ENABLE: u64 = 1 << 11;
/// IA32_APIC_BASE bits 51:12: the xAPIC page's physical address.
pub const BASE_ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// The xAPIC page's power-on address.
pub const DEFAULT_PAGE: u64 = 0xFEE0_0000;

/// xAPIC page offsets (SDM table 11-1); the x2APIC MSR is [`x2apic_msr`] of the offset.
pub mod reg {
    /// Local APIC ID (xAPIC: bits 31:24; x2APIC: the 32-bit ID).
    pub const ID: u32 = 0x020;
    /// Version: bits 7:0 version, bits 23:16 max LVT entry.
    pub const VERSION: u32 = 0x030;
    /// Task priority.
    pub const TPR: u32 = 0x080;
    /// Processor priority (read only).
    pub const PPR: u32 = 0x0A0;
    /// End of interrupt (write 0).
    pub const EOI: u32 = 0x0B0;
    /// Logical destination.
    pub const LDR: u32 = 0x0D0;
    /// Spurious-interrupt vector (software enable in bit 8).
    pub const SVR: u32 = 0x0F0;
    /// In-service register: eight words, 16 bytes apart.
    pub const ISR: u32 = 0x100;
    /// Trigger-mode register: eight words.
    pub const TMR: u32 = 0x180;
    /// Interrupt-request register: eight words.
    pub const IRR: u32 = 0x200;
    /// Error status.
    pub const ESR: u32 = 0x280;
    /// Interrupt command, low half (the whole 64-bit ICR in x2APIC mode).
    pub const ICR_LOW: u32 = 0x300;
    /// Interrupt command, high half (xAPIC only: destination in 31:24).
    pub const ICR_HIGH: u32 = 0x310;
    /// LVT timer.
    pub const LVT_TIMER: u32 = 0x320;
    /// LVT LINT0.
    pub const LVT_LINT0: u32 = 0x350;
    /// LVT error.
    pub const LVT_ERROR: u32 = 0x370;
    /// Timer initial count.
    pub const TIMER_INITIAL: u32 = 0x380;
    /// Timer current count (read only).
    pub const TIMER_CURRENT: u32 = 0x390;
    /// Timer divide configuration.
    pub const TIMER_DIVIDE: u32 = 0x3E0;
    /// Self IPI (x2APIC only, write only).
    pub const SELF_IPI: u32 = 0x3F0;
    /// Bytes between consecutive words of ISR/TMR/IRR.
    pub const STRIDE: u32 = 0x10;
}

/// The first x2APIC register MSR (offset 0).
pub const X2APIC_MSR_BASE: u32 = 0x800;
/// Shift from xAPIC offset to x2APIC MSR index.
const X2APIC_OFFSET_SHIFT: u32 = 4;

/// Version register bits 7:0.
pub const VERSION_MASK: u32 = 0xFF;
/// Version register: shift of the max LVT entry (bits 23:16).
pub const VERSION_MAX_LVT_SHIFT: u32 = 16;
/// Version register: the max LVT entry field after the shift.
pub const VERSION_MAX_LVT_MASK: u32 = 0xFF;
/// Versions 0x10–0x15 are integrated (xAPIC) APICs (SDM figure 11-7).
pub const INTEGRATED_VERSIONS: core::ops::RangeInclusive<u32> = 0x10..=0x15;
/// xAPIC ID register: the ID is bits 31:24.
pub const XAPIC_ID_SHIFT: u32 = 24;
/// SVR bit 8: APIC software enable.
pub const SVR_ENABLE: u32 = 1 << 8;
/// SVR bits 7:0: the spurious vector.
pub const SVR_VECTOR_MASK: u32 = 0xFF;
/// LVT bit 16: masked.
pub const LVT_MASKED: u32 = 1 << 16;
/// LVT bits 7:0: vector.
pub const LVT_VECTOR_MASK: u32 = 0xFF;
/// LVT timer bits 18:17: the timer mode field.
const LVT_TIMER_MODE_SHIFT: u32 = 17;
/// ICR bits 19:18 = 01: the destination shorthand "self".
pub const ICR_SHORTHAND_SELF: u32 = 1 << 18;
/// ICR bit 12: delivery status (1 = send pending).
pub const ICR_DELIVERY_STATUS: u32 = 1 << 12;
/// Bits per ISR/TMR/IRR word.
const BITS_PER_WORD: u8 = 32;

/// CPUID leaf 1: feature information.
const CPUID_FEATURES: u32 = 1;
/// CPUID.1:EDX bit 9: on-chip APIC.
pub const CPUID_EDX_APIC: u32 = 1 << 9;
/// CPUID.1:ECX bit 21: x2APIC.
pub const CPUID_ECX_X2APIC: u32 = 1 << 21;
/// CPUID.1:ECX bit 24: TSC-deadline timer.
pub const CPUID_ECX_TSC_DEADLINE: u32 = 1 << 24;
/// CPUID.1:EBX bits 31:24: the initial APIC ID.
const CPUID_EBX_APIC_ID_SHIFT: u32 = 24;

/// Whether the kit talks to the APIC through the x2APIC MSRs (else the xAPIC page).
static X2APIC: AtomicBool = AtomicBool::new(false);
/// The xAPIC page's address (from IA32_APIC_BASE, [`use_page_of`]).
static PAGE: AtomicU64 = AtomicU64::new(DEFAULT_PAGE);

/// How the kit reaches the APIC's registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The memory-mapped page.
    XApic,
    /// MSRs 0x800–0x8FF.
    X2Apic,
}

/// The APIC features CPUID.1 reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// EDX bit 9.
    pub apic: bool,
    /// ECX bit 21.
    pub x2apic: bool,
    /// ECX bit 24.
    pub tsc_deadline: bool,
    /// EBX bits 31:24.
    pub initial_apic_id: u8,
}

/// What CPUID.1 says about the local APIC.
pub fn features() -> Features {
    let leaf = __cpuid_count(CPUID_FEATURES, 0);
    Features {
        apic: leaf.edx & CPUID_EDX_APIC != 0,
        x2apic: leaf.ecx & CPUID_ECX_X2APIC != 0,
        tsc_deadline: leaf.ecx & CPUID_ECX_TSC_DEADLINE != 0,
        initial_apic_id: (leaf.ebx >> CPUID_EBX_APIC_ID_SHIFT) as u8,
    }
}

/// The timer's divide configuration (SDM figure 11-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divide {
    By1,
    By2,
    By4,
    By8,
    By16,
    By32,
    By64,
    By128,
}

impl Divide {
    /// The divide configuration register value (bits 3, 1, 0).
    pub const fn config(self) -> u32 {
        match self {
            Divide::By2 => 0b0000,
            Divide::By4 => 0b0001,
            Divide::By8 => 0b0010,
            Divide::By16 => 0b0011,
            Divide::By32 => 0b1000,
            Divide::By64 => 0b1001,
            Divide::By128 => 0b1010,
            Divide::By1 => 0b1011,
        }
    }

    /// The divisor.
    pub const fn divisor(self) -> u32 {
        match self {
            Divide::By1 => 1,
            Divide::By2 => 2,
            Divide::By4 => 4,
            Divide::By8 => 8,
            Divide::By16 => 16,
            Divide::By32 => 32,
            Divide::By64 => 64,
            Divide::By128 => 128,
        }
    }
}

/// The timer mode (LVT timer bits 18:17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerMode {
    /// 00: count down once.
    OneShot,
    /// 01: reload the initial count at zero.
    Periodic,
    /// 10: fire when the TSC reaches IA32_TSC_DEADLINE.
    TscDeadline,
}

impl TimerMode {
    /// The LVT timer bits of the mode.
    pub const fn lvt_bits(self) -> u32 {
        let code = match self {
            TimerMode::OneShot => 0,
            TimerMode::Periodic => 1,
            TimerMode::TscDeadline => 2,
        };
        code << LVT_TIMER_MODE_SHIFT
    }
}

/// The x2APIC MSR of the register at xAPIC offset `offset`.
pub const fn x2apic_msr(offset: u32) -> u32 {
    X2APIC_MSR_BASE + (offset >> X2APIC_OFFSET_SHIFT)
}

/// The interface the kit uses now.
pub fn mode() -> Mode {
    if X2APIC.load(Ordering::SeqCst) {
        Mode::X2Apic
    } else {
        Mode::XApic
    }
}

/// IA32_APIC_BASE, or the fault reading it raised.
pub fn apic_base() -> Result<u64, Fault> {
    idt::try_rdmsr(IA32_APIC_BASE)
}

/// Makes the kit use the xAPIC page that the IA32_APIC_BASE value `base` names.
pub fn use_page_of(base: u64) {
    PAGE.store(base & BASE_ADDRESS_MASK, Ordering::SeqCst);
}

/// The xAPIC page address the kit uses.
pub fn page() -> u64 {
    PAGE.load(Ordering::SeqCst)
}

/// Switches the APIC to x2APIC mode (IA32_APIC_BASE |= EXTD) and the kit to the MSRs; on a
/// fault the kit stays in xAPIC mode.
pub fn enter_x2apic() -> Result<(), Fault> {
    let base = apic_base()?;
    // SAFETY: setting EXTD on an enabled APIC only changes how its registers are reached; the
    // address and BSP bits are written back as read.
    unsafe { idt::try_wrmsr(IA32_APIC_BASE, base | BASE_EXTD) }?;
    X2APIC.store(true, Ordering::SeqCst);
    Ok(())
}

/// Reads the 32-bit xAPIC page register at `offset` (any mode: in x2APIC mode this is the
/// undecoded page, for tests of what it returns).
pub fn read_page(offset: u32) -> u32 {
    let address = page() + u64::from(offset);
    // SAFETY: the contract identity-maps 0..4 GiB, which holds the APIC page; callers pass
    // 16-byte aligned register offsets inside the page, so this is an aligned dword read with
    // no effect beyond the device register's.
    unsafe { ptr::read_volatile(address as *const u32) }
}

/// Writes the 32-bit xAPIC page register at `offset`.
fn write_page(offset: u32, value: u32) {
    let address = page() + u64::from(offset);
    // SAFETY: as in `read_page`: an aligned dword write to the identity-mapped APIC page.
    unsafe { ptr::write_volatile(address as *mut u32, value) }
}

/// RDMSR without a probe.
///
/// # Safety
/// `msr` must be readable: a fault ends the guest as an unexpected exception.
unsafe fn rdmsr(msr: u32) -> u64 {
    let low: u32;
    let high: u32;
    // SAFETY: the caller vouches that the MSR exists; RDMSR has no other effect.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags));
    }
    u64::from(high) << 32 | u64::from(low)
}

/// WRMSR without a probe.
///
/// # Safety
/// `msr` must accept `value`, and the write must leave the guest's execution environment
/// intact (APIC registers only change interrupt delivery).
unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller vouches for the MSR and the value.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags));
    }
}

/// Reads the register at xAPIC offset `offset` through the current interface (x2APIC: the low
/// 32 bits of its MSR).
pub fn read(offset: u32) -> u32 {
    match mode() {
        Mode::XApic => read_page(offset),
        // SAFETY: callers name registers that exist and are readable in x2APIC mode.
        Mode::X2Apic => unsafe { rdmsr(x2apic_msr(offset)) as u32 },
    }
}

/// Writes `value` to the register at xAPIC offset `offset` through the current interface.
pub fn write(offset: u32, value: u32) {
    match mode() {
        Mode::XApic => write_page(offset, value),
        // SAFETY: callers name writable registers with values free of reserved bits; APIC
        // registers only change interrupt delivery.
        Mode::X2Apic => unsafe { wrmsr(x2apic_msr(offset), u64::from(value)) },
    }
}

/// Software-enables the APIC with `spurious` as its spurious vector, and lets every priority
/// in (TPR 0).
pub fn software_enable(spurious: u8) {
    write(reg::SVR, SVR_ENABLE | u32::from(spurious));
    write(reg::TPR, 0);
}

/// Signals the end of the interrupt in service (EOI register, 0).
pub fn eoi() {
    write(reg::EOI, 0);
}

/// Whether `vector`'s bit is set in the 256-bit register (ISR, TMR or IRR) at `base`.
fn vector_bit(base: u32, vector: u8) -> bool {
    let word = u32::from(vector / BITS_PER_WORD);
    let bit = vector % BITS_PER_WORD;
    read(base + word * reg::STRIDE) & (1 << bit) != 0
}

/// Whether `vector` is in service (ISR).
pub fn in_service(vector: u8) -> bool {
    vector_bit(reg::ISR, vector)
}

/// Whether `vector` is requested (IRR).
pub fn requested(vector: u8) -> bool {
    vector_bit(reg::IRR, vector)
}

/// Whether `vector` was accepted level-triggered (TMR).
pub fn level_triggered(vector: u8) -> bool {
    vector_bit(reg::TMR, vector)
}

/// Whether any vector is in service.
pub fn any_in_service() -> bool {
    (0..8).any(|word| read(reg::ISR + word * reg::STRIDE) != 0)
}

/// Programs the timer: `mode`, unmasked on `vector`, counting at the input clock / `divide`
/// from `initial` (ignored by the APIC in TSC-deadline mode). The initial-count write starts
/// it, so it comes last.
pub fn start_timer(mode: TimerMode, vector: u8, divide: Divide, initial: u32) {
    write(reg::TIMER_DIVIDE, divide.config());
    write(reg::LVT_TIMER, mode.lvt_bits() | u32::from(vector));
    write(reg::TIMER_INITIAL, initial);
}

/// Programs the timer counting but masked (for calibration: it counts, interrupts nobody).
pub fn start_masked_count(divide: Divide, initial: u32) {
    write(reg::TIMER_DIVIDE, divide.config());
    write(
        reg::LVT_TIMER,
        TimerMode::OneShot.lvt_bits() | LVT_MASKED | u32::from(crate::idt::APIC_VECTOR_BASE),
    );
    write(reg::TIMER_INITIAL, initial);
}

/// Stops the timer (initial count 0) and masks its LVT entry.
pub fn stop_timer() {
    write(reg::TIMER_INITIAL, 0);
    write(reg::LVT_TIMER, read(reg::LVT_TIMER) | LVT_MASKED);
}

/// The timer's current count.
pub fn current_count() -> u32 {
    read(reg::TIMER_CURRENT)
}

/// Sends `vector` to this APIC through the ICR with the "self" shorthand, fixed delivery
/// (xAPIC: high half first, the low-half write sends; x2APIC: one 64-bit MSR write).
pub fn send_self_ipi(vector: u8) {
    let low = ICR_SHORTHAND_SELF | u32::from(vector);
    match mode() {
        Mode::XApic => {
            write_page(reg::ICR_HIGH, 0);
            write_page(reg::ICR_LOW, low);
        }
        // SAFETY: a fixed self IPI with a legal vector and no reserved bits; it only requests
        // an interrupt.
        Mode::X2Apic => unsafe { wrmsr(x2apic_msr(reg::ICR_LOW), u64::from(low)) },
    }
}

/// Sends `vector` to this APIC through the x2APIC SELF IPI MSR (0x83F).
pub fn x2apic_self_ipi(vector: u8) -> Result<(), Fault> {
    // SAFETY: SELF IPI only requests an interrupt.
    unsafe { idt::try_wrmsr(x2apic_msr(reg::SELF_IPI), u64::from(vector)) }
}

/// Arms the TSC-deadline timer for TSC value `deadline` (0 disarms).
pub fn set_tsc_deadline(deadline: u64) -> Result<(), Fault> {
    // SAFETY: IA32_TSC_DEADLINE only schedules a timer interrupt.
    unsafe { idt::try_wrmsr(IA32_TSC_DEADLINE, deadline) }
}

/// IA32_TSC_DEADLINE (0 once the deadline fired or while disarmed).
pub fn tsc_deadline() -> Result<u64, Fault> {
    idt::try_rdmsr(IA32_TSC_DEADLINE)
}

/// The time-stamp counter (RDTSC), the clock of TSC-deadline mode.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the counter (CR4.TSD is clear at CPL 0 anyway).
    unsafe { core::arch::x86_64::_rdtsc() }
}
