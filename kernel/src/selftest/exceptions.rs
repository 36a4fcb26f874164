//! Exception self-tests: `int3` returns; a page fault and a triple fault are failures.

use x86_64::VirtAddr;

use super::{Context, fail};
use crate::arch::x86_64::idt;
use crate::exit::ExitStatus;
use crate::mm::paging;

/// An address no one maps: the page-fault test reads it.
pub const UNMAPPED_PROBE_ADDRESS: u64 = 0x0000_0000_dead_b000;

pub fn breakpoint_returns(_: &Context<'_>) -> ExitStatus {
    let before = idt::breakpoint_count();
    x86_64::instructions::interrupts::int3();
    x86_64::instructions::interrupts::int3();
    let handled = idt::breakpoint_count() - before;
    if handled != 2 {
        return fail(format_args!("2 breakpoints executed, {handled} handled"));
    }
    log::info!("int3 returned twice");
    ExitStatus::Success
}

pub fn page_fault_is_reported(_: &Context<'_>) -> ExitStatus {
    let address = VirtAddr::new(UNMAPPED_PROBE_ADDRESS);
    if let Some(physical) = paging::translate(address) {
        return fail(format_args!("probe address is mapped to {physical:?}"));
    }
    log::info!("reading unmapped {UNMAPPED_PROBE_ADDRESS:#x}");
    // SAFETY: deliberately faults: the handler reports the fault and ends the run, so the
    // read never completes and nothing observes its value.
    let value = unsafe { core::ptr::read_volatile(UNMAPPED_PROBE_ADDRESS as *const u64) };
    fail(format_args!(
        "read of an unmapped address returned {value:#x}"
    ))
}

pub fn triple_fault(_: &Context<'_>) -> ExitStatus {
    use x86_64::instructions::tables::{DescriptorTablePointer, lidt};
    let empty = DescriptorTablePointer {
        limit: 0,
        base: VirtAddr::new(0),
    };
    log::info!("loading an empty IDT and executing int3: expect a triple fault");
    // SAFETY: deliberately breaks the machine: with an empty IDT the int3 escalates to a
    // triple fault, which the host tool must report as a failure.
    unsafe {
        lidt(&empty);
        core::arch::asm!("int3");
    }
    fail(format_args!("survived a triple fault"))
}

pub fn hang(_: &Context<'_>) -> ExitStatus {
    log::info!("hanging on purpose");
    loop {
        x86_64::instructions::hlt();
    }
}
