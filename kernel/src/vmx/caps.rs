//! Decoding the VMX capability MSRs into what the hypervisor can use (SDM Vol. 3C, appendix A).
//! Pure: the raw values are read elsewhere, so this is unit-tested on the host.
//!
//! A control MSR holds the allowed-0 settings in bits 31:0 (a 1 there means the control must
//! be 1) and the allowed-1 settings in bits 63:32 (a 0 there means the control must be 0).
//! When IA32_VMX_BASIC bit 55 is set the TRUE_* MSRs replace the defaults (A.2).

use bitflags::bitflags;
use core::fmt;

bitflags! {
    /// Pin-based VM-execution controls (SDM Vol. 3C, 25.6.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PinControls: u32 {
        /// External interrupts cause VM exits.
        const EXTERNAL_INTERRUPT_EXITING = 1 << 0;
        /// NMIs cause VM exits.
        const NMI_EXITING = 1 << 3;
        /// Virtual NMIs.
        const VIRTUAL_NMIS = 1 << 5;
        /// The VMX-preemption timer counts down in VMX non-root operation.
        const PREEMPTION_TIMER = 1 << 6;
        /// Posted-interrupt processing.
        const POSTED_INTERRUPTS = 1 << 7;
    }
}

bitflags! {
    /// Primary processor-based VM-execution controls (SDM Vol. 3C, 25.6.2).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PrimaryControls: u32 {
        const INTERRUPT_WINDOW_EXITING = 1 << 2;
        const USE_TSC_OFFSETTING = 1 << 3;
        const HLT_EXITING = 1 << 7;
        const INVLPG_EXITING = 1 << 9;
        const MWAIT_EXITING = 1 << 10;
        const RDPMC_EXITING = 1 << 11;
        const RDTSC_EXITING = 1 << 12;
        const CR3_LOAD_EXITING = 1 << 15;
        const CR3_STORE_EXITING = 1 << 16;
        const CR8_LOAD_EXITING = 1 << 19;
        const CR8_STORE_EXITING = 1 << 20;
        const USE_TPR_SHADOW = 1 << 21;
        const NMI_WINDOW_EXITING = 1 << 22;
        const MOV_DR_EXITING = 1 << 23;
        const UNCONDITIONAL_IO_EXITING = 1 << 24;
        const USE_IO_BITMAPS = 1 << 25;
        const MONITOR_TRAP_FLAG = 1 << 27;
        const USE_MSR_BITMAPS = 1 << 28;
        const MONITOR_EXITING = 1 << 29;
        const PAUSE_EXITING = 1 << 30;
        const ACTIVATE_SECONDARY_CONTROLS = 1 << 31;
    }
}

bitflags! {
    /// Secondary processor-based VM-execution controls (SDM Vol. 3C, 25.6.2).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SecondaryControls: u32 {
        const VIRTUALIZE_APIC_ACCESSES = 1 << 0;
        const ENABLE_EPT = 1 << 1;
        const DESCRIPTOR_TABLE_EXITING = 1 << 2;
        const ENABLE_RDTSCP = 1 << 3;
        const VIRTUALIZE_X2APIC_MODE = 1 << 4;
        const ENABLE_VPID = 1 << 5;
        const WBINVD_EXITING = 1 << 6;
        const UNRESTRICTED_GUEST = 1 << 7;
        const APIC_REGISTER_VIRTUALIZATION = 1 << 8;
        const VIRTUAL_INTERRUPT_DELIVERY = 1 << 9;
        const PAUSE_LOOP_EXITING = 1 << 10;
        const ENABLE_INVPCID = 1 << 12;
        const ENABLE_VM_FUNCTIONS = 1 << 13;
        const VMCS_SHADOWING = 1 << 14;
        const ENABLE_PML = 1 << 17;
        const EPT_VIOLATION_VE = 1 << 18;
        const ENABLE_XSAVES = 1 << 20;
    }
}

bitflags! {
    /// VM-exit controls (SDM Vol. 3C, 25.7.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ExitControls: u32 {
        const SAVE_DEBUG_CONTROLS = 1 << 2;
        const HOST_ADDRESS_SPACE_SIZE = 1 << 9;
        const ACKNOWLEDGE_INTERRUPT_ON_EXIT = 1 << 15;
        const SAVE_IA32_PAT = 1 << 18;
        const LOAD_IA32_PAT = 1 << 19;
        const SAVE_IA32_EFER = 1 << 20;
        const LOAD_IA32_EFER = 1 << 21;
        const SAVE_PREEMPTION_TIMER = 1 << 22;
    }
}

bitflags! {
    /// VM-entry controls (SDM Vol. 3C, 25.8.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct EntryControls: u32 {
        const LOAD_DEBUG_CONTROLS = 1 << 2;
        const IA32E_MODE_GUEST = 1 << 9;
        const LOAD_IA32_PAT = 1 << 14;
        const LOAD_IA32_EFER = 1 << 15;
    }
}

bitflags! {
    /// IA32_VMX_EPT_VPID_CAP (SDM Vol. 3C, A.10).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct EptVpidCaps: u64 {
        const EXECUTE_ONLY = 1 << 0;
        const PAGE_WALK_LENGTH_4 = 1 << 6;
        const MEMORY_TYPE_UC = 1 << 8;
        const MEMORY_TYPE_WB = 1 << 14;
        const PAGES_2M = 1 << 16;
        const PAGES_1G = 1 << 17;
        const INVEPT = 1 << 20;
        const ACCESSED_DIRTY_FLAGS = 1 << 21;
        const INVEPT_SINGLE_CONTEXT = 1 << 25;
        const INVEPT_ALL_CONTEXT = 1 << 26;
        const INVVPID = 1 << 32;
        const INVVPID_INDIVIDUAL_ADDRESS = 1 << 40;
        const INVVPID_SINGLE_CONTEXT = 1 << 41;
        const INVVPID_ALL_CONTEXT = 1 << 42;
    }
}

/// IA32_VMX_BASIC bits 30:0: the VMCS revision identifier.
const BASIC_REVISION_MASK: u64 = 0x7fff_ffff;
/// IA32_VMX_BASIC bits 44:32: bytes to allocate for VMXON and VMCS regions.
const BASIC_REGION_SIZE_SHIFT: u32 = 32;
const BASIC_REGION_SIZE_MASK: u64 = 0x1fff;
/// IA32_VMX_BASIC bits 53:50: memory type for VMCS accesses.
const BASIC_MEMORY_TYPE_SHIFT: u32 = 50;
const BASIC_MEMORY_TYPE_MASK: u64 = 0xf;
/// Memory type 6: write-back.
pub const MEMORY_TYPE_WRITE_BACK: u8 = 6;
/// IA32_VMX_BASIC bit 54: INS/OUTS exits report instruction information.
const BASIC_INS_OUTS_INFO: u64 = 1 << 54;
/// IA32_VMX_BASIC bit 55: the TRUE_* control MSRs exist.
const BASIC_TRUE_CONTROLS: u64 = 1 << 55;
/// IA32_VMX_MISC bits 4:0: the preemption timer counts once every 2^X TSC ticks.
const MISC_PREEMPTION_TIMER_RATE_MASK: u64 = 0x1f;
/// IA32_VMX_MISC bit 5: VM exits store EFER.LMA into the "IA-32e mode guest" entry control.
const MISC_STORES_LMA: u64 = 1 << 5;
/// IA32_VMX_MISC bit 6: the HLT activity state is supported.
const MISC_ACTIVITY_HLT: u64 = 1 << 6;

/// The raw capability MSR values, as read on a CPU (secondary and EPT are 0 when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawVmxMsrs {
    pub basic: u64,
    pub pinbased: u64,
    pub procbased: u64,
    pub exit: u64,
    pub entry: u64,
    pub misc: u64,
    pub procbased2: u64,
    pub ept_vpid: u64,
    pub cr0_fixed0: u64,
    pub cr0_fixed1: u64,
    pub cr4_fixed0: u64,
    pub cr4_fixed1: u64,
}

/// One control field's capability: the bits that must be 1 and the bits that may be 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlCaps {
    pub must_be_one: u32,
    pub may_be_one: u32,
}

/// Why a wanted set of controls cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedControls {
    /// Wanted bits the CPU does not allow.
    pub missing: u32,
}

impl ControlCaps {
    /// Split a capability MSR value (allowed-0 low, allowed-1 high).
    pub fn from_msr(value: u64) -> Self {
        ControlCaps {
            must_be_one: value as u32,
            may_be_one: (value >> 32) as u32,
        }
    }

    /// Whether every bit of `bits` may be set.
    pub fn supports(&self, bits: u32) -> bool {
        bits & !self.may_be_one == 0
    }

    /// The value to program: `wanted` plus every must-be-one bit, or the wanted bits the CPU
    /// refuses.
    pub fn adjust(&self, wanted: u32) -> Result<u32, UnsupportedControls> {
        let missing = wanted & !self.may_be_one;
        if missing != 0 {
            return Err(UnsupportedControls { missing });
        }
        Ok(wanted | self.must_be_one)
    }
}

/// What this CPU's VMX offers, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmxCapabilities {
    pub revision_id: u32,
    pub region_size: u32,
    pub vmcs_memory_type: u8,
    pub true_controls: bool,
    pub ins_outs_info: bool,
    pub pin: ControlCaps,
    pub primary: ControlCaps,
    pub secondary: ControlCaps,
    pub exit: ControlCaps,
    pub entry: ControlCaps,
    pub ept_vpid: EptVpidCaps,
    pub preemption_timer_shift: u8,
    pub stores_lma_on_exit: bool,
    pub hlt_activity_state: bool,
    pub cr0_fixed0: u64,
    pub cr0_fixed1: u64,
    pub cr4_fixed0: u64,
    pub cr4_fixed1: u64,
}

impl VmxCapabilities {
    /// Decode. `raw` must hold the TRUE_* values in the control fields when
    /// [`has_true_controls`] says they exist.
    pub fn decode(raw: &RawVmxMsrs) -> Self {
        let primary = ControlCaps::from_msr(raw.procbased);
        let secondary = if primary.supports(PrimaryControls::ACTIVATE_SECONDARY_CONTROLS.bits()) {
            ControlCaps::from_msr(raw.procbased2)
        } else {
            ControlCaps {
                must_be_one: 0,
                may_be_one: 0,
            }
        };
        let ept_vpid = if secondary.may_be_one
            & (SecondaryControls::ENABLE_EPT | SecondaryControls::ENABLE_VPID).bits()
            != 0
        {
            EptVpidCaps::from_bits_truncate(raw.ept_vpid)
        } else {
            EptVpidCaps::empty()
        };
        VmxCapabilities {
            revision_id: (raw.basic & BASIC_REVISION_MASK) as u32,
            region_size: ((raw.basic >> BASIC_REGION_SIZE_SHIFT) & BASIC_REGION_SIZE_MASK) as u32,
            vmcs_memory_type: ((raw.basic >> BASIC_MEMORY_TYPE_SHIFT) & BASIC_MEMORY_TYPE_MASK)
                as u8,
            true_controls: has_true_controls(raw.basic),
            ins_outs_info: raw.basic & BASIC_INS_OUTS_INFO != 0,
            pin: ControlCaps::from_msr(raw.pinbased),
            primary,
            secondary,
            exit: ControlCaps::from_msr(raw.exit),
            entry: ControlCaps::from_msr(raw.entry),
            ept_vpid,
            preemption_timer_shift: (raw.misc & MISC_PREEMPTION_TIMER_RATE_MASK) as u8,
            stores_lma_on_exit: raw.misc & MISC_STORES_LMA != 0,
            hlt_activity_state: raw.misc & MISC_ACTIVITY_HLT != 0,
            cr0_fixed0: raw.cr0_fixed0,
            cr0_fixed1: raw.cr0_fixed1,
            cr4_fixed0: raw.cr4_fixed0,
            cr4_fixed1: raw.cr4_fixed1,
        }
    }

    /// EPT with 4-level walks and write-back paging structures.
    pub fn has_ept(&self) -> bool {
        self.secondary
            .supports(SecondaryControls::ENABLE_EPT.bits())
            && self
                .ept_vpid
                .contains(EptVpidCaps::PAGE_WALK_LENGTH_4 | EptVpidCaps::MEMORY_TYPE_WB)
    }

    /// Guests may run in real mode and unpaged protected mode.
    pub fn has_unrestricted_guest(&self) -> bool {
        self.secondary
            .supports(SecondaryControls::UNRESTRICTED_GUEST.bits())
    }

    /// Virtual-processor identifiers.
    pub fn has_vpid(&self) -> bool {
        self.secondary
            .supports(SecondaryControls::ENABLE_VPID.bits())
    }

    /// The VMX-preemption timer.
    pub fn has_preemption_timer(&self) -> bool {
        self.pin.supports(PinControls::PREEMPTION_TIMER.bits())
    }

    /// A CR0/CR4 value adjusted to the VMX fixed bits (fixed0 bits set, non-fixed1 bits clear).
    pub fn fix_cr0(&self, cr0: u64) -> u64 {
        (cr0 | self.cr0_fixed0) & self.cr0_fixed1
    }

    /// See [`fix_cr0`](Self::fix_cr0).
    pub fn fix_cr4(&self, cr4: u64) -> u64 {
        (cr4 | self.cr4_fixed0) & self.cr4_fixed1
    }
}

/// Whether IA32_VMX_BASIC announces the TRUE_* control MSRs.
pub fn has_true_controls(basic: u64) -> bool {
    basic & BASIC_TRUE_CONTROLS != 0
}

fn yes(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

impl fmt::Display for VmxCapabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "VMX basic: revision {:#x}, region {} bytes, VMCS memory type {}{}, true controls: {}, INS/OUTS info: {}",
            self.revision_id,
            self.region_size,
            self.vmcs_memory_type,
            if self.vmcs_memory_type == MEMORY_TYPE_WRITE_BACK {
                " (WB)"
            } else {
                ""
            },
            yes(self.true_controls),
            yes(self.ins_outs_info)
        )?;
        for (name, caps) in [
            ("pin-based", self.pin),
            ("primary", self.primary),
            ("secondary", self.secondary),
            ("exit", self.exit),
            ("entry", self.entry),
        ] {
            writeln!(
                f,
                "VMX {name:<9} controls: must-be-1 {:#010x}, may-be-1 {:#010x}",
                caps.must_be_one, caps.may_be_one
            )?;
        }
        let secondary = SecondaryControls::from_bits_truncate(self.secondary.may_be_one);
        writeln!(f, "VMX secondary features: {secondary:?}")?;
        writeln!(f, "VMX EPT/VPID: {:?}", self.ept_vpid)?;
        writeln!(
            f,
            "VMX EPT: {}, unrestricted guest: {}, VPID: {}, preemption timer: {} (TSC/2^{}), HLT activity: {}",
            yes(self.has_ept()),
            yes(self.has_unrestricted_guest()),
            yes(self.has_vpid()),
            yes(self.has_preemption_timer()),
            self.preemption_timer_shift,
            yes(self.hlt_activity_state)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values Bochs 2.7 (`corei7_skylake_x`) reports, as printed by the kernel there.
    fn skylake_like() -> RawVmxMsrs {
        let ept_bits = [0, 6, 8, 14, 16, 17, 20, 21, 25, 26, 32, 40, 41, 42];
        RawVmxMsrs {
            basic: (1 << 55) | (1 << 54) | (6 << 50) | (0x1000 << 32) | 0x2b,
            pinbased: (0x7f_u64 << 32) | 0x16,
            procbased: (0xf7f9_fffe_u64 << 32) | 0x0400_6172,
            exit: (0x007f_ffff_u64 << 32) | 0x0003_6dfb,
            entry: (0x0000_ffff_u64 << 32) | 0x0000_11fb,
            misc: 0x0000_0000_0000_01e0,
            procbased2: 0x0217_7fff_u64 << 32,
            ept_vpid: ept_bits.iter().fold(0, |bits, bit| bits | (1u64 << bit)),
            cr0_fixed0: 0x8000_0021,
            cr0_fixed1: 0xffff_ffff,
            cr4_fixed0: 0x2000,
            cr4_fixed1: 0x0037_67ff,
        }
    }

    #[test]
    fn basic_fields_decode() {
        let caps = VmxCapabilities::decode(&skylake_like());
        assert_eq!(caps.revision_id, 0x2b);
        assert_eq!(caps.region_size, 4096);
        assert_eq!(caps.vmcs_memory_type, MEMORY_TYPE_WRITE_BACK);
        assert!(caps.true_controls);
        assert!(caps.ins_outs_info);
        assert_eq!(caps.preemption_timer_shift, 0);
        assert!(caps.stores_lma_on_exit);
        assert!(caps.hlt_activity_state);
    }

    #[test]
    fn ept_and_unrestricted_guest_are_found() {
        let caps = VmxCapabilities::decode(&skylake_like());
        assert!(caps.has_ept());
        assert!(caps.has_unrestricted_guest());
        assert!(caps.has_vpid());
        assert!(caps.has_preemption_timer());
        assert!(
            caps.ept_vpid
                .contains(EptVpidCaps::PAGES_2M | EptVpidCaps::INVEPT)
        );
    }

    #[test]
    fn secondary_controls_ignored_without_activation() {
        let mut raw = skylake_like();
        raw.procbased &= !((PrimaryControls::ACTIVATE_SECONDARY_CONTROLS.bits() as u64) << 32);
        let caps = VmxCapabilities::decode(&raw);
        assert!(!caps.has_ept());
        assert!(!caps.has_unrestricted_guest());
        assert_eq!(caps.ept_vpid, EptVpidCaps::empty());
    }

    #[test]
    fn adjust_adds_must_be_one_and_refuses_unsupported() {
        let caps = ControlCaps::from_msr((0x0000_00ff_u64 << 32) | 0x16);
        assert_eq!(caps.adjust(0x01), Ok(0x17));
        assert_eq!(
            caps.adjust(0x100),
            Err(UnsupportedControls { missing: 0x100 })
        );
    }

    #[test]
    fn cr_fixed_bits_are_applied() {
        let caps = VmxCapabilities::decode(&skylake_like());
        assert_eq!(caps.fix_cr0(0x10), 0x8000_0031);
        assert_eq!(caps.fix_cr4(0x20) & 0x2000, 0x2000);
        assert_eq!(caps.fix_cr4(1 << 30), 0x2000);
    }

    #[test]
    fn report_names_the_features() {
        let text = alloc_free_report(&VmxCapabilities::decode(&skylake_like()));
        assert!(text.contains("EPT: yes"));
        assert!(text.contains("unrestricted guest: yes"));
    }

    fn alloc_free_report(caps: &VmxCapabilities) -> String {
        format!("{caps}")
    }
}
