//! RDMSR/WRMSR exits (only MSRs the MSR bitmap intercepts arrive here): a small set is
//! emulated, EFER goes to the VMCS, everything else raises #GP(0) in the guest as an unknown
//! MSR does on hardware.
//!
//! The emulated set is what an OS reads without `rdmsr_safe` for the features `exits::cpuid`
//! leaves visible; Linux 6.1 logs "unchecked MSR access error" for any of those that faults.
//! Features backed by other MSRs are hidden in CPUID instead (see `exits::cpuid`).

use super::Flow;
use super::control_registers::update_long_mode_active;
use crate::vm::Vm;
use crate::vm::vcpu::{self, vector};
use crate::vm::vmcs_setup::{EFER_LMA, EFER_LME, IA32_EFER};
use crate::vmx::entry::gpr;
use crate::vmx::fields::VmcsField as F;
use crate::vmx::vmcs;

/// IA32_TIME_STAMP_COUNTER.
const IA32_TSC: u32 = 0x10;
/// IA32_PLATFORM_ID.
const IA32_PLATFORM_ID: u32 = 0x17;
/// IA32_APIC_BASE.
const IA32_APIC_BASE: u32 = 0x1b;
/// IA32_FEATURE_CONTROL.
const IA32_FEATURE_CONTROL: u32 = 0x3a;
/// IA32_TSC_ADJUST (CPUID.7.0:EBX[1]). Linux reads it unchecked at boot and from the idle loop
/// (`arch/x86/kernel/tsc_sync.c`: `tsc_store_and_check_tsc_adjust`, `tsc_verify_tsc_adjust`),
/// and with it on a constant, non-stop TSC disables the clocksource watchdog on the TSC
/// (`arch/x86/kernel/tsc.c`: `check_system_tsc_reliable`), as on hardware.
const IA32_TSC_ADJUST: u32 = 0x3b;
/// IA32_BIOS_SIGN_ID (microcode revision).
const IA32_BIOS_SIGN_ID: u32 = 0x8b;
/// IA32_MTRRCAP.
const IA32_MTRRCAP: u32 = 0xfe;
/// IA32_MCG_CAP (CPUID.1:EDX.MCA). Linux reads it unchecked when MCE and MCA are offered
/// (`arch/x86/kernel/cpu/mce/core.c`: `__mcheck_cpu_cap_init`, `__mcheck_cpu_init_generic`).
const IA32_MCG_CAP: u32 = 0x179;
/// IA32_MCG_STATUS.
const IA32_MCG_STATUS: u32 = 0x17a;
/// IA32_MISC_ENABLE.
const IA32_MISC_ENABLE: u32 = 0x1a0;
/// IA32_MTRR_DEF_TYPE.
const IA32_MTRR_DEF_TYPE: u32 = 0x2ff;

/// FEATURE_CONTROL as the guest reads it: locked, VMX off (the guest has no VMX).
pub const GUEST_FEATURE_CONTROL: u64 = 1;
/// APIC_BASE as the guest reads it: the default base, enabled, bootstrap processor.
pub const GUEST_APIC_BASE: u64 = 0xfee0_0000 | (1 << 11) | (1 << 8);
/// MISC_ENABLE bit 0: fast strings enabled.
const MISC_ENABLE_FAST_STRINGS: u64 = 1 << 0;
/// MISC_ENABLE bit 11: branch trace storage unavailable.
const MISC_ENABLE_BTS_UNAVAILABLE: u64 = 1 << 11;
/// MISC_ENABLE bit 12: processor event-based sampling unavailable.
const MISC_ENABLE_PEBS_UNAVAILABLE: u64 = 1 << 12;
/// MISC_ENABLE as the guest reads it: fast strings on; no BTS or PEBS (the debug store is not
/// virtualized, CPUID.1:EDX.DS is hidden).
pub const GUEST_MISC_ENABLE: u64 =
    MISC_ENABLE_FAST_STRINGS | MISC_ENABLE_BTS_UNAVAILABLE | MISC_ENABLE_PEBS_UNAVAILABLE;
/// TSC_ADJUST as the guest reads it: the TSC has not been adjusted.
pub const GUEST_TSC_ADJUST: u64 = 0;
/// MCG_CAP as the guest reads it: no error-reporting banks, no MCG_CTL, no extensions. The VM
/// never sees a machine check, and Linux runs its MCE code over zero banks.
pub const GUEST_MCG_CAP: u64 = 0;
/// MCG_STATUS as the guest reads it: no machine check in progress.
pub const GUEST_MCG_STATUS: u64 = 0;
/// MCG_STATUS bits 3:0 (RIPV, EIPV, MCIP, LMCE_S) may be written; the rest are reserved.
const MCG_STATUS_WRITABLE: u64 = 0b1111;
/// EFER bits a guest may set: SCE (0), LME (8), LMA (10, ignored on write), NXE (11).
const EFER_WRITABLE: u64 = (1 << 0) | EFER_LME | EFER_LMA | (1 << 11);

/// What the guest reads from `msr`, or `None` for #GP.
pub fn emulated_read(msr: u32, efer: u64) -> Option<u64> {
    Some(match msr {
        IA32_EFER => efer,
        IA32_FEATURE_CONTROL => GUEST_FEATURE_CONTROL,
        IA32_APIC_BASE => GUEST_APIC_BASE,
        IA32_MISC_ENABLE => GUEST_MISC_ENABLE,
        IA32_TSC_ADJUST => GUEST_TSC_ADJUST,
        IA32_MCG_CAP => GUEST_MCG_CAP,
        IA32_MCG_STATUS => GUEST_MCG_STATUS,
        IA32_PLATFORM_ID | IA32_BIOS_SIGN_ID | IA32_MTRRCAP | IA32_MTRR_DEF_TYPE => 0,
        _ => return None,
    })
}

/// Whether a write of `value` to an emulated MSR other than EFER is accepted (and then
/// ignored: the guest's view of these does not change what we emulate); `false` means #GP.
pub fn emulated_write_accepted(msr: u32, value: u64) -> bool {
    match msr {
        // A TSC_ADJUST write is not applied to the TSC (which the guest reads unmodified); Linux
        // writes back only the value it read (0) on a single-vCPU VM.
        IA32_TSC | IA32_TSC_ADJUST | IA32_APIC_BASE | IA32_MISC_ENABLE | IA32_BIOS_SIGN_ID => true,
        // Clearing MCIP and friends after a machine check: there never is one.
        IA32_MCG_STATUS => value & !MCG_STATUS_WRITABLE == 0,
        // MCG_CAP is read-only on hardware.
        _ => false,
    }
}

/// IA32_TSC_DEADLINE.
const IA32_TSC_DEADLINE: u32 = 0x6e0;
/// The x2APIC register MSRs.
const X2APIC_MSRS: core::ops::RangeInclusive<u32> = 0x800..=0x8ff;

/// Whether `msr` belongs to the VM's local APIC (when it has one).
fn is_apic_msr(vm: &Vm, msr: u32) -> bool {
    let has_apic = vm
        .platform
        .controllers
        .as_ref()
        .is_some_and(|c| c.apics.is_some());
    has_apic && (msr == IA32_APIC_BASE || msr == IA32_TSC_DEADLINE || X2APIC_MSRS.contains(&msr))
}

/// An APIC MSR access through the local APIC model (its timers are accounted to it on the
/// bus). `None` means the model refused it: #GP.
fn apic_msr(vm: &mut Vm, msr: u32, write: Option<u64>) -> Option<u64> {
    let apics = vm.platform.controllers.as_ref()?.apics.clone()?;
    let result = vm
        .bus
        .with_context(&mut vm.platform, apics.lapic_device, |ctx| {
            let mut lapic = apics.lapic.lock();
            match write {
                Some(value) => lapic.msr_write(ctx, msr, value).map(|()| 0),
                None => lapic.msr_read(ctx, msr),
            }
        });
    result.ok()?.ok()
}

/// The RDMSR exit.
pub fn read(vm: &mut Vm) -> Flow {
    let msr = vm.vcpu.registers.gprs[gpr::RCX] as u32;
    let value = if is_apic_msr(vm, msr) {
        apic_msr(vm, msr, None)
    } else {
        emulated_read(msr, vcpu::read(F::GuestIa32Efer))
    };
    match value {
        Some(value) => {
            vm.vcpu.registers.gprs[gpr::RAX] = value & 0xffff_ffff;
            vm.vcpu.registers.gprs[gpr::RDX] = value >> 32;
            vm.vcpu.skip_instruction();
        }
        None => vm
            .vcpu
            .inject_exception(vector::GENERAL_PROTECTION, Some(0)),
    }
    Flow::Resume
}

/// The WRMSR exit.
pub fn write(vm: &mut Vm) -> Flow {
    let registers = &vm.vcpu.registers.gprs;
    let msr = registers[gpr::RCX] as u32;
    let value = (registers[gpr::RDX] << 32) | (registers[gpr::RAX] & 0xffff_ffff);
    if is_apic_msr(vm, msr) {
        match apic_msr(vm, msr, Some(value)) {
            Some(_) => vm.vcpu.skip_instruction(),
            None => vm
                .vcpu
                .inject_exception(vector::GENERAL_PROTECTION, Some(0)),
        }
        return Flow::Resume;
    }
    let accepted = match msr {
        IA32_EFER => value & !EFER_WRITABLE == 0 && write_efer(value),
        _ => emulated_write_accepted(msr, value),
    };
    if accepted {
        vm.vcpu.skip_instruction();
    } else {
        vm.vcpu
            .inject_exception(vector::GENERAL_PROTECTION, Some(0));
    }
    Flow::Resume
}

/// EFER.LME may only change while paging is off; LMA follows LME and CR0.PG.
fn write_efer(value: u64) -> bool {
    let old = vcpu::read(F::GuestIa32Efer);
    let paging = vcpu::read(F::Cr0ReadShadow) & crate::vm::vmcs_setup::CR0_PG != 0;
    if paging && (old ^ value) & EFER_LME != 0 {
        return false;
    }
    let new = (value & !EFER_LMA) | (old & EFER_LMA);
    vmcs::write(F::GuestIa32Efer, new).is_ok() && update_long_mode_active()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_control_is_locked_without_vmx() {
        assert_eq!(emulated_read(IA32_FEATURE_CONTROL, 0), Some(1));
    }

    #[test]
    fn unknown_msrs_fault() {
        assert_eq!(emulated_read(0x4000_1234, 0), None);
        assert_eq!(emulated_read(0xc001_0015, 0), None);
    }

    #[test]
    fn efer_reads_the_guest_value() {
        assert_eq!(emulated_read(IA32_EFER, 0x501), Some(0x501));
    }

    #[test]
    fn tsc_adjust_reads_zero_and_accepts_writes() {
        assert_eq!(emulated_read(0x3b, 0), Some(0));
        assert!(emulated_write_accepted(0x3b, 0));
        assert!(emulated_write_accepted(0x3b, 0x1234));
        assert_eq!(emulated_read(0x3b, 0), Some(0), "writes are not applied");
    }

    #[test]
    fn machine_check_capabilities_report_no_banks() {
        assert_eq!(
            emulated_read(0x179, 0),
            Some(0),
            "MCG_CAP: 0 banks, no MCG_CTL_P"
        );
        assert_eq!(
            emulated_read(0x17a, 0),
            Some(0),
            "MCG_STATUS: nothing in progress"
        );
        assert!(!emulated_write_accepted(0x179, 0), "MCG_CAP is read-only");
        assert!(emulated_write_accepted(0x17a, 0));
        assert!(emulated_write_accepted(0x17a, 0b0111));
        assert!(!emulated_write_accepted(0x17a, 1 << 4), "reserved bits #GP");
        // No bank MSRs exist: IA32_MC0_CTL and MCG_CTL fault.
        assert_eq!(emulated_read(0x400, 0), None);
        assert_eq!(emulated_read(0x17b, 0), None);
    }

    #[test]
    fn misc_enable_has_fast_strings_and_no_bts_or_pebs() {
        assert_eq!(emulated_read(0x1a0, 0), Some(0x1801));
        assert!(emulated_write_accepted(0x1a0, 0x1801));
    }

    #[test]
    fn msrs_of_hidden_features_still_fault() {
        // IA32_XSS, IA32_ENERGY_PERF_BIAS, MSR_PLATFORM_INFO, IA32_APERF, IA32_MPERF,
        // IA32_PERF_CTL, IA32_SPEC_CTRL, IA32_ARCH_CAPABILITIES, IA32_PQR_ASSOC,
        // MSR_MISC_FEATURES_ENABLES (Linux probes it with rdmsrl_safe), IA32_DEBUGCTL.
        for msr in [
            0xda0, 0x1b0, 0xce, 0xe8, 0xe7, 0x199, 0x48, 0x10a, 0xc8f, 0x140, 0x1d9,
        ] {
            assert_eq!(emulated_read(msr, 0), None, "RDMSR {msr:#x}");
            assert!(!emulated_write_accepted(msr, 0), "WRMSR {msr:#x}");
        }
    }
}
