//! The diagnostic printed when a VM is stopped: what went wrong, the exit fields, and the
//! guest's registers.

use super::Vm;
use super::vcpu::read;
use crate::vmx::fields::VmcsField as F;

/// Print the exit fields and the guest's registers, one line each, tagged with the VM.
pub fn print_state(vm: &Vm) {
    let r = &vm.vcpu.registers.gprs;
    crate::println!(
        "VM {}:   exit reason {:#x}, qualification {:#x}, guest-physical {:#x}, guest-linear {:#x}",
        vm.name,
        read(F::ExitReason),
        read(F::ExitQualification),
        read(F::GuestPhysicalAddress),
        read(F::GuestLinearAddress)
    );
    crate::println!(
        "VM {}:   RIP {:#018x} RSP {:#018x} RFLAGS {:#x} CS {:#x} CR0 {:#x} CR3 {:#x} CR4 {:#x} EFER {:#x}",
        vm.name,
        read(F::GuestRip),
        read(F::GuestRsp),
        read(F::GuestRflags),
        read(F::GuestCsSelector),
        read(F::Cr0ReadShadow),
        read(F::GuestCr3),
        read(F::Cr4ReadShadow),
        read(F::GuestIa32Efer)
    );
    crate::println!(
        "VM {}:   RAX {:#x} RBX {:#x} RCX {:#x} RDX {:#x} RSI {:#x} RDI {:#x} RBP {:#x}",
        vm.name,
        r[0],
        r[3],
        r[1],
        r[2],
        r[6],
        r[7],
        r[5]
    );
    crate::println!(
        "VM {}:   R8 {:#x} R9 {:#x} R10 {:#x} R11 {:#x} R12 {:#x} R13 {:#x} R14 {:#x} R15 {:#x}",
        vm.name,
        r[8],
        r[9],
        r[10],
        r[11],
        r[12],
        r[13],
        r[14],
        r[15]
    );
}
