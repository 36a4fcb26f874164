//! HLT: the vCPU stops fetching instructions until an interrupt can wake it. The run loop
//! idles the host CPU (`hlt` between host ticks) while device timers keep running; a guest that
//! halts with interrupts disabled can never wake, so that VM is stopped.

use alloc::string::String;

use super::{Flow, stop};
use crate::vm::Vm;
use crate::vm::vcpu::read;
use crate::vmx::fields::VmcsField as F;

/// RFLAGS.IF.
const RFLAGS_INTERRUPT_ENABLE: u64 = 1 << 9;

/// The HLT exit.
pub fn handle(vm: &mut Vm) -> Flow {
    vm.vcpu.skip_instruction();
    if read(F::GuestRflags) & RFLAGS_INTERRUPT_ENABLE == 0 {
        return stop(String::from(
            "halted with interrupts disabled: the vCPU can never wake",
        ));
    }
    vm.halted = true;
    Flow::Resume
}
