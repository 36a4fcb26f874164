//! The hypercall ABI (VMCALL from guest ring 0). RAX holds the function, results come back in
//! RAX (and RBX for PING); an unknown function returns `u64::MAX`.
//!
//! | RAX | name | arguments | result |
//! |---|---|---|---|
//! | 0 | `PING` | – | RAX = [`PING_SIGNATURE`], RBX = [`HYPERCALL_ABI_VERSION`] |
//! | 1 | `CONSOLE_WRITE` | RBX = guest-physical buffer, RCX = length ≤ [`MAX_CONSOLE_WRITE`] | RAX = bytes written, or [`BAD_BUFFER`] |
//! | 2 | `EXIT` | RBX = status | the VM stops with that status |
//! | 3 | `EXIT_COUNT` | RBX = basic exit reason (0–64) | RAX = exits of that reason so far, or [`BAD_REASON`] |
//!
//! VMCALL outside ring 0 raises #UD in the guest, as on a CPU without this hypervisor.

use alloc::string::String;
use alloc::vec;

use super::Flow;
use crate::vm::vcpu::{read, vector};
use crate::vm::{Vm, VmEnd};
use crate::vmx::entry::gpr;
use crate::vmx::exit_reason::ExitReason;
use crate::vmx::fields::VmcsField as F;

/// RAX after PING: "icroHVMV" read as a little-endian u64 spells the name backwards.
pub const PING_SIGNATURE: u64 = 0x564d_4856_6f72_6369;
/// The ABI's version, returned in RBX by PING.
pub const HYPERCALL_ABI_VERSION: u64 = 1;
/// The longest CONSOLE_WRITE buffer.
pub const MAX_CONSOLE_WRITE: u64 = 4096;
/// CONSOLE_WRITE's result when the buffer is not guest RAM or too long.
pub const BAD_BUFFER: u64 = u64::MAX - 1;
/// EXIT_COUNT's result for a reason number the SDM does not define.
pub const BAD_REASON: u64 = u64::MAX - 1;
/// Result of an unknown function.
pub const UNKNOWN_FUNCTION: u64 = u64::MAX;

const PING: u64 = 0;
const CONSOLE_WRITE: u64 = 1;
const EXIT: u64 = 2;
const EXIT_COUNT: u64 = 3;
/// SS access rights bits 6:5: the current privilege level.
const SS_DPL_SHIFT: u64 = 5;

/// The VMCALL exit.
pub fn handle(vm: &mut Vm) -> Flow {
    let cpl = (read(F::GuestSsAccessRights) >> SS_DPL_SHIFT) & 3;
    if cpl != 0 {
        vm.vcpu.inject_exception(vector::INVALID_OPCODE, None);
        return Flow::Resume;
    }
    let registers = vm.vcpu.registers.gprs;
    let (function, rbx, rcx) = (
        registers[gpr::RAX],
        registers[gpr::RBX],
        registers[gpr::RCX],
    );
    let result = match function {
        PING => {
            vm.vcpu.registers.gprs[gpr::RBX] = HYPERCALL_ABI_VERSION;
            PING_SIGNATURE
        }
        CONSOLE_WRITE => console_write(vm, rbx, rcx),
        EXIT => return Flow::Stop(VmEnd::Exited { status: rbx as u32 }),
        EXIT_COUNT => u16::try_from(rbx)
            .ok()
            .and_then(ExitReason::from_number)
            .map_or(BAD_REASON, |reason| vm.stats.count(reason)),
        _ => UNKNOWN_FUNCTION,
    };
    vm.vcpu.registers.gprs[gpr::RAX] = result;
    vm.vcpu.skip_instruction();
    Flow::Resume
}

fn console_write(vm: &mut Vm, gpa: u64, length: u64) -> u64 {
    if length > MAX_CONSOLE_WRITE {
        return BAD_BUFFER;
    }
    let mut bytes = vec![0; length as usize];
    if vm.platform.memory.read(gpa, &mut bytes).is_err() {
        return BAD_BUFFER;
    }
    let text = String::from_utf8_lossy(&bytes);
    for line in text.lines() {
        crate::println!("[{}] {}", vm.name, line);
    }
    length
}
