//! The IDT: a handler for every architectural exception (Intel SDM Vol. 3A, 6.15 "Exception and
//! interrupt reference"), the local APIC's timer, error and spurious vectors, and the legacy
//! PIC's range (masked, so only spurious interrupts can arrive there).
//!
//! Every fault prints its vector, name, error code, RIP and CR2 and ends the run with
//! [`ExitStatus::CpuException`]: a fault is a reported failure, never a triple fault.
//! `int3` (#BP) is the one exception that returns: it is counted and logged.

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Lazy;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};

use super::gdt;
use super::lapic;
use crate::exit::{ExitStatus, exit};

/// First vector of the remapped (and masked) legacy 8259 PIC pair.
pub const LEGACY_PIC_BASE_VECTOR: u8 = 0x20;
/// Number of legacy PIC vectors (two chips of eight lines).
pub const LEGACY_PIC_VECTORS: u8 = 16;
/// The local APIC timer's vector: the periodic device tick.
pub const APIC_TIMER_VECTOR: u8 = 0x30;
/// The local APIC error vector.
pub const APIC_ERROR_VECTOR: u8 = 0xfe;
/// The local APIC spurious-interrupt vector (its low four bits must be ones on old APICs).
pub const APIC_SPURIOUS_VECTOR: u8 = 0xff;

static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);
static STRAY_LEGACY: AtomicU64 = AtomicU64::new(0);

/// How many `int3` breakpoints were handled.
pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::Relaxed)
}

/// How many spurious APIC interrupts arrived.
pub fn spurious_count() -> u64 {
    SPURIOUS.load(Ordering::Relaxed)
}

/// How many interrupts arrived on the masked legacy PIC's vectors.
pub fn stray_legacy_count() -> u64 {
    STRAY_LEGACY.load(Ordering::Relaxed)
}

fn report(vector: u8, name: &str, error_code: Option<u64>, frame: &InterruptStackFrame) -> ! {
    use core::fmt::Write as _;
    let mut out = crate::console::emergency_writer();
    let cr2 = Cr2::read_raw();
    let _ = writeln!(out, "\n!!! CPU exception {vector} ({name})");
    match error_code {
        Some(code) => {
            let _ = writeln!(out, "    error code: {code:#x}");
        }
        None => {
            let _ = writeln!(out, "    error code: none");
        }
    }
    let _ = writeln!(
        out,
        "    RIP: {:#018x}  CS: {:#x}  RFLAGS: {:#x}",
        frame.instruction_pointer.as_u64(),
        frame.code_segment.0,
        frame.cpu_flags.bits()
    );
    let _ = writeln!(
        out,
        "    RSP: {:#018x}  SS: {:#x}  CR2: {cr2:#018x}",
        frame.stack_pointer.as_u64(),
        frame.stack_segment.0
    );
    exit(ExitStatus::CpuException)
}

macro_rules! fault {
    ($handler:ident, $vector:expr, $name:expr) => {
        extern "x86-interrupt" fn $handler(frame: InterruptStackFrame) {
            report($vector, $name, None, &frame)
        }
    };
}

macro_rules! fault_with_code {
    ($handler:ident, $vector:expr, $name:expr) => {
        extern "x86-interrupt" fn $handler(frame: InterruptStackFrame, code: u64) {
            report($vector, $name, Some(code), &frame)
        }
    };
}

fault!(divide_error, 0, "#DE divide error");
fault!(debug, 1, "#DB debug");
fault!(non_maskable_interrupt, 2, "NMI");
fault!(overflow, 4, "#OF overflow");
fault!(bound_range_exceeded, 5, "#BR bound range exceeded");
fault!(invalid_opcode, 6, "#UD invalid opcode");
fault!(device_not_available, 7, "#NM device not available");
fault_with_code!(invalid_tss, 10, "#TS invalid TSS");
fault_with_code!(segment_not_present, 11, "#NP segment not present");
fault_with_code!(stack_segment_fault, 12, "#SS stack-segment fault");
fault_with_code!(general_protection_fault, 13, "#GP general protection");
fault!(x87_floating_point, 16, "#MF x87 floating point");
fault_with_code!(alignment_check, 17, "#AC alignment check");
fault!(simd_floating_point, 19, "#XM SIMD floating point");
fault!(virtualization, 20, "#VE virtualization exception");
fault_with_code!(control_protection, 21, "#CP control protection");
fault!(hypervisor_injection, 28, "#HV hypervisor injection");
fault_with_code!(vmm_communication, 29, "#VC VMM communication");
fault_with_code!(security_exception, 30, "#SX security exception");

extern "x86-interrupt" fn breakpoint(frame: InterruptStackFrame) {
    BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
    log::info!(
        "#BP breakpoint at {:#x}, returning",
        frame.instruction_pointer.as_u64()
    );
}

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, code: PageFaultErrorCode) {
    report(14, "#PF page fault", Some(code.bits()), &frame)
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, code: u64) -> ! {
    report(8, "#DF double fault", Some(code), &frame)
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    report(18, "#MC machine check", None, &frame)
}

extern "x86-interrupt" fn apic_timer(_frame: InterruptStackFrame) {
    lapic::on_timer_tick();
    lapic::end_of_interrupt();
}

extern "x86-interrupt" fn apic_error(_frame: InterruptStackFrame) {
    lapic::on_error();
    lapic::end_of_interrupt();
}

extern "x86-interrupt" fn apic_spurious(_frame: InterruptStackFrame) {
    // A spurious interrupt is not in service: no EOI (SDM Vol. 3A, 11.9).
    SPURIOUS.fetch_add(1, Ordering::Relaxed);
}

extern "x86-interrupt" fn stray_legacy(_frame: InterruptStackFrame) {
    // The legacy PIC is masked; what arrives here is its spurious IRQ 7/15, which needs no EOI.
    STRAY_LEGACY.fetch_add(1, Ordering::Relaxed);
}

static IDT: Lazy<InterruptDescriptorTable> = Lazy::new(|| {
    let mut idt = InterruptDescriptorTable::new();
    idt.divide_error.set_handler_fn(divide_error);
    idt.debug.set_handler_fn(debug);
    idt.breakpoint.set_handler_fn(breakpoint);
    idt.overflow.set_handler_fn(overflow);
    idt.bound_range_exceeded
        .set_handler_fn(bound_range_exceeded);
    idt.invalid_opcode.set_handler_fn(invalid_opcode);
    idt.device_not_available
        .set_handler_fn(device_not_available);
    idt.invalid_tss.set_handler_fn(invalid_tss);
    idt.segment_not_present.set_handler_fn(segment_not_present);
    idt.stack_segment_fault.set_handler_fn(stack_segment_fault);
    idt.general_protection_fault
        .set_handler_fn(general_protection_fault);
    idt.x87_floating_point.set_handler_fn(x87_floating_point);
    idt.alignment_check.set_handler_fn(alignment_check);
    idt.simd_floating_point.set_handler_fn(simd_floating_point);
    idt.virtualization.set_handler_fn(virtualization);
    idt.cp_protection_exception
        .set_handler_fn(control_protection);
    idt.hv_injection_exception
        .set_handler_fn(hypervisor_injection);
    idt.vmm_communication_exception
        .set_handler_fn(vmm_communication);
    idt.security_exception.set_handler_fn(security_exception);
    // SAFETY: the indices name IST slots that `gdt::init` filled with dedicated stacks in
    // the TSS loaded before this IDT.
    unsafe {
        idt.double_fault
            .set_handler_fn(double_fault)
            .set_stack_index(gdt::DOUBLE_FAULT_IST_INDEX);
        idt.non_maskable_interrupt
            .set_handler_fn(non_maskable_interrupt)
            .set_stack_index(gdt::NMI_IST_INDEX);
        idt.machine_check
            .set_handler_fn(machine_check)
            .set_stack_index(gdt::MACHINE_CHECK_IST_INDEX);
        idt.page_fault
            .set_handler_fn(page_fault)
            .set_stack_index(gdt::PAGE_FAULT_IST_INDEX);
    }
    for line in 0..LEGACY_PIC_VECTORS {
        idt[LEGACY_PIC_BASE_VECTOR + line].set_handler_fn(stray_legacy);
    }
    idt[APIC_TIMER_VECTOR].set_handler_fn(apic_timer);
    idt[APIC_ERROR_VECTOR].set_handler_fn(apic_error);
    idt[APIC_SPURIOUS_VECTOR].set_handler_fn(apic_spurious);
    idt
});

/// Load the IDT (after [`gdt::init`]).
pub fn init() {
    IDT.load();
}
