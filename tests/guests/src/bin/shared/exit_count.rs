//! The hypervisor's `EXIT_COUNT` hypercall (function 3 of the hypercall table in the README:
//! RBX = basic exit reason, RAX = how many exits of that reason this VM has had so far), for the
//! device-method guests that compare their port accesses with the exits they caused.

use guests::hypercall::vmcall;

/// The hypercall function number.
const EXIT_COUNT: u64 = 3;
/// Basic exit reason 30, "I/O instruction" (Intel SDM vol. 3D, Appendix C).
const REASON_IO_INSTRUCTION: u64 = 30;

/// The VM's I/O-instruction exits so far.
pub fn io_exits() -> u64 {
    // SAFETY: EXIT_COUNT reads no guest memory; it only returns a counter in RAX.
    unsafe { vmcall(EXIT_COUNT, REASON_IO_INSTRUCTION, 0) }.rax
}
