//! The hypervisor's GDT: kernel code and data segments and a TSS whose interrupt stack table
//! gives the double-fault, NMI and machine-check handlers their own stacks (Intel SDM Vol. 3A,
//! 7.7 "Task management in 64-bit mode" and 6.14.5 "Interrupt stack table").

use spin::Lazy;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (0-based, as the `x86_64` crate counts) for the double-fault handler.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;
/// IST slot for the NMI handler.
pub const NMI_IST_INDEX: u16 = 1;
/// IST slot for the machine-check handler.
pub const MACHINE_CHECK_IST_INDEX: u16 = 2;
/// IST slot for the page-fault handler (a stack overflow faults on the guard page).
pub const PAGE_FAULT_IST_INDEX: u16 = 3;

const IST_STACK_SIZE: usize = 16 * 1024;
const IST_STACKS: usize = 4;

/// Stacks for the IST entries. Only the CPU writes them (through RSP on exception entry).
#[repr(align(16))]
struct IstStacks([[u8; IST_STACK_SIZE]; IST_STACKS]);
static mut IST: IstStacks = IstStacks([[0; IST_STACK_SIZE]; IST_STACKS]);

static TSS: Lazy<TaskStateSegment> = Lazy::new(|| {
    let mut tss = TaskStateSegment::new();
    for slot in 0..IST_STACKS {
        // SAFETY: only the address is taken; the stacks are never accessed through Rust.
        let base = VirtAddr::from_ptr(unsafe { core::ptr::addr_of!(IST.0[slot]) });
        tss.interrupt_stack_table[slot] = base + IST_STACK_SIZE as u64;
    }
    tss
});

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Lazy<(GlobalDescriptorTable, Selectors)> = Lazy::new(|| {
    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let tss = gdt.append(Descriptor::tss_segment(&TSS));
    (gdt, Selectors { code, data, tss })
});

/// Load the GDT, reload every segment register and load the TSS.
pub fn init() {
    GDT.0.load();
    let selectors = &GDT.1;
    // SAFETY: the selectors index descriptors of the GDT just loaded, with the right types.
    unsafe {
        CS::set_reg(selectors.code);
        DS::set_reg(selectors.data);
        ES::set_reg(selectors.data);
        SS::set_reg(selectors.data);
        load_tss(selectors.tss);
    }
}

/// The kernel code selector (the VMCS host-state CS).
pub fn code_selector() -> SegmentSelector {
    GDT.1.code
}

/// The kernel data selector (the VMCS host-state SS/DS/ES).
pub fn data_selector() -> SegmentSelector {
    GDT.1.data
}

/// The TSS selector (the VMCS host-state TR).
pub fn tss_selector() -> SegmentSelector {
    GDT.1.tss
}

/// The TSS's linear address (the VMCS host-state TR base).
pub fn tss_base() -> u64 {
    &*TSS as *const TaskStateSegment as u64
}

/// The GDT's linear address (the VMCS host-state GDTR base).
pub fn gdt_base() -> u64 {
    &GDT.0 as *const GlobalDescriptorTable as u64
}
