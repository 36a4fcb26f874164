//! The model-specific registers VT-x is discovered and configured through (SDM Vol. 4, table
//! 2-2; Vol. 3C, appendix A).

/// Feature control: lock bit and VMX enables.
pub const IA32_FEATURE_CONTROL: u32 = 0x3a;
/// VMCS revision, region size, memory type, true-controls availability.
pub const IA32_VMX_BASIC: u32 = 0x480;
/// Pin-based VM-execution controls (default-1 bits included).
pub const IA32_VMX_PINBASED_CTLS: u32 = 0x481;
/// Primary processor-based VM-execution controls.
pub const IA32_VMX_PROCBASED_CTLS: u32 = 0x482;
/// VM-exit controls.
pub const IA32_VMX_EXIT_CTLS: u32 = 0x483;
/// VM-entry controls.
pub const IA32_VMX_ENTRY_CTLS: u32 = 0x484;
/// Miscellaneous data: preemption-timer rate, activity states, CR3 targets.
pub const IA32_VMX_MISC: u32 = 0x485;
/// CR0 bits fixed to 1 in VMX operation.
pub const IA32_VMX_CR0_FIXED0: u32 = 0x486;
/// CR0 bits allowed to be 1 in VMX operation.
pub const IA32_VMX_CR0_FIXED1: u32 = 0x487;
/// CR4 bits fixed to 1 in VMX operation.
pub const IA32_VMX_CR4_FIXED0: u32 = 0x488;
/// CR4 bits allowed to be 1 in VMX operation.
pub const IA32_VMX_CR4_FIXED1: u32 = 0x489;
/// Secondary processor-based VM-execution controls.
pub const IA32_VMX_PROCBASED_CTLS2: u32 = 0x48b;
/// EPT and VPID capabilities.
pub const IA32_VMX_EPT_VPID_CAP: u32 = 0x48c;
/// True pin-based controls (default-1 bits that may be 0).
pub const IA32_VMX_TRUE_PINBASED_CTLS: u32 = 0x48d;
/// True primary processor-based controls.
pub const IA32_VMX_TRUE_PROCBASED_CTLS: u32 = 0x48e;
/// True VM-exit controls.
pub const IA32_VMX_TRUE_EXIT_CTLS: u32 = 0x48f;
/// True VM-entry controls.
pub const IA32_VMX_TRUE_ENTRY_CTLS: u32 = 0x490;

/// IA32_FEATURE_CONTROL bit 0: locked (writes #GP until reset).
pub const FEATURE_CONTROL_LOCKED: u64 = 1 << 0;
/// IA32_FEATURE_CONTROL bit 2: VMXON allowed outside SMX operation.
pub const FEATURE_CONTROL_VMX_OUTSIDE_SMX: u64 = 1 << 2;
