//! The device-behaves-like-RAM oracle: the MMIO test device answers every access as RAM would
//! (platform contract, "MMIO test device"), so an instruction must do to it exactly what it
//! does to a RAM buffer. Each [`Case`] runs one instruction twice, with the same registers and
//! the same initial memory: once with its memory operands in a RAM window (executed by the CPU
//! alone), once in the device window (trapped and emulated by the hypervisor). Then it compares
//! the registers, the arithmetic flags (and DF) and both memory windows.
//!
//! # Register file
//! The instruction sees RAX, RCX, RDX, RSI, RDI, R8–R12 loaded from a [`Registers`] block (R15
//! points at it, so R15 is off limits to the instruction) and RFLAGS from its `flags` field;
//! afterwards all of them are stored back. A register holds either a plain value, or a pointer
//! into the *target* window (RAM buffer or device) or the *side* window (a RAM buffer, the other
//! end of a MOVS). Pointers are compared as offsets from their window, so the two runs agree
//! even though the windows lie at different addresses; a pointer register must therefore not
//! be used as data.

use core::fmt;
use core::ptr;

use guests::println;

/// Bytes of each window the instructions may touch.
pub const WINDOW: usize = 256;
/// The MMIO test device's guest-physical base (platform contract).
pub const DEVICE_BASE: u64 = 0xFEB0_0000;
/// General registers in the register file.
pub const GPRS: usize = 10;
/// Their names, in register-file order.
pub const GPR_NAMES: [&str; GPRS] = [
    "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12",
];

/// RFLAGS.CF.
pub const CF: u64 = 1 << 0;
/// RFLAGS bit 1, always set.
pub const RESERVED_ONE: u64 = 1 << 1;
/// RFLAGS.PF.
pub const PF: u64 = 1 << 2;
/// RFLAGS.AF.
pub const AF: u64 = 1 << 4;
/// RFLAGS.ZF.
pub const ZF: u64 = 1 << 6;
/// RFLAGS.SF.
pub const SF: u64 = 1 << 7;
/// RFLAGS.DF.
pub const DF: u64 = 1 << 10;
/// RFLAGS.OF.
pub const OF: u64 = 1 << 11;
/// The status flags arithmetic instructions define.
pub const ARITHMETIC: u64 = CF | PF | AF | ZF | SF | OF;
/// The flags compared after AND/OR/XOR/TEST, which leave AF undefined (Intel SDM vol. 2).
pub const LOGIC: u64 = ARITHMETIC & !AF;
/// The flags an instruction starts with unless the case says otherwise: a mix of set and
/// clear status flags, so an instruction that must not touch them (MOV) is caught if it does.
pub const DEFAULT_FLAGS: u64 = RESERVED_ONE | CF | PF | ZF;

/// A register's initial content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// A plain value, the same in both runs.
    Value(u64),
    /// This offset into the target window (RAM buffer, then the device).
    Target(u64),
    /// This offset into the side window (a RAM buffer in both runs).
    Side(u64),
}

/// The register file the instruction runs with (layout fixed by the prologue/epilogue).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Registers {
    pub gprs: [u64; GPRS],
    pub flags: u64,
}

/// A `fn` that runs one instruction with a [`Registers`] block.
pub type Runner = fn(&mut Registers);

/// Wraps an instruction (Intel syntax) into a [`Runner`]: loads the register file and RFLAGS,
/// executes it, stores RFLAGS and the register file, clears DF.
macro_rules! instruction {
    ($text:literal) => {{
        fn run(registers: &mut $crate::oracle::Registers) {
            // SAFETY: the instruction reads and writes only the registers declared clobbered
            // and memory its pointer registers name: inside the target and side windows, which
            // the caller set up (RAM buffers it owns, or the device). RFLAGS is restored to the
            // ABI's state (DF clear) before the block ends; pushes stay below the stack pointer.
            unsafe {
                core::arch::asm!(
                    "mov rax, qword ptr [r15]",
                    "mov rcx, qword ptr [r15 + 8]",
                    "mov rdx, qword ptr [r15 + 16]",
                    "mov rsi, qword ptr [r15 + 24]",
                    "mov rdi, qword ptr [r15 + 32]",
                    "mov r8, qword ptr [r15 + 40]",
                    "mov r9, qword ptr [r15 + 48]",
                    "mov r10, qword ptr [r15 + 56]",
                    "mov r11, qword ptr [r15 + 64]",
                    "mov r12, qword ptr [r15 + 72]",
                    "push qword ptr [r15 + 80]",
                    "popfq",
                    $text,
                    "pushfq",
                    "pop qword ptr [r15 + 80]",
                    "cld",
                    "mov qword ptr [r15], rax",
                    "mov qword ptr [r15 + 8], rcx",
                    "mov qword ptr [r15 + 16], rdx",
                    "mov qword ptr [r15 + 24], rsi",
                    "mov qword ptr [r15 + 32], rdi",
                    "mov qword ptr [r15 + 40], r8",
                    "mov qword ptr [r15 + 48], r9",
                    "mov qword ptr [r15 + 56], r10",
                    "mov qword ptr [r15 + 64], r11",
                    "mov qword ptr [r15 + 72], r12",
                    in("r15") ::core::ptr::from_mut(registers),
                    out("rax") _, out("rcx") _, out("rdx") _, out("rsi") _, out("rdi") _,
                    out("r8") _, out("r9") _, out("r10") _, out("r11") _, out("r12") _,
                );
            }
        }
        run as $crate::oracle::Runner
    }};
}
pub(crate) use instruction;

/// One instruction form, with the registers and flags it starts from.
#[derive(Clone, Copy)]
pub struct Case {
    /// What is tested, as printed.
    pub name: &'static str,
    run: Runner,
    init: [Init; GPRS],
    flags: u64,
    compared_flags: u64,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The registers every case starts from unless it overrides them: RCX, RDI and R8 point into
/// the target window, RSI into the side window, the rest hold values with both high and low
/// bits set, R12 a small index.
pub const DEFAULT_INIT: [Init; GPRS] = [
    Init::Value(0x8899_AABB_CCDD_EEFF),
    Init::Target(0x40),
    Init::Value(0x0123_4567_89AB_CDEF),
    Init::Side(0x40),
    Init::Target(0x80),
    Init::Target(0x10),
    Init::Value(0xFEDC_BA98_7654_3210),
    Init::Value(0x7FFF_FFFF_FFFF_FFFF),
    Init::Value(0x8000_0000_0000_0001),
    Init::Value(2),
];

/// Index of a register in the register file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "every register of the file is nameable; the cases override a few"
)]
pub enum Reg {
    Rax = 0,
    Rcx = 1,
    Rdx = 2,
    Rsi = 3,
    Rdi = 4,
    R8 = 5,
    R9 = 6,
    R10 = 7,
    R11 = 8,
    R12 = 9,
}

impl Case {
    /// `run` with [`DEFAULT_INIT`], [`DEFAULT_FLAGS`], all arithmetic flags compared.
    pub const fn new(name: &'static str, run: Runner) -> Self {
        Case {
            name,
            run,
            init: DEFAULT_INIT,
            flags: DEFAULT_FLAGS,
            compared_flags: ARITHMETIC | DF,
        }
    }

    /// Starts with `reg` = `init`.
    pub const fn with(mut self, reg: Reg, init: Init) -> Self {
        self.init[reg as usize] = init;
        self
    }

    /// Starts with RFLAGS = `flags` (bit 1 is always set).
    pub const fn flags(mut self, flags: u64) -> Self {
        self.flags = flags | RESERVED_ONE;
        self
    }

    /// Compares only these flags afterwards (DF always).
    pub const fn compare_flags(mut self, flags: u64) -> Self {
        self.compared_flags = flags | DF;
        self
    }
}

/// The byte of the initial target window at `offset`: every value class occurs (bytes with
/// bit 7 set and clear, zero, 0xFF-like), so sign and zero extension both show.
pub const fn target_pattern(offset: usize) -> u8 {
    (offset as u8).wrapping_mul(0x25).wrapping_add(0x9B)
}

/// The byte of the initial side window at `offset`.
pub const fn side_pattern(offset: usize) -> u8 {
    (offset as u8).wrapping_mul(0x3B).wrapping_add(0x17)
}

/// A RAM window, aligned like the device's registers.
#[repr(C, align(64))]
pub struct Window(pub [u8; WINDOW]);

impl Window {
    /// A zeroed window.
    pub const fn new() -> Self {
        Window([0; WINDOW])
    }

    fn fill(&mut self, pattern: fn(usize) -> u8) {
        for (offset, byte) in self.0.iter_mut().enumerate() {
            *byte = pattern(offset);
        }
    }

    fn base(&mut self) -> u64 {
        self.0.as_mut_ptr() as u64
    }
}

/// Quadwords in a window.
const QWORDS: usize = WINDOW / 8;

/// Writes the target pattern into the device window with 8-byte stores.
fn fill_device() {
    for index in 0..QWORDS {
        let mut bytes = [0u8; 8];
        for (k, byte) in bytes.iter_mut().enumerate() {
            *byte = target_pattern(index * 8 + k);
        }
        // SAFETY: the device window is MMIO of the test device (identity-mapped), 8-byte
        // aligned; no Rust object lives there.
        unsafe {
            ptr::write_volatile(
                (DEVICE_BASE as *mut u64).add(index),
                u64::from_le_bytes(bytes),
            )
        };
    }
}

/// Reads the device window with 8-byte loads.
pub fn read_device() -> [u8; WINDOW] {
    let mut out = [0u8; WINDOW];
    let (chunks, _) = out.as_chunks_mut::<8>();
    for (index, chunk) in chunks.iter_mut().enumerate() {
        // SAFETY: as in `fill_device`.
        let value = unsafe { ptr::read_volatile((DEVICE_BASE as *const u64).add(index)) };
        *chunk = value.to_le_bytes();
    }
    out
}

/// What one run left behind, with pointer registers as window offsets.
struct Outcome {
    gprs: [u64; GPRS],
    flags: u64,
}

/// Runs `case` with the target window at `target` and the side window at `side`.
fn run_at(case: &Case, target: u64, side: u64) -> Outcome {
    let mut registers = Registers {
        gprs: [0; GPRS],
        flags: case.flags,
    };
    for (slot, init) in registers.gprs.iter_mut().zip(case.init) {
        *slot = match init {
            Init::Value(value) => value,
            Init::Target(offset) => target.wrapping_add(offset),
            Init::Side(offset) => side.wrapping_add(offset),
        };
    }
    (case.run)(&mut registers);
    for (slot, init) in registers.gprs.iter_mut().zip(case.init) {
        match init {
            Init::Value(_) => {}
            Init::Target(_) => *slot = slot.wrapping_sub(target),
            Init::Side(_) => *slot = slot.wrapping_sub(side),
        }
    }
    Outcome {
        gprs: registers.gprs,
        flags: registers.flags,
    }
}

/// Differences printed per window before the rest are only counted.
const SHOWN_DIFFERENCES: usize = 4;

/// Compares two windows byte by byte, printing the first differences; returns how many differ.
fn compare_window(name: &str, label: &str, ram: &[u8; WINDOW], other: &[u8; WINDOW]) -> usize {
    let mut differences = 0;
    for (offset, (expected, actual)) in ram.iter().zip(other).enumerate() {
        if expected != actual {
            if differences < SHOWN_DIFFERENCES {
                println!(
                    "  {name}: {label} byte {offset:#x}: {actual:#04x}, RAM gives {expected:#04x}"
                );
            }
            differences += 1;
        }
    }
    differences
}

/// Runs `case` against RAM and against the device; prints `ok:`/`FAIL:` and the differences.
pub fn check(case: &Case) -> bool {
    let mut ram_target = Window::new();
    let mut ram_side = Window::new();
    let mut device_side = Window::new();
    ram_target.fill(target_pattern);
    ram_side.fill(side_pattern);
    device_side.fill(side_pattern);
    fill_device();

    let ram = run_at(case, ram_target.base(), ram_side.base());
    let device = run_at(case, DEVICE_BASE, device_side.base());

    let mut differences = 0;
    for (index, (expected, actual)) in ram.gprs.iter().zip(device.gprs).enumerate() {
        if *expected != actual {
            println!(
                "  {}: {}: {actual:#x}, RAM gives {expected:#x}",
                case.name, GPR_NAMES[index]
            );
            differences += 1;
        }
    }
    let (expected, actual) = (
        ram.flags & case.compared_flags,
        device.flags & case.compared_flags,
    );
    if expected != actual {
        println!(
            "  {}: rflags (compared bits {:#x}): {actual:#x}, RAM gives {expected:#x}",
            case.name, case.compared_flags
        );
        differences += 1;
    }
    differences += compare_window(case.name, "device", &ram_target.0, &read_device());
    differences += compare_window(case.name, "side buffer", &ram_side.0, &device_side.0);
    if differences == 0 {
        println!("ok: {}", case.name);
    } else {
        println!("FAIL: {} ({differences} differences)", case.name);
    }
    differences == 0
}

/// Reads the device window before anything was written: the contract says it starts zeroed.
pub fn device_starts_zeroed() -> bool {
    read_device().iter().all(|&byte| byte == 0)
}
