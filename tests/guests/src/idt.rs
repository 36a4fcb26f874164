//! A minimal interrupt descriptor table for the test guests (Intel SDM vol. 3A §6.10–6.14):
//! one 64-bit interrupt gate per exception vector 0–31, every gate entering a small stub that
//! pushes the vector (and a zero error code where the CPU pushes none) and joins a common
//! handler; and one per external-interrupt vector 0x20–0x3F, entering a registered handler.
//!
//! # Expected faults
//! A test that expects an instruction to fault (RDMSR of an unknown MSR must raise #GP) runs it
//! through a probe such as [`try_rdmsr`]. The probe stores the address just past the
//! instruction in a recovery slot; if the instruction faults, the common handler records the
//! vector and error code, clears the slot and returns (IRETQ) to that address, skipping the
//! instruction. The probe then reports [`Fault`] instead of the value.
//!
//! # Unexpected faults
//! With the recovery slot empty, the handler prints the vector, error code, RIP, CS, RFLAGS,
//! RSP and CR2 and exits the VM with [`crate::STATUS_EXCEPTION`].
//!
//! # External interrupts
//! Vectors [`EXTERNAL_VECTOR_BASE`]`..+`[`EXTERNAL_VECTORS`] (0x20–0x3F: 0x20–0x2F where the
//! guests put the 8259A pair, master 0x20–0x27 and slave 0x28–0x2F; 0x30–0x3F for the local
//! APIC's sources, [`APIC_VECTOR_BASE`]) have gates too. Their stubs save every
//! caller-saved register (the kit is built soft-float: no vector registers to save), align the
//! stack and call the handler [`set_handler`] installed for the vector, with the vector as its
//! argument, then IRETQ. The gates are interrupt gates, so a handler runs with IF = 0; it must
//! send the controller its EOI itself. A vector without a handler is reported like an
//! unexpected exception.

use core::arch::{asm, naked_asm};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::println;

/// Exception vectors the IDT covers (the architecturally defined ones, 0–31).
pub const EXCEPTION_VECTORS: usize = 32;
/// The first external-interrupt vector with a gate (IRQ 0 with the PIC at 0x20).
pub const EXTERNAL_VECTOR_BASE: u8 = 0x20;
/// External-interrupt vectors with a gate: 16 for the 8259A pair's inputs, then 16 for the
/// local APIC's (timer, IPIs, I/O APIC routes, spurious).
pub const EXTERNAL_VECTORS: usize = 32;
/// The first vector the APIC guests use (after the 8259A pair's 16).
pub const APIC_VECTOR_BASE: u8 = 0x30;
/// Gates in the IDT: the exceptions, then the external vectors.
const IDT_VECTORS: usize = EXCEPTION_VECTORS + EXTERNAL_VECTORS;
/// #UD, invalid opcode.
pub const VECTOR_UD: u8 = 6;
/// #GP, general protection.
pub const VECTOR_GP: u8 = 13;
/// #PF, page fault.
pub const VECTOR_PF: u8 = 14;

/// Gate type and attributes: present, DPL 0, 64-bit interrupt gate (type 0xE).
const GATE_PRESENT_INTERRUPT: u64 = 0x8E;
/// Bytes per IDT entry in long mode.
const GATE_BYTES: usize = 16;
/// `FAULT_VECTOR` while no fault has been recorded.
const NO_FAULT: u64 = u64::MAX;

/// The IDT itself: two quadwords per gate, written once by [`install`].
static IDT: [AtomicU64; IDT_VECTORS * 2] = [const { AtomicU64::new(0) }; IDT_VECTORS * 2];
/// The handler of each external vector (a `fn(u8)` cast to a pointer), null if none.
static HANDLERS: [AtomicPtr<()>; EXTERNAL_VECTORS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; EXTERNAL_VECTORS];
/// Where the handler resumes after an expected fault; 0 = none expected.
static RECOVERY_RIP: AtomicU64 = AtomicU64::new(0);
/// Vector of the last expected fault, or [`NO_FAULT`].
static FAULT_VECTOR: AtomicU64 = AtomicU64::new(NO_FAULT);
/// Error code of the last expected fault (0 for vectors without one).
static FAULT_ERROR: AtomicU64 = AtomicU64::new(0);

/// A handler for an external-interrupt vector: called with the vector, IF = 0.
pub type Handler = fn(u8);

/// [`set_handler`] was given a vector without an external-interrupt gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotExternal(pub u8);

/// An exception an instruction raised under a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The exception vector (13 for #GP).
    pub vector: u8,
    /// The error code the CPU pushed (0 where the vector has none).
    pub error_code: u64,
}

/// What the stubs leave on the stack for the common handler, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct ExceptionFrame {
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// The IDTR operand of LIDT.
#[repr(C, packed)]
struct Idtr {
    limit: u16,
    base: u64,
}

/// Whether the CPU pushes an error code for `vector` (SDM vol. 3A table 6-1: #DF, #TS, #NP,
/// #SS, #GP, #PF, #AC, #CP, #VC, #SX).
const fn pushes_error_code(vector: usize) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Defines one entry stub per vector and the table of their addresses.
macro_rules! stubs {
    ($($vector:literal => $name:ident),* $(,)?) => {
        $(
            #[unsafe(naked)]
            extern "sysv64" fn $name() {
                naked_asm!(
                    ".if {has_error} == 0",
                    "push 0",
                    ".endif",
                    "push {vector}",
                    "jmp {common}",
                    has_error = const pushes_error_code($vector) as u8,
                    vector = const $vector,
                    common = sym common_handler,
                )
            }
        )*
        /// The entry stub of every vector, in vector order.
        fn stub_addresses() -> [u64; EXCEPTION_VECTORS] {
            [$($name as extern "sysv64" fn() as usize as u64),*]
        }
    };
}

stubs! {
    0 => stub0, 1 => stub1, 2 => stub2, 3 => stub3, 4 => stub4, 5 => stub5, 6 => stub6,
    7 => stub7, 8 => stub8, 9 => stub9, 10 => stub10, 11 => stub11, 12 => stub12,
    13 => stub13, 14 => stub14, 15 => stub15, 16 => stub16, 17 => stub17, 18 => stub18,
    19 => stub19, 20 => stub20, 21 => stub21, 22 => stub22, 23 => stub23, 24 => stub24,
    25 => stub25, 26 => stub26, 27 => stub27, 28 => stub28, 29 => stub29, 30 => stub30,
    31 => stub31,
}

/// Defines one entry stub per external vector and the table of their addresses.
macro_rules! external_stubs {
    ($($vector:literal => $name:ident),* $(,)?) => {
        $(
            #[unsafe(naked)]
            extern "sysv64" fn $name() {
                naked_asm!(
                    "push {vector}",
                    "jmp {common}",
                    vector = const $vector,
                    common = sym external_common,
                )
            }
        )*
        /// The entry stub of every external vector, in vector order.
        fn external_stub_addresses() -> [u64; EXTERNAL_VECTORS] {
            [$($name as extern "sysv64" fn() as usize as u64),*]
        }
    };
}

external_stubs! {
    32 => ext32, 33 => ext33, 34 => ext34, 35 => ext35, 36 => ext36, 37 => ext37,
    38 => ext38, 39 => ext39, 40 => ext40, 41 => ext41, 42 => ext42, 43 => ext43,
    44 => ext44, 45 => ext45, 46 => ext46, 47 => ext47, 48 => ext48, 49 => ext49,
    50 => ext50, 51 => ext51, 52 => ext52, 53 => ext53, 54 => ext54, 55 => ext55,
    56 => ext56, 57 => ext57, 58 => ext58, 59 => ext59, 60 => ext60, 61 => ext61,
    62 => ext62, 63 => ext63,
}

/// The common path of the external vectors. Stack on entry: vector, then the CPU's frame
/// (RIP, CS, RFLAGS, RSP, SS). Saves the nine caller-saved registers, calls
/// [`dispatch_external`] on a 16-byte aligned stack (RBP, callee-saved, keeps the unaligned
/// one), restores and returns.
#[unsafe(naked)]
extern "sysv64" fn external_common() {
    naked_asm!(
        "push rax",
        "push rcx",
        "push rdx",
        "push rsi",
        "push rdi",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        // [rsp + 72]: the vector.
        "mov rdi, qword ptr [rsp + 72]",
        "push rbp",
        "mov rbp, rsp",
        "and rsp, -16",
        "cld",
        "call {dispatch}",
        "mov rsp, rbp",
        "pop rbp",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rax",
        "add rsp, 8",
        "iretq",
        dispatch = sym dispatch_external,
    )
}

/// Calls the handler of `vector`, or reports the interrupt and ends the VM if it has none.
extern "sysv64" fn dispatch_external(vector: u64) {
    let handler = usize::try_from(vector)
        .ok()
        .and_then(|v| v.checked_sub(usize::from(EXTERNAL_VECTOR_BASE)))
        .and_then(|index| HANDLERS.get(index))
        .map(|slot| slot.load(Ordering::SeqCst))
        .filter(|pointer| !pointer.is_null());
    match handler {
        Some(pointer) => {
            // SAFETY: non-null slots hold only `Handler` values that `set_handler` cast to a
            // pointer; a function pointer survives the round trip through `*mut ()`.
            let handler = unsafe { core::mem::transmute::<*mut (), Handler>(pointer) };
            handler(vector as u8);
        }
        None => {
            println!("unexpected interrupt: vector {vector:#x} has no handler");
            crate::exit(crate::STATUS_EXCEPTION)
        }
    }
}

/// Installs `handler` for the external vector `vector` (0x20–0x3F), replacing any earlier one.
pub fn set_handler(vector: u8, handler: Handler) -> Result<(), NotExternal> {
    let slot = external_slot(vector)?;
    slot.store(handler as *mut (), Ordering::SeqCst);
    Ok(())
}

/// Removes the handler of `vector`: its interrupts are reported as unexpected again.
pub fn clear_handler(vector: u8) -> Result<(), NotExternal> {
    external_slot(vector)?.store(ptr::null_mut(), Ordering::SeqCst);
    Ok(())
}

fn external_slot(vector: u8) -> Result<&'static AtomicPtr<()>, NotExternal> {
    vector
        .checked_sub(EXTERNAL_VECTOR_BASE)
        .and_then(|index| HANDLERS.get(usize::from(index)))
        .ok_or(NotExternal(vector))
}

/// The common handler. Stack on entry: vector, error code, then the CPU's frame (RIP, CS,
/// RFLAGS, RSP, SS). With a recovery address armed it resumes there; otherwise it reports.
#[unsafe(naked)]
extern "sysv64" fn common_handler() {
    naked_asm!(
        "push rax",
        "push rcx",
        // [rsp] rcx, [rsp+8] rax, [rsp+16] vector, [rsp+24] error code, [rsp+32] RIP.
        "mov rax, qword ptr [rip + {recovery}]",
        "test rax, rax",
        "jz 2f",
        "mov qword ptr [rsp + 32], rax",
        "xor ecx, ecx",
        "mov qword ptr [rip + {recovery}], rcx",
        "mov rcx, qword ptr [rsp + 16]",
        "mov qword ptr [rip + {vector}], rcx",
        "mov rcx, qword ptr [rsp + 24]",
        "mov qword ptr [rip + {error}], rcx",
        "pop rcx",
        "pop rax",
        "add rsp, 16",
        "iretq",
        "2:",
        "lea rdi, [rsp + 16]",
        "and rsp, -16",
        "call {unexpected}",
        "ud2",
        recovery = sym RECOVERY_RIP,
        vector = sym FAULT_VECTOR,
        error = sym FAULT_ERROR,
        unexpected = sym unexpected_exception,
    )
}

/// Reports an exception no probe expected and ends the VM.
extern "sysv64" fn unexpected_exception(frame: &ExceptionFrame) -> ! {
    let cr2: u64;
    // SAFETY: reading CR2 at CPL 0 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack, preserves_flags)) };
    println!(
        "unexpected exception: vector {} ({}) error {:#x} at RIP {:#x} (CS {:#x}, RFLAGS {:#x}, RSP {:#x}, SS {:#x}, CR2 {:#x})",
        frame.vector,
        mnemonic(frame.vector as u8),
        frame.error_code,
        frame.rip,
        frame.cs,
        frame.rflags,
        frame.rsp,
        frame.ss,
        cr2
    );
    crate::exit(crate::STATUS_EXCEPTION)
}

/// Fills the IDT with a gate per exception vector and per external vector (code segment: the
/// current CS) and loads it.
pub fn install() {
    let cs: u16;
    // SAFETY: reading CS has no side effects.
    unsafe { asm!("mov {:x}, cs", out(reg) cs, options(nomem, nostack, preserves_flags)) };
    let addresses = stub_addresses()
        .into_iter()
        .chain(external_stub_addresses());
    for (vector, address) in addresses.enumerate() {
        let low = (address & 0xFFFF)
            | (u64::from(cs) << 16)
            | (GATE_PRESENT_INTERRUPT << 40)
            | ((address >> 16) & 0xFFFF) << 48;
        let high = address >> 32;
        IDT[vector * 2].store(low, Ordering::Relaxed);
        IDT[vector * 2 + 1].store(high, Ordering::Relaxed);
    }
    let idtr = Idtr {
        limit: (IDT_VECTORS * GATE_BYTES - 1) as u16,
        base: IDT.as_ptr() as u64,
    };
    // SAFETY: the IDT is a static (lives forever) holding valid gates to the stubs above, and
    // the limit covers exactly its 64 entries.
    unsafe { asm!("lidt [{}]", in(reg) &idtr, options(readonly, nostack, preserves_flags)) };
}

/// Clears the record of the last fault before a probe.
fn arm() {
    FAULT_VECTOR.store(NO_FAULT, Ordering::SeqCst);
    FAULT_ERROR.store(0, Ordering::SeqCst);
}

/// The fault the last probe's instruction raised, if any.
fn recorded_fault() -> Option<Fault> {
    let vector = FAULT_VECTOR.load(Ordering::SeqCst);
    (vector != NO_FAULT).then(|| Fault {
        vector: vector as u8,
        error_code: FAULT_ERROR.load(Ordering::SeqCst),
    })
}

/// RDMSR of `msr`: the value, or the fault it raised.
pub fn try_rdmsr(msr: u32) -> Result<u64, Fault> {
    arm();
    let low: u32;
    let high: u32;
    // SAFETY: RDMSR reads a model-specific register; if it faults, the handler resumes at
    // label 2 with every register as it was. The recovery slot is cleared on both paths.
    unsafe {
        asm!(
            "lea {tmp}, [rip + 2f]",
            "mov qword ptr [rip + {recovery}], {tmp}",
            "rdmsr",
            "2:",
            "mov qword ptr [rip + {recovery}], 0",
            tmp = out(reg) _,
            recovery = sym RECOVERY_RIP,
            in("ecx") msr,
            inout("eax") 0u32 => low,
            inout("edx") 0u32 => high,
            options(nostack),
        );
    }
    match recorded_fault() {
        Some(fault) => Err(fault),
        None => Ok(u64::from(high) << 32 | u64::from(low)),
    }
}

/// WRMSR of `value` to `msr`: `Ok` or the fault it raised.
///
/// # Safety
/// Writing an MSR can change how the CPU runs the guest (EFER, PAT, GS base …); the caller
/// must pick an MSR and value that leave the guest's execution environment intact.
pub unsafe fn try_wrmsr(msr: u32, value: u64) -> Result<(), Fault> {
    arm();
    // SAFETY: the caller vouches for the write's effect; a fault resumes at label 2.
    unsafe {
        asm!(
            "lea {tmp}, [rip + 2f]",
            "mov qword ptr [rip + {recovery}], {tmp}",
            "wrmsr",
            "2:",
            "mov qword ptr [rip + {recovery}], 0",
            tmp = out(reg) _,
            recovery = sym RECOVERY_RIP,
            in("ecx") msr,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nostack),
        );
    }
    match recorded_fault() {
        Some(fault) => Err(fault),
        None => Ok(()),
    }
}

/// The mnemonic of an exception vector, for messages.
pub const fn mnemonic(vector: u8) -> &'static str {
    match vector {
        0 => "#DE",
        1 => "#DB",
        2 => "NMI",
        3 => "#BP",
        4 => "#OF",
        5 => "#BR",
        6 => "#UD",
        7 => "#NM",
        8 => "#DF",
        10 => "#TS",
        11 => "#NP",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        16 => "#MF",
        17 => "#AC",
        18 => "#MC",
        19 => "#XM",
        20 => "#VE",
        21 => "#CP",
        _ => "reserved",
    }
}
