//! Control-register exits (SDM Vol. 3C, table 28-3): the guest writes a CR0/CR4 bit the
//! hypervisor owns (CR0.NE, CR4.VMXE), or executes CLTS/LMSW. The read shadows keep what the
//! guest asked for; the real registers keep the bits VMX needs. Turning paging on or off with
//! EFER.LME set switches long mode (EFER.LMA and the "IA-32e mode guest" entry control). Also
//! XSETBV.

use alloc::format;

use super::{Flow, stop};
use crate::vm::Vm;
use crate::vm::vcpu::{read, vector};
use crate::vm::vmcs_setup::{CR0_PE, CR0_PG, CR4_PAE, CR4_VMXE, EFER_LMA, EFER_LME};
use crate::vmx::caps::EntryControls;
use crate::vmx::entry::gpr;
use crate::vmx::fields::VmcsField as F;
use crate::vmx::vmcs;

/// Qualification bits 3:0: the control register.
const CR_NUMBER_MASK: u64 = 0xf;
/// Bits 5:4: access type.
const ACCESS_TYPE_SHIFT: u64 = 4;
const MOV_TO_CR: u64 = 0;
const CLTS: u64 = 2;
const LMSW: u64 = 3;
/// Bits 11:8: the general-purpose register.
const GPR_SHIFT: u64 = 8;
/// Bits 31:16: LMSW source data.
const LMSW_DATA_SHIFT: u64 = 16;
/// CR0.TS.
const CR0_TS: u64 = 1 << 3;
/// CR0.NW and CR0.CD.
const CR0_NW: u64 = 1 << 29;
const CR0_CD: u64 = 1 << 30;
/// CR0 bits LMSW can change (PE, MP, EM, TS).
const LMSW_BITS: u64 = 0xf;
/// CR0 bits that exist (PE MP EM TS ET NE, WP, AM, NW CD PG).
const CR0_DEFINED: u64 = 0x3f | (1 << 16) | (1 << 18) | CR0_NW | CR0_CD | CR0_PG;
/// XCR0 bit 0: x87 state, which must always be enabled.
const XCR0_X87: u64 = 1 << 0;

/// The control-register access exit.
pub fn handle(vm: &mut Vm) -> Flow {
    let qualification = read(F::ExitQualification);
    let register = qualification & CR_NUMBER_MASK;
    let value = |vm: &Vm| {
        let index = ((qualification >> GPR_SHIFT) & 0xf) as usize;
        if index == gpr::RSP {
            read(F::GuestRsp)
        } else {
            vm.vcpu.registers.gprs[index]
        }
    };
    let accepted = match ((qualification >> ACCESS_TYPE_SHIFT) & 3, register) {
        (MOV_TO_CR, 0) => set_cr0(value(vm)),
        (MOV_TO_CR, 4) => set_cr4(vm, value(vm)),
        (CLTS, _) => set_cr0(read(F::Cr0ReadShadow) & !CR0_TS),
        (LMSW, _) => {
            let old = read(F::Cr0ReadShadow);
            let data = (qualification >> LMSW_DATA_SHIFT) & LMSW_BITS;
            // LMSW can set PE but never clear it.
            set_cr0((old & !LMSW_BITS) | data | (old & CR0_PE))
        }
        (access, register) => {
            return stop(format!("unexpected CR{register} access type {access}"));
        }
    };
    if accepted {
        vm.vcpu.skip_instruction();
    } else {
        vm.vcpu
            .inject_exception(vector::GENERAL_PROTECTION, Some(0));
    }
    Flow::Resume
}

/// MOV to CR0: checks as the SDM's MOV CR page; false means #GP.
fn set_cr0(value: u64) -> bool {
    let reserved = value & !CR0_DEFINED != 0;
    let paging_without_protection = value & CR0_PG != 0 && value & CR0_PE == 0;
    let no_write_without_cache_disable = value & CR0_NW != 0 && value & CR0_CD == 0;
    let efer = read(F::GuestIa32Efer);
    let long_mode_without_pae =
        value & CR0_PG != 0 && efer & EFER_LME != 0 && read(F::Cr4ReadShadow) & CR4_PAE == 0;
    if reserved
        || paging_without_protection
        || no_write_without_cache_disable
        || long_mode_without_pae
    {
        return false;
    }
    let Some(caps) = crate::vm::capabilities() else {
        return false;
    };
    let real = (value | (caps.cr0_fixed0 & !(CR0_PE | CR0_PG))) & caps.cr0_fixed1;
    vmcs::write(F::Cr0ReadShadow, value).is_ok()
        && vmcs::write(F::GuestCr0, real).is_ok()
        && update_long_mode_active()
}

/// MOV to CR4: bits the CPU cannot hold in VMX operation (other than VMXE, which we hide) #GP.
fn set_cr4(_vm: &mut Vm, value: u64) -> bool {
    let Some(caps) = crate::vm::capabilities() else {
        return false;
    };
    if value & CR4_VMXE != 0 || value & !caps.cr4_fixed1 != 0 {
        return false;
    }
    let in_long_mode = read(F::GuestIa32Efer) & EFER_LMA != 0;
    if in_long_mode && value & CR4_PAE == 0 {
        return false;
    }
    vmcs::write(F::Cr4ReadShadow, value).is_ok()
        && vmcs::write(F::GuestCr4, caps.fix_cr4(value)).is_ok()
}

/// EFER.LMA = EFER.LME && CR0.PG, mirrored in the "IA-32e mode guest" entry control.
pub fn update_long_mode_active() -> bool {
    let efer = read(F::GuestIa32Efer);
    let active = efer & EFER_LME != 0 && read(F::Cr0ReadShadow) & CR0_PG != 0;
    let new_efer = if active {
        efer | EFER_LMA
    } else {
        efer & !EFER_LMA
    };
    let entry = read(F::EntryControls);
    let ia32e = u64::from(EntryControls::IA32E_MODE_GUEST.bits());
    let new_entry = if active {
        entry | ia32e
    } else {
        entry & !ia32e
    };
    vmcs::write(F::GuestIa32Efer, new_efer).is_ok()
        && vmcs::write(F::EntryControls, new_entry).is_ok()
}

/// XSETBV: ECX = 0 selects XCR0; the value must keep x87 on and ask only for state components
/// the CPU supports (CPUID 0xD.0), else #GP.
pub fn xsetbv(vm: &mut Vm) -> Flow {
    let registers = &vm.vcpu.registers.gprs;
    let index = registers[gpr::RCX] as u32;
    let value = (registers[gpr::RDX] << 32) | (registers[gpr::RAX] & 0xffff_ffff);
    let leaf = core::arch::x86_64::__cpuid_count(0xd, 0);
    let supported = (u64::from(leaf.edx) << 32) | u64::from(leaf.eax);
    if index != 0 || value & XCR0_X87 == 0 || value & !supported != 0 {
        vm.vcpu
            .inject_exception(vector::GENERAL_PROTECTION, Some(0));
        return Flow::Resume;
    }
    // SAFETY: the value passed the architectural checks above and the hypervisor enabled
    // CR4.OSXSAVE when it started VMs; the hypervisor itself uses no extended state
    // (soft-float target), so XCR0 only affects what the guest saves and restores.
    unsafe { x86_64::registers::xcontrol::XCr0::write_raw(value) };
    vm.vcpu.skip_instruction();
    Flow::Resume
}
