//! Entering and leaving VMX operation on the current CPU (SDM Vol. 3C, 24.7 "Enabling and
//! entering VMX operation", 24.11 "VMXON region"; 31.5 for the VMfail conventions).

use core::fmt;

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::Msr;

use super::caps::{RawVmxMsrs, VmxCapabilities, has_true_controls};
use super::msr::*;

/// Why VMX operation is not available or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmxError {
    /// CPUID.1:ECX.VMX is clear (e.g. QEMU without KVM: TCG does not emulate VMX).
    NotSupported,
    /// IA32_FEATURE_CONTROL is locked with VMX outside SMX disabled (firmware setting).
    DisabledByFirmware,
    /// The VMXON region is too small for what IA32_VMX_BASIC asks.
    RegionTooSmall { needed: u32 },
    /// VMXON failed with CF=1 (bad region pointer or revision).
    VmFailInvalid,
    /// VMXON failed with ZF=1 (already in VMX operation, or another reason).
    VmFailValid,
}

impl fmt::Display for VmxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmxError::NotSupported => {
                write!(f, "VT-x not available: CPUID.1:ECX.VMX is 0 on this CPU")
            }
            VmxError::DisabledByFirmware => write!(
                f,
                "VT-x disabled by firmware: IA32_FEATURE_CONTROL locked without VMX outside SMX"
            ),
            VmxError::RegionTooSmall { needed } => {
                write!(
                    f,
                    "VMXON region smaller than the {needed} bytes IA32_VMX_BASIC asks"
                )
            }
            VmxError::VmFailInvalid => write!(f, "VMXON failed: VMfailInvalid (CF=1)"),
            VmxError::VmFailValid => write!(f, "VMXON failed: VMfailValid (ZF=1)"),
        }
    }
}

fn read_msr(index: u32) -> u64 {
    // SAFETY: only called for VMX capability MSRs after CPUID reported VMX, where they exist.
    unsafe { Msr::new(index).read() }
}

/// Check that VT-x can be used, unlock it in IA32_FEATURE_CONTROL if the firmware left it
/// unlocked, and read the capabilities.
pub fn probe() -> Result<VmxCapabilities, VmxError> {
    let has_vmx = raw_cpuid::CpuId::new()
        .get_feature_info()
        .is_some_and(|f| f.has_vmx());
    if !has_vmx {
        return Err(VmxError::NotSupported);
    }
    let mut feature_control = Msr::new(IA32_FEATURE_CONTROL);
    // SAFETY: IA32_FEATURE_CONTROL exists on every CPU reporting VMX.
    let value = unsafe { feature_control.read() };
    if value & FEATURE_CONTROL_LOCKED != 0 {
        if value & FEATURE_CONTROL_VMX_OUTSIDE_SMX == 0 {
            return Err(VmxError::DisabledByFirmware);
        }
    } else {
        // SAFETY: the MSR is unlocked, so the write is allowed; it enables VMXON outside SMX
        // and locks the setting until reset, as firmware normally does.
        unsafe {
            feature_control.write(value | FEATURE_CONTROL_VMX_OUTSIDE_SMX | FEATURE_CONTROL_LOCKED)
        };
    }
    let basic = read_msr(IA32_VMX_BASIC);
    let true_controls = has_true_controls(basic);
    let pick =
        |default: u32, true_msr: u32| read_msr(if true_controls { true_msr } else { default });
    let procbased = pick(IA32_VMX_PROCBASED_CTLS, IA32_VMX_TRUE_PROCBASED_CTLS);
    let secondary_allowed = (procbased >> 32) as u32
        & super::caps::PrimaryControls::ACTIVATE_SECONDARY_CONTROLS.bits()
        != 0;
    let procbased2 = if secondary_allowed {
        read_msr(IA32_VMX_PROCBASED_CTLS2)
    } else {
        0
    };
    let ept_vpid = if procbased2 != 0 {
        read_msr(IA32_VMX_EPT_VPID_CAP)
    } else {
        0
    };
    let raw = RawVmxMsrs {
        basic,
        pinbased: pick(IA32_VMX_PINBASED_CTLS, IA32_VMX_TRUE_PINBASED_CTLS),
        procbased,
        exit: pick(IA32_VMX_EXIT_CTLS, IA32_VMX_TRUE_EXIT_CTLS),
        entry: pick(IA32_VMX_ENTRY_CTLS, IA32_VMX_TRUE_ENTRY_CTLS),
        misc: read_msr(IA32_VMX_MISC),
        procbased2,
        ept_vpid,
        cr0_fixed0: read_msr(IA32_VMX_CR0_FIXED0),
        cr0_fixed1: read_msr(IA32_VMX_CR0_FIXED1),
        cr4_fixed0: read_msr(IA32_VMX_CR4_FIXED0),
        cr4_fixed1: read_msr(IA32_VMX_CR4_FIXED1),
    };
    Ok(VmxCapabilities::decode(&raw))
}

/// A 4 KiB-aligned VMXON region: its physical address and a writable mapping of it.
pub struct VmxonRegion {
    pub physical: u64,
    pub bytes: &'static mut [u8],
}

/// Enter VMX operation on this CPU.
pub fn enable(caps: &VmxCapabilities, region: &mut VmxonRegion) -> Result<(), VmxError> {
    if region.bytes.len() < caps.region_size as usize {
        return Err(VmxError::RegionTooSmall {
            needed: caps.region_size,
        });
    }
    region.bytes.fill(0);
    region.bytes[..4].copy_from_slice(&caps.revision_id.to_le_bytes());
    let cr0 = caps.fix_cr0(Cr0::read().bits());
    let cr4 = caps.fix_cr4(Cr4::read().bits() | Cr4Flags::VIRTUAL_MACHINE_EXTENSIONS.bits());
    // SAFETY: the fixed-bit adjustments only set bits VMX requires (PE, PG and NE are already
    // set in long mode; NE only changes how x87 errors are reported, and we use no x87) and
    // CR4.VMXE, which has no effect outside VMX instructions.
    unsafe {
        Cr0::write(Cr0Flags::from_bits_retain(cr0));
        Cr4::write(Cr4Flags::from_bits_retain(cr4));
    }
    let physical = region.physical;
    let flags: u64;
    // SAFETY: CR4.VMXE is set, the region is 4 KiB aligned, zeroed and carries the revision
    // identifier; VMXON reads only that region. RFLAGS is captured to report VMfail.
    unsafe {
        core::arch::asm!(
            "vmxon [{physical}]",
            "pushfq",
            "pop {flags}",
            physical = in(reg) &physical,
            flags = lateout(reg) flags,
        );
    }
    check_vm_instruction(flags)
}

/// Leave VMX operation on this CPU and clear CR4.VMXE.
pub fn disable() {
    // SAFETY: only called after a successful `enable`; VMXOFF leaves VMX operation and no
    // VMCS is in use by the caller any more.
    unsafe { core::arch::asm!("vmxoff", options(nostack)) };
    // SAFETY: outside VMX operation CR4.VMXE may be cleared.
    unsafe { Cr4::update(|flags| flags.remove(Cr4Flags::VIRTUAL_MACHINE_EXTENSIONS)) };
}

/// RFLAGS.CF: VMfailInvalid.
const RFLAGS_CARRY: u64 = 1 << 0;
/// RFLAGS.ZF: VMfailValid.
const RFLAGS_ZERO: u64 = 1 << 6;

fn check_vm_instruction(rflags: u64) -> Result<(), VmxError> {
    if rflags & RFLAGS_CARRY != 0 {
        Err(VmxError::VmFailInvalid)
    } else if rflags & RFLAGS_ZERO != 0 {
        Err(VmxError::VmFailValid)
    } else {
        Ok(())
    }
}
