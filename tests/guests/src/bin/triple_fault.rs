//! Crash containment: a guest that runs for a while (so that the other VMs of its machine are
//! running too) and then triple-faults. It loads an IDT with limit 0 and executes `int3`: the
//! breakpoint cannot be delivered (#GP), nor can the #GP (#DF), nor the #DF — a triple fault,
//! which under VT-x is a VM exit (basic reason 2, Intel SDM vol. 3C §26.2 and §28.2). The
//! hypervisor must stop this VM and report it, and the others must go on.

#![no_std]
#![no_main]

use core::arch::asm;

use guests::interrupts::spin_hint;
use guests::{BootInfo, STATUS_FAILURE, entry, println};

entry!(main);

/// `pause` iterations before the fault: tens of millions of emulated instructions, several
/// scheduler slices.
const SPIN_ITERATIONS: u64 = 500_000;

/// The operand of `lidt`: limit and base (Intel SDM vol. 3A §6.10).
#[repr(C, packed)]
struct DescriptorTablePointer {
    limit: u16,
    base: u64,
}

/// An IDT that holds no descriptor at all.
static EMPTY_IDT: DescriptorTablePointer = DescriptorTablePointer { limit: 0, base: 0 };

fn main(_boot: BootInfo) -> u32 {
    println!("running {SPIN_ITERATIONS} spins, then a triple fault");
    for _ in 0..SPIN_ITERATIONS {
        spin_hint();
    }
    println!("loading an empty IDT and raising #BP");
    // SAFETY: deliberately ends the guest: with an empty IDT the `int3` cannot be delivered and
    // the CPU shuts down (a VM exit). Should it return, nothing of Rust's state was changed.
    unsafe {
        asm!(
            "lidt [{pointer}]",
            "int3",
            pointer = in(reg) &raw const EMPTY_IDT,
            options(nostack, readonly),
        );
    }
    println!("the triple fault returned: the VM was not stopped");
    STATUS_FAILURE
}
