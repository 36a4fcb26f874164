//! The test guests (`tests/guests/`) under the hypervisor in Bochs, whose CPU emulates VT-x with
//! EPT: one test per guest, judged by the console lines the platform contract defines
//! (`VM <name>: exited with status <n>`, `VM <name>: stopped: <diagnostic>`, `[<name>] text`).
//!
//! The 64-bit guests arrive as artifact dependencies (`CARGO_BIN_FILE_GUESTS_<bin>`); the
//! real-mode guest is assembled here, with `iced-x86`'s code assembler, into a flat 16-bit
//! binary. Each run puts its guests into the ramdisk with [`RunConfig::with_file`] and names them
//! in `vms=`. The escape tests start a second VM after the escaping one: it must run to its end,
//! showing that the hypervisor survived the first.

use std::path::{Path, PathBuf};

use boot::RunConfig;
use hv_tests::{Outcome, bochs, boot};
use iced_x86::code_asm::{CodeAssembler, al, ax, bl, cr0, cs, ds, dx, eax, si};

/// The 64-bit test guests, as the artifact dependency built them.
const HELLO: &str = env!("CARGO_BIN_FILE_GUESTS_hello");
const PIO: &str = env!("CARGO_BIN_FILE_GUESTS_pio");
const MMIO: &str = env!("CARGO_BIN_FILE_GUESTS_mmio");
const CPUID_MSR: &str = env!("CARGO_BIN_FILE_GUESTS_cpuid_msr");
const ESCAPE_READ: &str = env!("CARGO_BIN_FILE_GUESTS_escape_read");
const ESCAPE_WRITE: &str = env!("CARGO_BIN_FILE_GUESTS_escape_write");
const ESCAPE_EXEC: &str = env!("CARGO_BIN_FILE_GUESTS_escape_exec");

/// Boots the hypervisor with `guests` (ramdisk name, file) in the ramdisk and `cmdline`.
fn run(cmdline: &str, guests: &[(&str, &Path)]) -> Outcome {
    let config = guests
        .iter()
        .fold(bochs(cmdline), |config: RunConfig, (name, path)| {
            config.with_file(name, *path)
        });
    boot(config)
}

/// Boots one 64-bit guest as `<name>.elf`.
fn run_elf(name: &str, path: &str) -> Outcome {
    let file = format!("{name}.elf");
    run(&format!("vms={file}"), &[(&file, Path::new(path))])
}

/// No console line may contain `needle` (a guest's `FAIL:` lines, a VM that should have
/// stopped but exited).
fn expect_no_line(outcome: &Outcome, needle: &str) {
    let offending: Vec<&str> = outcome
        .outcome
        .serial
        .lines()
        .filter(|line| line.contains(needle))
        .collect();
    assert!(
        offending.is_empty(),
        "no console line may contain `{needle}`, found:\n{}\n--- console ---\n{}",
        offending.join("\n"),
        outcome.outcome.serial_tail(60).join("\n")
    );
}

#[test]
fn hello_guest_prints_its_line_and_exits_with_status_0() {
    run_elf("hello", HELLO)
        .expect_line("[hello] hello from a guest")
        .expect_line("VM hello: exited with status 0")
        .expect_success();
}

#[test]
fn pio_guest_passes_pit_cmos_uart_and_pci_checks_at_every_width() {
    let outcome = run_elf("pio", PIO);
    outcome.expect_guest_checks_pass("pio").expect_success();
    outcome
        .expect_line("[pio] rep outsb ok")
        .expect_line("[pio] ok: PCI scan: 00:00.0 is 8086:1237")
        .expect_line("[pio] ok: CMOS 0x34/0x35");
}

#[test]
fn mmio_guest_sees_the_test_device_behave_like_ram_for_every_instruction_form() {
    let outcome = run_elf("mmio", MMIO);
    outcome.expect_guest_checks_pass("mmio").expect_success();
    outcome
        .expect_line("[mmio] ok: rep movsb RAM -> MMIO")
        .expect_line("[mmio] ok: movsxd r10, dword [rcx+4]")
        .expect_line("[mmio] ok: cmp word [rcx+2], ax");
}

#[test]
fn cpuid_msr_guest_sees_the_contracts_cpuid_msrs_and_hypercalls() {
    let outcome = run_elf("cpuid_msr", CPUID_MSR);
    outcome
        .expect_guest_checks_pass("cpuid_msr")
        .expect_success();
    outcome
        .expect_line("[cpuid_msr] console write through a hypercall")
        .expect_line("[cpuid_msr] ok: RDMSR 0x40001234 raises #GP(0)")
        .expect_line("[cpuid_msr] ok: PING signature in RAX");
}

/// Runs an escape guest and then `hello` in the same boot: the escape must stop its VM with a
/// diagnostic, and the hypervisor must go on to run `hello` to its normal end.
fn escape_then_hello(name: &str, path: &str, access: &str) {
    let file = format!("{name}.elf");
    let outcome = run(
        &format!("vms={file},hello.elf"),
        &[(&file, Path::new(path)), ("hello.elf", Path::new(HELLO))],
    );
    expect_no_line(&outcome, &format!("VM {name}: exited"));
    expect_no_line(&outcome, "the VM was not stopped");
    outcome
        .expect_line(&format!("[{name}] {access} at guest-physical"))
        .expect_line(&format!("VM {name}: stopped: "))
        .expect_line("[hello] hello from a guest")
        .expect_line("VM hello: exited with status 0");
}

#[test]
fn escape_read_beyond_ram_stops_the_vm_and_the_next_vm_runs() {
    escape_then_hello("escape_read", ESCAPE_READ, "Read");
}

#[test]
fn escape_write_beyond_ram_stops_the_vm_and_the_next_vm_runs() {
    escape_then_hello("escape_write", ESCAPE_WRITE, "Write");
}

#[test]
fn escape_exec_beyond_ram_stops_the_vm_and_the_next_vm_runs() {
    escape_then_hello("escape_exec", ESCAPE_EXEC, "Execute");
}

/// Where the real-mode guest is loaded (the classic boot-sector address).
const REALMODE_LOAD: u16 = 0x7C00;
/// Its entry IP (CS = load address >> 4): the offset of its first byte in DS = CS.
const REALMODE_ENTRY_IP: u16 = REALMODE_LOAD & 0xF;
/// What it prints.
const REALMODE_LINE: &str = "hello from real mode";
/// COM1 transmitter holding register.
const COM1_THR: u16 = 0x3F8;
/// COM1 line control register.
const COM1_LCR: u16 = 0x3FB;
/// LCR: 8 data bits, no parity, 1 stop bit (after reset the word length is 5 bits, which
/// would cut every character to its low 5 bits).
const LCR_8N1: u32 = 0x03;
/// COM1 line status register.
const COM1_LSR: u16 = 0x3FD;
/// LSR bit 5: transmitter holding register empty.
const LSR_THRE: u32 = 0x20;
/// The debug-exit port.
const DEBUG_EXIT: u16 = 0xF4;
/// CR0.PE: must be clear in real mode.
const CR0_PE: u32 = 1;
/// The status the guest exits with if it finds itself in protected mode.
const REALMODE_WRONG_MODE: u32 = 1;

/// The real-mode guest's message, NUL-terminated.
fn realmode_message() -> String {
    format!("{REALMODE_LINE}\n\0")
}

/// The real-mode guest: code followed by its message. Code labels in 16-bit mode cannot be
/// memory operands (iced-x86 encodes those RIP-relative), so the message's offset is an
/// immediate: a first pass measures the code (its length does not depend on the immediate),
/// the second uses the offset.
fn assemble_realmode_guest() -> Result<Vec<u8>, iced_x86::IcedError> {
    let message_length = realmode_message().len();
    let first = assemble_realmode_pass(0)?;
    let offset = u16::try_from(first.len() - message_length)
        .ok()
        .and_then(|position| position.checked_add(REALMODE_ENTRY_IP))
        .expect("the guest is tiny");
    let second = assemble_realmode_pass(offset)?;
    assert_eq!(
        first.len(),
        second.len(),
        "the code length does not depend on the offset"
    );
    Ok(second)
}

/// One pass: checks CR0.PE is clear, programs COM1 for 8N1 (as a BIOS would), prints [`REALMODE_LINE`] through COM1 with `out dx, al`
/// (polling LSR.THRE, through a near `call`, so the contract's stack is used), and exits with
/// status 0 through port 0xF4. Entered at CS:IP = 0x07C0:0000, so DS is set from CS and
/// `message_offset` is the message's offset from the load address.
fn assemble_realmode_pass(message_offset: u16) -> Result<Vec<u8>, iced_x86::IcedError> {
    let mut a = CodeAssembler::new(16)?;
    let mut next = a.create_label();
    let mut done = a.create_label();
    let mut wrong_mode = a.create_label();
    let mut putc = a.create_label();
    let mut wait = a.create_label();

    a.cli()?;
    a.cld()?;
    a.mov(ax, cs)?;
    a.mov(ds, ax)?;
    a.mov(eax, cr0)?;
    a.test(al, CR0_PE)?;
    a.jnz(wrong_mode)?;
    a.mov(dx, u32::from(COM1_LCR))?;
    a.mov(al, LCR_8N1)?;
    a.out(dx, al)?;
    a.mov(si, u32::from(message_offset))?;
    a.set_label(&mut next)?;
    a.lodsb()?;
    a.test(al, al)?;
    a.jz(done)?;
    a.call(putc)?;
    a.jmp(next)?;

    a.set_label(&mut done)?;
    a.mov(dx, u32::from(DEBUG_EXIT))?;
    a.xor(al, al)?;
    a.out(dx, al)?;
    a.hlt()?;
    a.jmp(done)?;

    a.set_label(&mut wrong_mode)?;
    a.mov(dx, u32::from(DEBUG_EXIT))?;
    a.mov(al, REALMODE_WRONG_MODE)?;
    a.out(dx, al)?;
    a.hlt()?;

    // putc: sends AL once the transmitter is empty; clobbers BL and DX.
    a.set_label(&mut putc)?;
    a.mov(bl, al)?;
    a.mov(dx, u32::from(COM1_LSR))?;
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, LSR_THRE)?;
    a.jz(wait)?;
    a.mov(al, bl)?;
    a.mov(dx, u32::from(COM1_THR))?;
    a.out(dx, al)?;
    a.ret()?;

    a.db(realmode_message().as_bytes())?;
    a.assemble(u64::from(REALMODE_ENTRY_IP))
}

/// Writes the real-mode guest to the test's scratch directory.
fn realmode_guest_file() -> PathBuf {
    let bytes = assemble_realmode_guest().expect("the real-mode guest assembles");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("realmode.bin");
    std::fs::write(&path, bytes).expect("the scratch directory is writable");
    path
}

#[test]
fn realmode_guest_assembles_to_a_small_flat_binary_ending_in_its_message() {
    let bytes = assemble_realmode_guest().unwrap();
    let message = realmode_message();
    assert!(bytes.len() < 128, "{} bytes", bytes.len());
    assert_eq!(bytes[0], 0xFA, "starts with cli");
    assert!(bytes.ends_with(message.as_bytes()));
    // `mov si, imm16` (BE iw) loads the message's offset from the load address, which DS = CS
    // makes the segment's start.
    let mov = bytes
        .iter()
        .position(|&b| b == 0xBE)
        .expect("mov si, imm16");
    let offset = u16::from_le_bytes([bytes[mov + 1], bytes[mov + 2]]);
    assert_eq!(
        usize::from(offset - REALMODE_ENTRY_IP),
        bytes.len() - message.len()
    );
}

#[test]
fn realmode_guest_prints_through_the_uart_and_exits_with_status_0() {
    let path = realmode_guest_file();
    run(
        &format!("vms=realmode.bin@{REALMODE_LOAD:#x}"),
        &[("realmode.bin", &path)],
    )
    .expect_line(&format!("[realmode] {REALMODE_LINE}"))
    .expect_line("VM realmode: exited with status 0")
    .expect_success();
}

/// ELF header fields the contract's loader relies on (ELF-64 Object File Format 1.5, §3).
mod elf {
    /// e_type: a static PIE.
    pub const ET_DYN: u16 = 3;
    /// e_type: a fixed-address executable.
    pub const ET_EXEC: u16 = 2;
    /// e_machine: AMD64.
    pub const EM_X86_64: u16 = 62;
    /// p_type: a loadable segment.
    pub const PT_LOAD: u32 = 1;
    /// Where the contract relocates a static PIE.
    pub const PIE_BASE: u64 = 0x20_0000;
    /// The lowest link address the contract allows.
    pub const LOWEST: u64 = 0x10_0000;
    /// The default guest RAM (32 MiB): every segment must fit below it.
    pub const RAM: u64 = 32 << 20;

    pub fn u16_at(bytes: &[u8], offset: usize) -> u16 {
        u16::from_le_bytes(bytes[offset..offset + 2].try_into().unwrap())
    }
    pub fn u32_at(bytes: &[u8], offset: usize) -> u32 {
        u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
    }
    pub fn u64_at(bytes: &[u8], offset: usize) -> u64 {
        u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap())
    }
}

#[test]
fn guest_elfs_are_x86_64_executables_that_fit_the_contracts_load_window() {
    for path in [
        HELLO,
        PIO,
        MMIO,
        CPUID_MSR,
        ESCAPE_READ,
        ESCAPE_WRITE,
        ESCAPE_EXEC,
    ] {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..5], b"\x7fELF\x02", "{path}: ELF64");
        let kind = elf::u16_at(&bytes, 16);
        assert!(
            kind == elf::ET_DYN || kind == elf::ET_EXEC,
            "{path}: e_type {kind}"
        );
        assert_eq!(elf::u16_at(&bytes, 18), elf::EM_X86_64, "{path}: e_machine");
        let base = if kind == elf::ET_DYN {
            elf::PIE_BASE
        } else {
            0
        };
        let entry = elf::u64_at(&bytes, 24) + base;
        let (phoff, phentsize, phnum) = (
            elf::u64_at(&bytes, 32) as usize,
            usize::from(elf::u16_at(&bytes, 54)),
            usize::from(elf::u16_at(&bytes, 56)),
        );
        let mut entry_loaded = false;
        for index in 0..phnum {
            let header = phoff + index * phentsize;
            if elf::u32_at(&bytes, header) != elf::PT_LOAD {
                continue;
            }
            let start = elf::u64_at(&bytes, header + 16) + base;
            let size = elf::u64_at(&bytes, header + 40);
            assert!(
                start >= elf::LOWEST && start + size <= elf::RAM,
                "{path}: segment {start:#x}+{size:#x} outside the load window"
            );
            entry_loaded |= (start..start + size).contains(&entry);
        }
        assert!(
            entry_loaded,
            "{path}: entry {entry:#x} in no PT_LOAD segment"
        );
    }
}
