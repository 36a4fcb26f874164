//! The exit dispatcher: decode the exit reason, hand it to the handler for that reason, and
//! say whether the vCPU resumes or the VM stops. Handlers are thin: device work happens in the
//! models behind the bus.

mod control_registers;
mod cpuid;
mod halt;
mod hypercall;
mod io;
mod mmio;
mod msr;

pub use cpuid::{CpuidOverride, CpuidResult, HYPERVISOR_SIGNATURE};
pub use hypercall::{HYPERCALL_ABI_VERSION, PING_SIGNATURE};

use alloc::format;
use alloc::string::String;

use super::vcpu::{read, vector};
use super::{Vm, VmEnd};
use crate::vmx::exit_reason::{ExitReason, ExitReasonWord};
use crate::vmx::fields::VmcsField as F;

/// What happens after an exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Enter the guest again.
    Resume,
    /// The VM ends.
    Stop(VmEnd),
}

/// Handle one VM exit.
pub fn handle(vm: &mut Vm, word: ExitReasonWord) -> Flow {
    if word.entry_failure {
        let what = word
            .reason()
            .map_or("unknown entry failure", ExitReason::name);
        return stop(format!("VM entry failed: {what}"));
    }
    let Some(reason) = word.reason() else {
        return stop(format!("unknown exit reason {}", word.basic));
    };
    match reason {
        // The host handles the interrupt as soon as it enables interrupts again.
        ExitReason::ExternalInterrupt => Flow::Resume,
        // Injection happens before the next entry (see `vm::interrupts`); device timers run
        // after every exit.
        ExitReason::InterruptWindow | ExitReason::NmiWindow | ExitReason::PreemptionTimer => {
            Flow::Resume
        }
        ExitReason::ExceptionOrNmi => exception_or_nmi(vm),
        ExitReason::TripleFault => stop(String::from(
            "triple fault (the guest's exception handling failed)",
        )),
        ExitReason::Cpuid => cpuid::handle(vm),
        ExitReason::Hlt => halt::handle(vm),
        ExitReason::IoInstruction => io::handle(vm),
        ExitReason::EptViolation => mmio::handle(vm),
        ExitReason::Rdmsr => msr::read(vm),
        ExitReason::Wrmsr => msr::write(vm),
        ExitReason::CrAccess => control_registers::handle(vm),
        ExitReason::Vmcall => hypercall::handle(vm),
        ExitReason::Xsetbv => control_registers::xsetbv(vm),
        ExitReason::Invd | ExitReason::Wbinvd | ExitReason::Monitor | ExitReason::Mwait => {
            // No caches or monitors to emulate: these complete as no-ops.
            vm.vcpu.skip_instruction();
            Flow::Resume
        }
        ExitReason::Vmclear
        | ExitReason::Vmlaunch
        | ExitReason::Vmptrld
        | ExitReason::Vmptrst
        | ExitReason::Vmread
        | ExitReason::Vmresume
        | ExitReason::Vmwrite
        | ExitReason::Vmxoff
        | ExitReason::Vmxon
        | ExitReason::Invept
        | ExitReason::Invvpid
        | ExitReason::Vmfunc
        | ExitReason::Getsec => {
            // The guest has no VMX (CPUID says so): these are undefined instructions for it.
            vm.vcpu.inject_exception(vector::INVALID_OPCODE, None);
            Flow::Resume
        }
        other => stop(format!("unhandled exit: {}", other.name())),
    }
}

/// With an empty exception bitmap only NMIs exit here: they belong to the host, which has no
/// NMI sources of its own to serve, so the guest simply continues.
fn exception_or_nmi(vm: &mut Vm) -> Flow {
    const INTERRUPTION_TYPE_MASK: u64 = 7 << 8;
    const TYPE_NMI: u64 = 2 << 8;
    let info = read(F::ExitInterruptionInfo);
    if info & INTERRUPTION_TYPE_MASK == TYPE_NMI {
        log::warn!("VM {}: NMI during guest execution", vm.name);
        return Flow::Resume;
    }
    stop(format!(
        "unexpected exception exit, interruption info {info:#x}"
    ))
}

/// Stop the VM: `what` happened (the launcher prints it with the guest's registers and exit
/// fields, `vm::diagnostic`).
pub fn stop(what: String) -> Flow {
    Flow::Stop(VmEnd::Stopped(what))
}
