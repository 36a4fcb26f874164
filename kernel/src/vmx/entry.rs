//! Entering the guest and coming back: VMLAUNCH/VMRESUME with the guest's general-purpose
//! registers loaded, and the host-RIP stub that saves them on a VM exit (Intel SDM Vol. 3C,
//! 28 "VM entries", 29 "VM exits": RSP and RIP come from the VMCS host-state area, every other
//! general-purpose register keeps the guest's value).
//!
//! `hv_vmx_run` pushes the host's callee-saved registers and the register-file pointer, writes
//! the stack pointer into HOST_RSP, loads the guest registers and launches or resumes. On a VM
//! exit the CPU jumps to `hv_vmx_exit` with RSP = HOST_RSP, which stores the guest registers
//! through the saved pointer, restores the host registers and returns 0 from `hv_vmx_run`. A
//! failed VMLAUNCH/VMRESUME falls through and returns RFLAGS (CF or ZF set).

use super::fields::VmcsField;
use super::vmcs::{self, VmFail};

/// The guest's general-purpose registers in the architectural order (RAX, RCX, RDX, RBX, RSP,
/// RBP, RSI, RDI, R8–R15). The RSP slot is not loaded by the entry code: the guest's RSP lives
/// in the VMCS; callers mirror it for the instruction emulator.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GuestRegisters {
    pub gprs: [u64; 16],
}

/// Register numbers of [`GuestRegisters::gprs`].
pub mod gpr {
    pub const RAX: usize = 0;
    pub const RCX: usize = 1;
    pub const RDX: usize = 2;
    pub const RBX: usize = 3;
    pub const RSP: usize = 4;
    pub const RBP: usize = 5;
    pub const RSI: usize = 6;
    pub const RDI: usize = 7;
}

core::arch::global_asm!(
    ".global hv_vmx_run",
    "hv_vmx_run:",
    // rdi = *mut GuestRegisters, rsi = 1 to VMRESUME, 0 to VMLAUNCH.
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "push rdi",
    "mov rax, {host_rsp}",
    "vmwrite rax, rsp",
    "test rsi, rsi",
    "mov rax, [rdi + 0*8]",
    "mov rcx, [rdi + 1*8]",
    "mov rdx, [rdi + 2*8]",
    "mov rbx, [rdi + 3*8]",
    "mov rbp, [rdi + 5*8]",
    "mov rsi, [rdi + 6*8]",
    "mov r8,  [rdi + 8*8]",
    "mov r9,  [rdi + 9*8]",
    "mov r10, [rdi + 10*8]",
    "mov r11, [rdi + 11*8]",
    "mov r12, [rdi + 12*8]",
    "mov r13, [rdi + 13*8]",
    "mov r14, [rdi + 14*8]",
    "mov r15, [rdi + 15*8]",
    "mov rdi, [rdi + 7*8]",
    "jnz 2f",
    "vmlaunch",
    "jmp 3f",
    "2:",
    "vmresume",
    "3:",
    // Only reached when the entry failed: return RFLAGS, host registers restored.
    "pushfq",
    "pop rax",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    "",
    ".global hv_vmx_exit",
    "hv_vmx_exit:",
    // RSP = HOST_RSP: the register-file pointer is on top of the stack.
    "push rdi",
    "mov rdi, [rsp + 8]",
    "mov [rdi + 0*8], rax",
    "mov [rdi + 1*8], rcx",
    "mov [rdi + 2*8], rdx",
    "mov [rdi + 3*8], rbx",
    "mov [rdi + 5*8], rbp",
    "mov [rdi + 6*8], rsi",
    "mov [rdi + 8*8], r8",
    "mov [rdi + 9*8], r9",
    "mov [rdi + 10*8], r10",
    "mov [rdi + 11*8], r11",
    "mov [rdi + 12*8], r12",
    "mov [rdi + 13*8], r13",
    "mov [rdi + 14*8], r14",
    "mov [rdi + 15*8], r15",
    "pop rax",
    "mov [rdi + 7*8], rax",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "xor eax, eax",
    "ret",
    host_rsp = const VmcsField::HostRsp as u32,
);

unsafe extern "C" {
    fn hv_vmx_run(registers: *mut GuestRegisters, resume: u64) -> u64;
    fn hv_vmx_exit();
}

/// The address the VMCS's HOST_RIP must hold.
pub fn exit_stub_address() -> u64 {
    hv_vmx_exit as *const () as u64
}

/// Enter the guest of the current VMCS and return at its next VM exit.
///
/// # Safety
/// A VMCS must be current, fully set up (host state with HOST_RIP = [`exit_stub_address`],
/// guest state, controls), and interrupts must be disabled; `resume` must say whether this
/// VMCS was launched before (VMRESUME) or is clear (VMLAUNCH).
pub unsafe fn enter(registers: &mut GuestRegisters, resume: bool) -> Result<(), VmFail> {
    // SAFETY: forwarded from the caller; `registers` outlives the call and the asm restores
    // every callee-saved register before returning.
    let flags = unsafe { hv_vmx_run(registers, u64::from(resume)) };
    if flags == 0 {
        Ok(())
    } else {
        vmcs::check(flags)
    }
}
