//! MMIO test guest: every instruction form the hypervisor's MMIO emulation decodes, run against
//! the MMIO test device at 0xFEB00000 and checked with the device-behaves-like-RAM oracle
//! ([`oracle`]): MOV register↔memory of 1, 2, 4 and 8 bytes (high-byte, REX and SIB forms
//! too), MOV immediate→memory, MOVZX/MOVSX/MOVSXD, STOS and MOVS with and without REP in both
//! directions (RAM→MMIO, MMIO→RAM, MMIO→MMIO, DF set), and ADD/SUB/AND/OR/XOR/TEST/CMP with a
//! memory operand in the register and immediate forms.
//!
//! Each case prints `ok: <instruction>` or `FAIL: <instruction>` with the differing registers,
//! flags and bytes; the guest exits 0 only if the device starts zeroed and every case matches.

#![no_std]
#![no_main]

mod oracle;

use guests::check::Checks;
use guests::{BootInfo, entry, println};
use oracle::{Case, DEVICE_BASE, DF, Init, LOGIC, Reg, check, device_starts_zeroed, instruction};

entry!(main);

/// MOV between registers and memory, of every width.
fn moves() -> [Case; 15] {
    [
        Case::new("mov byte [rcx], al", instruction!("mov byte ptr [rcx], al")),
        Case::new(
            "mov byte [rcx+1], ah",
            instruction!("mov byte ptr [rcx + 1], ah"),
        ),
        Case::new(
            "mov word [rcx+2], dx",
            instruction!("mov word ptr [rcx + 2], dx"),
        ),
        Case::new(
            "mov dword [rcx+4], r9d",
            instruction!("mov dword ptr [rcx + 4], r9d"),
        ),
        Case::new(
            "mov qword [r8+8], rax",
            instruction!("mov qword ptr [r8 + 8], rax"),
        ),
        Case::new(
            "mov qword [rcx+r12*8+8], rdx (SIB)",
            instruction!("mov qword ptr [rcx + r12*8 + 8], rdx"),
        ),
        Case::new(
            "mov byte [r8+0x7f], r11b",
            instruction!("mov byte ptr [r8 + 0x7f], r11b"),
        ),
        Case::new(
            "mov qword [rcx-0x20], r10",
            instruction!("mov qword ptr [rcx - 0x20], r10"),
        ),
        Case::new(
            "mov al, byte [rcx+3]",
            instruction!("mov al, byte ptr [rcx + 3]"),
        ),
        Case::new(
            "mov ah, byte [rcx+5]",
            instruction!("mov ah, byte ptr [rcx + 5]"),
        ),
        Case::new(
            "mov dx, word [rcx+6]",
            instruction!("mov dx, word ptr [rcx + 6]"),
        ),
        Case::new(
            "mov r9d, dword [r8+4] (zero-extends)",
            instruction!("mov r9d, dword ptr [r8 + 4]"),
        ),
        Case::new(
            "mov rax, qword [rcx+8]",
            instruction!("mov rax, qword ptr [rcx + 8]"),
        ),
        Case::new(
            "mov r11b, byte [r8]",
            instruction!("mov r11b, byte ptr [r8]"),
        ),
        Case::new(
            "mov r10, qword [rcx+r12*4] (SIB)",
            instruction!("mov r10, qword ptr [rcx + r12*4]"),
        ),
    ]
}

/// MOV immediate to memory, and the zero- and sign-extending loads.
fn immediates_and_extensions() -> [Case; 12] {
    [
        Case::new(
            "mov byte [rcx], 0xa5",
            instruction!("mov byte ptr [rcx], 0xa5"),
        ),
        Case::new(
            "mov word [rcx+2], 0xbeef",
            instruction!("mov word ptr [rcx + 2], 0xbeef"),
        ),
        Case::new(
            "mov dword [rcx+4], 0xdeadbeef",
            instruction!("mov dword ptr [rcx + 4], 0xdeadbeef"),
        ),
        Case::new(
            "mov qword [rcx+8], -2 (imm32 sign-extended)",
            instruction!("mov qword ptr [rcx + 8], -2"),
        ),
        Case::new(
            "mov qword [r8+0x18], 0x7fffffff",
            instruction!("mov qword ptr [r8 + 0x18], 0x7fffffff"),
        ),
        Case::new(
            "movzx eax, byte [rcx]",
            instruction!("movzx eax, byte ptr [rcx]"),
        ),
        Case::new(
            "movzx r9, word [rcx+4]",
            instruction!("movzx r9, word ptr [rcx + 4]"),
        ),
        Case::new(
            "movzx dx, byte [rcx+1]",
            instruction!("movzx dx, byte ptr [rcx + 1]"),
        ),
        Case::new(
            "movsx rax, byte [rcx] (negative)",
            instruction!("movsx rax, byte ptr [rcx]"),
        ),
        Case::new(
            "movsx edx, word [rcx+4] (negative)",
            instruction!("movsx edx, word ptr [rcx + 4]"),
        ),
        Case::new(
            "movsx ax, byte [rcx+3] (positive)",
            instruction!("movsx ax, byte ptr [rcx + 3]"),
        ),
        Case::new(
            "movsxd r10, dword [rcx+4] (negative)",
            instruction!("movsxd r10, dword ptr [rcx + 4]"),
        ),
    ]
}

/// STOS and MOVS, with and without REP, both directions of DF, every pairing of RAM and MMIO.
fn strings() -> [Case; 12] {
    [
        Case::new("rep stosb (37 bytes)", instruction!("rep stosb"))
            .with(Reg::Rdi, Init::Target(0x10))
            .with(Reg::Rcx, Init::Value(37)),
        Case::new("rep stosw (9 words)", instruction!("rep stosw")).with(Reg::Rcx, Init::Value(9)),
        Case::new("rep stosd (5 dwords)", instruction!("rep stosd")).with(Reg::Rcx, Init::Value(5)),
        Case::new("rep stosq (4 qwords)", instruction!("rep stosq")).with(Reg::Rcx, Init::Value(4)),
        Case::new("stosq (no rep)", instruction!("stosq")),
        Case::new("rep stosb with rcx = 0", instruction!("rep stosb"))
            .with(Reg::Rcx, Init::Value(0)),
        Case::new("rep stosd backwards (DF = 1)", instruction!("rep stosd"))
            .with(Reg::Rcx, Init::Value(6))
            .flags(DF),
        Case::new(
            "rep movsb RAM -> MMIO (33 bytes)",
            instruction!("rep movsb"),
        )
        .with(Reg::Rsi, Init::Side(0x10))
        .with(Reg::Rdi, Init::Target(0x20))
        .with(Reg::Rcx, Init::Value(33)),
        Case::new(
            "rep movsq MMIO -> RAM (6 qwords)",
            instruction!("rep movsq"),
        )
        .with(Reg::Rsi, Init::Target(0x08))
        .with(Reg::Rdi, Init::Side(0x30))
        .with(Reg::Rcx, Init::Value(6)),
        Case::new(
            "rep movsd MMIO -> MMIO (8 dwords)",
            instruction!("rep movsd"),
        )
        .with(Reg::Rsi, Init::Target(0x00))
        .with(Reg::Rdi, Init::Target(0x80))
        .with(Reg::Rcx, Init::Value(8)),
        Case::new("movsw MMIO -> RAM (no rep)", instruction!("movsw"))
            .with(Reg::Rsi, Init::Target(0x22))
            .with(Reg::Rdi, Init::Side(0x06)),
        Case::new(
            "rep movsb RAM -> MMIO backwards (DF = 1)",
            instruction!("rep movsb"),
        )
        .with(Reg::Rsi, Init::Side(0x50))
        .with(Reg::Rdi, Init::Target(0x90))
        .with(Reg::Rcx, Init::Value(17))
        .flags(DF),
    ]
}

/// ADD and SUB with a memory operand: destination memory (register and immediate sources)
/// and destination register.
fn add_sub() -> [Case; 9] {
    [
        Case::new(
            "add qword [rcx], rax",
            instruction!("add qword ptr [rcx], rax"),
        ),
        Case::new(
            "add eax, dword [rcx+4]",
            instruction!("add eax, dword ptr [rcx + 4]"),
        ),
        Case::new(
            "add byte [rcx+1], 0x7f",
            instruction!("add byte ptr [rcx + 1], 0x7f"),
        ),
        Case::new(
            "add word [rcx+2], 0x1234",
            instruction!("add word ptr [rcx + 2], 0x1234"),
        ),
        Case::new(
            "add qword [rcx+8], -1 (imm8)",
            instruction!("add qword ptr [rcx + 8], -1"),
        ),
        Case::new(
            "add dword [rcx+12], 0x7fffffff (overflow)",
            instruction!("add dword ptr [rcx + 12], 0x7fffffff"),
        ),
        Case::new(
            "sub qword [r8], r10",
            instruction!("sub qword ptr [r8], r10"),
        ),
        Case::new(
            "sub dl, byte [rcx+3]",
            instruction!("sub dl, byte ptr [rcx + 3]"),
        ),
        Case::new(
            "sub dword [rcx+4], 1",
            instruction!("sub dword ptr [rcx + 4], 1"),
        ),
    ]
}

/// AND, OR, XOR and TEST (AF undefined, not compared) with a memory operand.
fn logic() -> [Case; 12] {
    [
        Case::new(
            "and qword [rcx], rdx",
            instruction!("and qword ptr [rcx], rdx"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "and r9w, word [rcx+2]",
            instruction!("and r9w, word ptr [rcx + 2]"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "and byte [rcx+5], 0x0f",
            instruction!("and byte ptr [rcx + 5], 0x0f"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "or dword [rcx+4], r11d",
            instruction!("or dword ptr [rcx + 4], r11d"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "or rax, qword [rcx+16]",
            instruction!("or rax, qword ptr [rcx + 16]"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "or qword [rcx+8], 0x100",
            instruction!("or qword ptr [rcx + 8], 0x100"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "xor qword [rcx+8], rax",
            instruction!("xor qword ptr [rcx + 8], rax"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "xor r10d, dword [r8+4]",
            instruction!("xor r10d, dword ptr [r8 + 4]"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "xor byte [rcx], 0xff",
            instruction!("xor byte ptr [rcx], 0xff"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "test qword [rcx], rdx",
            instruction!("test qword ptr [rcx], rdx"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "test byte [rcx+3], 0x80 (zero)",
            instruction!("test byte ptr [rcx + 3], 0x80"),
        )
        .compare_flags(LOGIC),
        Case::new(
            "test dword [rcx+4], 0x80000000",
            instruction!("test dword ptr [rcx + 4], 0x80000000"),
        )
        .compare_flags(LOGIC),
    ]
}

/// CMP with a memory operand on either side and with immediates.
fn compares() -> [Case; 5] {
    [
        Case::new(
            "cmp qword [rcx], rax",
            instruction!("cmp qword ptr [rcx], rax"),
        ),
        Case::new(
            "cmp rdx, qword [rcx+8]",
            instruction!("cmp rdx, qword ptr [rcx + 8]"),
        ),
        Case::new(
            "cmp byte [rcx+3], 0x4a (equal)",
            instruction!("cmp byte ptr [rcx + 3], 0x4a"),
        ),
        Case::new(
            "cmp dword [rcx+4], -1 (imm8)",
            instruction!("cmp dword ptr [rcx + 4], -1"),
        ),
        Case::new(
            "cmp word [rcx+2], ax",
            instruction!("cmp word ptr [rcx + 2], ax"),
        ),
    ]
}

fn main(_boot: BootInfo) -> u32 {
    println!("MMIO emulation against the test device at {DEVICE_BASE:#x} (oracle: a RAM buffer)");
    let mut checks = Checks::new();
    checks.check(
        device_starts_zeroed(),
        format_args!("the device window reads zero before any write"),
    );
    let groups: [&[Case]; 6] = [
        &moves(),
        &immediates_and_extensions(),
        &strings(),
        &add_sub(),
        &logic(),
        &compares(),
    ];
    for case in groups.into_iter().flatten() {
        let held = check(case);
        // `check` printed the details; the tally only counts.
        checks.record(held);
    }
    checks.finish()
}
