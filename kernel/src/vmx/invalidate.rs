//! INVEPT and INVVPID: dropping cached translations when a VM's EPT or VPID is (re)used or its
//! mappings change (Intel SDM Vol. 3C, 29.4.3 "Invalidating cached mappings"; instruction
//! reference for INVEPT/INVVPID in Vol. 2).

use super::vmcs::{VmFail, check};

/// INVEPT type 1: single context (one EPTP).
const INVEPT_SINGLE_CONTEXT: u64 = 1;
/// INVEPT type 2: all contexts.
const INVEPT_ALL_CONTEXTS: u64 = 2;
/// INVVPID type 1: single context (one VPID).
const INVVPID_SINGLE_CONTEXT: u64 = 1;

/// The 128-bit INVEPT/INVVPID descriptor.
#[repr(C, align(16))]
struct Descriptor {
    low: u64,
    high: u64,
}

/// Invalidate the guest-physical and combined mappings of one EPT (or of all, when the CPU
/// lacks the single-context type).
pub fn invept(eptp: u64, single_context_supported: bool) -> Result<(), VmFail> {
    let (kind, descriptor) = if single_context_supported {
        (INVEPT_SINGLE_CONTEXT, Descriptor { low: eptp, high: 0 })
    } else {
        (INVEPT_ALL_CONTEXTS, Descriptor { low: 0, high: 0 })
    };
    let flags: u64;
    // SAFETY: INVEPT only drops TLB/paging-structure cache entries; the descriptor is a valid
    // 16-byte aligned structure on the stack for the duration of the instruction.
    unsafe {
        core::arch::asm!(
            "invept {kind}, [{descriptor}]",
            "pushfq",
            "pop {flags}",
            kind = in(reg) kind,
            descriptor = in(reg) &descriptor,
            flags = out(reg) flags,
        );
    }
    check(flags)
}

/// Invalidate the linear and combined mappings tagged with `vpid`.
pub fn invvpid(vpid: u16) -> Result<(), VmFail> {
    let descriptor = Descriptor {
        low: u64::from(vpid),
        high: 0,
    };
    let flags: u64;
    // SAFETY: as for INVEPT: only cached translations for this VPID are dropped.
    unsafe {
        core::arch::asm!(
            "invvpid {kind}, [{descriptor}]",
            "pushfq",
            "pop {flags}",
            kind = in(reg) INVVPID_SINGLE_CONTEXT,
            descriptor = in(reg) &descriptor,
            flags = out(reg) flags,
        );
    }
    check(flags)
}
