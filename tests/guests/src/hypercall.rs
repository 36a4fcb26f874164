//! The hypervisor's hypercall interface (VMCALL, Intel SDM vol. 3C §25.1.3: an unconditional VM
//! exit), as the platform contract defines it: RAX = function, RBX/RCX = arguments, the result
//! in RAX (and RBX for PING).

use core::arch::asm;

/// Function 0: RAX ← [`PING_SIGNATURE`], RBX ← [`ABI_VERSION`].
pub const PING: u64 = 0;
/// Function 1: RBX = guest-physical address, RCX = length (≤ [`CONSOLE_WRITE_MAX`]).
pub const CONSOLE_WRITE: u64 = 1;
/// Function 2: RBX = status; the VM stops.
pub const EXIT: u64 = 2;

/// PING's answer in RAX: the bytes "icroHVMV" read as a little-endian u64.
pub const PING_SIGNATURE: u64 = 0x564d_4856_6f72_6369;
/// PING's answer in RBX: the hypercall ABI version.
pub const ABI_VERSION: u64 = 1;
/// The longest buffer CONSOLE_WRITE prints.
pub const CONSOLE_WRITE_MAX: usize = 4096;
/// RAX after a function number the hypervisor does not know.
pub const UNKNOWN_FUNCTION: u64 = u64::MAX;
/// RAX after CONSOLE_WRITE of a buffer that is not guest RAM.
pub const BAD_BUFFER: u64 = u64::MAX - 1;

/// What a VMCALL returned: RAX and RBX after the exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Returned {
    pub rax: u64,
    pub rbx: u64,
}

/// Issues VMCALL with RAX = `function`, RBX = `rbx`, RCX = `rcx` and returns RAX and RBX.
///
/// # Safety
/// The hypervisor may read guest memory named by the arguments (CONSOLE_WRITE reads RBX..RBX+RCX)
/// and may end the VM; the caller must pass addresses it may let the hypervisor read.
pub unsafe fn vmcall(function: u64, rbx: u64, rcx: u64) -> Returned {
    let rax: u64;
    let rbx_out: u64;
    // SAFETY: the caller vouches for the memory the function reads. RBX is reserved by LLVM, so
    // it is swapped through a scratch register around the VMCALL and restored.
    unsafe {
        asm!(
            "xchg {scratch}, rbx",
            "vmcall",
            "xchg {scratch}, rbx",
            scratch = inout(reg) rbx => rbx_out,
            inout("rax") function => rax,
            in("rcx") rcx,
            options(nostack),
        );
    }
    Returned { rax, rbx: rbx_out }
}

/// PING: the signature and ABI version the hypervisor reports.
pub fn ping() -> Returned {
    // SAFETY: PING reads no guest memory.
    unsafe { vmcall(PING, 0, 0) }
}

/// CONSOLE_WRITE of `bytes`: RAX as the hypervisor returned it (bytes written, or an error).
pub fn console_write(bytes: &[u8]) -> u64 {
    // SAFETY: the hypervisor reads exactly the slice we borrow (identity-mapped: the virtual
    // address is the guest-physical one).
    unsafe { vmcall(CONSOLE_WRITE, bytes.as_ptr() as u64, bytes.len() as u64) }.rax
}

/// CONSOLE_WRITE of a buffer given by guest-physical address and length, which need not be
/// guest RAM (the hypervisor must refuse, not read, what is not).
pub fn console_write_raw(gpa: u64, len: u64) -> u64 {
    // SAFETY: the hypervisor only reads guest memory; whatever it reads or refuses, the guest's
    // own memory is not changed.
    unsafe { vmcall(CONSOLE_WRITE, gpa, len) }.rax
}

/// EXIT with `status`: returns only if the hypervisor ignored it.
pub fn exit(status: u64) -> Returned {
    // SAFETY: EXIT reads no guest memory.
    unsafe { vmcall(EXIT, status, 0) }
}

/// A function number outside the ABI: RAX as returned ([`UNKNOWN_FUNCTION`] expected).
pub fn call_unknown(function: u64) -> u64 {
    // SAFETY: an unknown function reads no guest memory.
    unsafe { vmcall(function, 0, 0) }.rax
}
