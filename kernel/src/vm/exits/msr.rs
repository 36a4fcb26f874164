//! RDMSR/WRMSR exits (only MSRs the MSR bitmap intercepts arrive here): a small set is
//! emulated, EFER goes to the VMCS, everything else raises #GP(0) in the guest as an unknown
//! MSR does on hardware.

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
/// IA32_BIOS_SIGN_ID (microcode revision).
const IA32_BIOS_SIGN_ID: u32 = 0x8b;
/// IA32_MTRRCAP.
const IA32_MTRRCAP: u32 = 0xfe;
/// IA32_MISC_ENABLE.
const IA32_MISC_ENABLE: u32 = 0x1a0;
/// IA32_MTRR_DEF_TYPE.
const IA32_MTRR_DEF_TYPE: u32 = 0x2ff;

/// FEATURE_CONTROL as the guest reads it: locked, VMX off (the guest has no VMX).
pub const GUEST_FEATURE_CONTROL: u64 = 1;
/// APIC_BASE as the guest reads it: the default base, enabled, bootstrap processor.
pub const GUEST_APIC_BASE: u64 = 0xfee0_0000 | (1 << 11) | (1 << 8);
/// MISC_ENABLE as the guest reads it: fast strings on.
pub const GUEST_MISC_ENABLE: u64 = 1;
/// EFER bits a guest may set: SCE (0), LME (8), LMA (10, ignored on write), NXE (11).
const EFER_WRITABLE: u64 = (1 << 0) | EFER_LME | EFER_LMA | (1 << 11);

/// What the guest reads from `msr`, or `None` for #GP.
pub fn emulated_read(msr: u32, efer: u64) -> Option<u64> {
    Some(match msr {
        IA32_EFER => efer,
        IA32_FEATURE_CONTROL => GUEST_FEATURE_CONTROL,
        IA32_APIC_BASE => GUEST_APIC_BASE,
        IA32_MISC_ENABLE => GUEST_MISC_ENABLE,
        IA32_PLATFORM_ID | IA32_BIOS_SIGN_ID | IA32_MTRRCAP | IA32_MTRR_DEF_TYPE => 0,
        _ => return None,
    })
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
        // Accepted and ignored: the guest's view of these does not change what we emulate.
        IA32_TSC | IA32_APIC_BASE | IA32_MISC_ENABLE | IA32_BIOS_SIGN_ID => true,
        _ => false,
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
}
