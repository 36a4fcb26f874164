//! IA32_APIC_BASE: the local APIC's mode and page address, and the legal mode transitions
//! (SDM 11.4.4, 11.12.1 and 11.12.5, figure 11-27).

use super::registers::base;

/// The local APIC's operating mode, from IA32_APIC_BASE bits 11 (EN) and 10 (EXTD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApicMode {
    /// EN = 0, EXTD = 0: globally disabled; the processor behaves as if it had no APIC (LINT0
    /// is the INTR pin, LINT1 the NMI pin).
    Disabled,
    /// EN = 1, EXTD = 0: the xAPIC page is decoded.
    XApic,
    /// EN = 1, EXTD = 1: the registers are MSRs 0x800–0x8FF; the page is not decoded.
    X2Apic,
}

/// Why an access faults: every variant means the VMM injects #GP(0) into the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// EN = 0 with EXTD = 1 is the invalid state.
    InvalidMode { value: u64 },
    /// x2APIC → xAPIC, or disabled → x2APIC: not a legal transition.
    IllegalTransition { from: ApicMode, to: ApicMode },
    /// A reserved bit of IA32_APIC_BASE (bits 0–7, 9, or at/above MAXPHYADDR) is set.
    ReservedBaseBits { value: u64 },
    /// An x2APIC register MSR accessed while not in x2APIC mode.
    NotX2Apic { msr: u32 },
    /// An MSR in 0x800–0x8FF that names no register (or one this model does not implement).
    ReservedRegister { msr: u32 },
    /// A write to a read-only register.
    ReadOnly { msr: u32 },
    /// A read of a write-only register (EOI, self IPI).
    WriteOnly { msr: u32 },
    /// A write that sets a reserved bit (x2APIC registers are RsvdZ, SDM 11.12.1.3).
    ReservedBits { msr: u32, value: u64 },
    /// Not an MSR the local APIC implements.
    NotApicMsr { msr: u32 },
}

impl ApicMode {
    /// The mode an IA32_APIC_BASE value selects; `None` for the invalid EN = 0, EXTD = 1.
    pub const fn of(value: u64) -> Option<ApicMode> {
        match (value & base::ENABLE != 0, value & base::EXTD != 0) {
            (false, false) => Some(ApicMode::Disabled),
            (true, false) => Some(ApicMode::XApic),
            (true, true) => Some(ApicMode::X2Apic),
            (false, true) => None,
        }
    }
}

/// The bits of IA32_APIC_BASE a guest may set, for a `physical_address_bits`-bit physical
/// address space (the BSP flag is read only but accepted as written back).
pub const fn writable_bits(physical_address_bits: u8) -> u64 {
    let address = ((1u64 << physical_address_bits) - 1) & !((1u64 << base::ADDRESS_SHIFT) - 1);
    address | base::ENABLE | base::EXTD | base::BSP
}

/// Checks a guest write of `value` over `current` and returns the mode it selects.
pub fn check_transition(
    current: u64,
    value: u64,
    physical_address_bits: u8,
) -> Result<ApicMode, Fault> {
    if value & !writable_bits(physical_address_bits) != 0 {
        return Err(Fault::ReservedBaseBits { value });
    }
    let to = ApicMode::of(value).ok_or(Fault::InvalidMode { value })?;
    let from = ApicMode::of(current).unwrap_or(ApicMode::Disabled);
    match (from, to) {
        (ApicMode::X2Apic, ApicMode::XApic) | (ApicMode::Disabled, ApicMode::X2Apic) => {
            Err(Fault::IllegalTransition { from, to })
        }
        _ => Ok(to),
    }
}

/// The xAPIC page address in an IA32_APIC_BASE value.
pub const fn page_address(value: u64, physical_address_bits: u8) -> u64 {
    value & writable_bits(physical_address_bits) & !(base::ENABLE | base::EXTD | base::BSP)
}
