//! CPUID, MSR and hypercall test guest: what the platform contract ("CPUID and MSRs as the guest
//! sees them", "Hypercalls") promises, checked one line each:
//!
//! - CPUID.1:ECX: VMX (bit 5) clear, hypervisor present (bit 31) set; CPUID 0x40000000: max
//!   leaf 0x40000001 and the signature "RustMicroHV!" (Intel SDM vol. 2A, CPUID);
//! - IA32_FEATURE_CONTROL reads 1 (locked, VMX off) and a write raises #GP(0); an unknown MSR
//!   raises #GP(0) on RDMSR and WRMSR (caught by the kit's IDT, the instruction skipped);
//! - the MSRs that work as on hardware: EFER shows long mode active, MTRRcap and
//!   MTRR_DEF_TYPE read 0, the TSC advances, and KERNEL_GS_BASE, STAR, LSTAR, SYSENTER_CS and
//!   TSC_AUX read back what was written;
//! - hypercalls: PING's signature and ABI version, an unknown function, CONSOLE_WRITE of guest
//!   RAM and of an address beyond RAM; the guest ends with the EXIT hypercall.

#![no_std]
#![no_main]

use core::arch::x86_64::__cpuid_count;

use guests::check::Checks;
use guests::hypercall::{self, ABI_VERSION, BAD_BUFFER, PING_SIGNATURE, UNKNOWN_FUNCTION};
use guests::idt::{Fault, VECTOR_GP, try_rdmsr, try_wrmsr};
use guests::{BootInfo, STATUS_FAILURE, entry, exit, println};

entry!(main);

/// CPUID leaf 1: feature information.
const LEAF_FEATURES: u32 = 1;
/// CPUID.1:ECX bit 5: VMX.
const ECX_VMX: u32 = 1 << 5;
/// CPUID.1:ECX bit 31: a hypervisor is present.
const ECX_HYPERVISOR: u32 = 1 << 31;
/// The hypervisor's CPUID range starts here.
const LEAF_HYPERVISOR: u32 = 0x4000_0000;
/// The highest hypervisor leaf the contract promises.
const HYPERVISOR_MAX_LEAF: u32 = 0x4000_0001;
/// EBX:ECX:EDX of leaf 0x40000000.
const HYPERVISOR_SIGNATURE: &[u8; 12] = b"RustMicroHV!";

/// IA32_FEATURE_CONTROL.
const IA32_FEATURE_CONTROL: u32 = 0x3A;
/// What it reads: bit 0 lock set, VMX enables clear.
const FEATURE_CONTROL_LOCKED: u64 = 0x1;
/// An MSR no CPU defines (outside the architectural and synthetic ranges).
const UNKNOWN_MSR: u32 = 0x4000_1234;
/// IA32_EFER.
const IA32_EFER: u32 = 0xC000_0080;
/// EFER.LME (bit 8) and EFER.LMA (bit 10): long mode enabled and active.
const EFER_LME_LMA: u64 = 1 << 8 | 1 << 10;
/// IA32_MTRRCAP.
const IA32_MTRRCAP: u32 = 0xFE;
/// IA32_MTRR_DEF_TYPE.
const IA32_MTRR_DEF_TYPE: u32 = 0x2FF;
/// IA32_TIME_STAMP_COUNTER.
const IA32_TSC: u32 = 0x10;
/// IA32_KERNEL_GS_BASE.
const IA32_KERNEL_GS_BASE: u32 = 0xC000_0102;
/// IA32_STAR.
const IA32_STAR: u32 = 0xC000_0081;
/// IA32_LSTAR (must hold a canonical address).
const IA32_LSTAR: u32 = 0xC000_0082;
/// IA32_SYSENTER_CS.
const IA32_SYSENTER_CS: u32 = 0x174;
/// IA32_TSC_AUX (32 bits).
const IA32_TSC_AUX: u32 = 0xC000_0103;
/// IA32_PAT, IA32_APIC_BASE, IA32_MISC_ENABLE: must read without a fault.
const READABLE_MSRS: [(&str, u32); 3] = [
    ("IA32_PAT", 0x277),
    ("IA32_APIC_BASE", 0x1B),
    ("IA32_MISC_ENABLE", 0x1A0),
];
/// MSRs written and read back, with the value: harmless for a guest that makes no system calls
/// and never executes SWAPGS. Base addresses are canonical (a non-canonical one raises #GP).
const ROUND_TRIP_MSRS: [(&str, u32, u64); 5] = [
    (
        "IA32_KERNEL_GS_BASE",
        IA32_KERNEL_GS_BASE,
        0x0000_7FFF_1234_5670,
    ),
    ("IA32_STAR", IA32_STAR, 0x0023_0010_0000_0000),
    ("IA32_LSTAR", IA32_LSTAR, 0xFFFF_8000_0012_3450),
    ("IA32_SYSENTER_CS", IA32_SYSENTER_CS, 0x08),
    ("IA32_TSC_AUX", IA32_TSC_AUX, 0x5A5A),
];
/// A hypercall function number the ABI does not define.
const UNDEFINED_HYPERCALL: u64 = 0x1234;
/// The line sent with CONSOLE_WRITE.
const CONSOLE_LINE: &[u8] = b"console write through a hypercall\n";
/// How far beyond RAM the refused CONSOLE_WRITE buffer lies.
const BEYOND_RAM: u64 = 16 * 1024 * 1024;
/// Length of the refused CONSOLE_WRITE buffer.
const BEYOND_RAM_LENGTH: u64 = 16;

fn main(boot: BootInfo) -> u32 {
    let mut checks = Checks::new();
    cpuid(&mut checks);
    feature_control(&mut checks);
    unknown_msr(&mut checks);
    working_msrs(&mut checks);
    hypercalls(&mut checks, &boot);
    let status = checks.finish();
    println!("exiting through the EXIT hypercall with status {status}");
    let returned = hypercall::exit(u64::from(status));
    println!(
        "EXIT hypercall returned {:#x}: the VM was not stopped",
        returned.rax
    );
    exit(STATUS_FAILURE)
}

/// Leaf 1's VMX and hypervisor bits, leaf 0x40000000's range and signature.
fn cpuid(checks: &mut Checks) {
    let features = __cpuid_count(LEAF_FEATURES, 0);
    checks.equal("CPUID.1:ECX.VMX (bit 5)", features.ecx & ECX_VMX, 0);
    checks.equal(
        "CPUID.1:ECX.hypervisor (bit 31)",
        features.ecx & ECX_HYPERVISOR,
        ECX_HYPERVISOR,
    );
    let leaf = __cpuid_count(LEAF_HYPERVISOR, 0);
    checks.equal(
        "CPUID 0x40000000 EAX (max hypervisor leaf)",
        leaf.eax,
        HYPERVISOR_MAX_LEAF,
    );
    let mut signature = [0u8; 12];
    let (chunks, _) = signature.as_chunks_mut::<4>();
    for (chunk, register) in chunks.iter_mut().zip([leaf.ebx, leaf.ecx, leaf.edx]) {
        *chunk = register.to_le_bytes();
    }
    let shown = core::str::from_utf8(&signature).unwrap_or("(not UTF-8)");
    checks.check(
        &signature == HYPERVISOR_SIGNATURE,
        format_args!("CPUID 0x40000000 EBX:ECX:EDX signature {shown:?}"),
    );
}

/// Whether `result` is the #GP(0) the contract promises.
fn is_gp0<T>(result: &Result<T, Fault>) -> bool {
    matches!(
        result,
        Err(Fault {
            vector: VECTOR_GP,
            error_code: 0
        })
    )
}

/// IA32_FEATURE_CONTROL: reads locked with VMX off, writes fault.
fn feature_control(checks: &mut Checks) {
    match try_rdmsr(IA32_FEATURE_CONTROL) {
        Ok(value) => {
            checks.equal("RDMSR IA32_FEATURE_CONTROL", value, FEATURE_CONTROL_LOCKED);
        }
        Err(fault) => {
            checks.check(
                false,
                format_args!("RDMSR IA32_FEATURE_CONTROL raised {fault:?}"),
            );
        }
    }
    // SAFETY: the write must fault; had it succeeded, it would only set the lock bit again.
    let result = unsafe { try_wrmsr(IA32_FEATURE_CONTROL, FEATURE_CONTROL_LOCKED) };
    checks.check(
        is_gp0(&result),
        format_args!("WRMSR IA32_FEATURE_CONTROL raises #GP(0): {result:?}"),
    );
}

/// An MSR the hypervisor does not know: #GP(0) both ways.
fn unknown_msr(checks: &mut Checks) {
    let result = try_rdmsr(UNKNOWN_MSR);
    checks.check(
        is_gp0(&result),
        format_args!("RDMSR {UNKNOWN_MSR:#x} raises #GP(0): {result:x?}"),
    );
    // SAFETY: the MSR does not exist; the write can only fault.
    let result = unsafe { try_wrmsr(UNKNOWN_MSR, 0) };
    checks.check(
        is_gp0(&result),
        format_args!("WRMSR {UNKNOWN_MSR:#x} raises #GP(0): {result:?}"),
    );
}

/// The MSRs the contract says work as on hardware.
fn working_msrs(checks: &mut Checks) {
    match try_rdmsr(IA32_EFER) {
        Ok(efer) => checks.equal(
            "IA32_EFER LME and LMA (long mode active)",
            efer & EFER_LME_LMA,
            EFER_LME_LMA,
        ),
        Err(fault) => checks.check(false, format_args!("RDMSR IA32_EFER raised {fault:?}")),
    };
    for (name, msr) in [
        ("IA32_MTRRCAP", IA32_MTRRCAP),
        ("IA32_MTRR_DEF_TYPE", IA32_MTRR_DEF_TYPE),
    ] {
        let result = try_rdmsr(msr);
        checks.check(
            result == Ok(0),
            format_args!("RDMSR {name} reads 0: {result:x?}"),
        );
    }
    for (name, msr) in READABLE_MSRS {
        let result = try_rdmsr(msr);
        checks.check(
            result.is_ok(),
            format_args!("RDMSR {name} does not fault: {result:x?}"),
        );
    }
    let first = try_rdmsr(IA32_TSC);
    let second = try_rdmsr(IA32_TSC);
    checks.check(
        matches!((first, second), (Ok(a), Ok(b)) if b > a),
        format_args!("IA32_TSC advances between two reads: {first:x?}, {second:x?}"),
    );
    for (name, msr, value) in ROUND_TRIP_MSRS {
        // SAFETY: each of these MSRs only matters for SYSCALL/SYSENTER/SWAPGS/RDTSCP, which this
        // guest never executes.
        let written = unsafe { try_wrmsr(msr, value) };
        let read = try_rdmsr(msr);
        checks.check(
            written.is_ok() && read == Ok(value),
            format_args!("{name} reads back {value:#x}: write {written:?}, read {read:x?}"),
        );
    }
}

/// PING, an undefined function, CONSOLE_WRITE of RAM and of a buffer beyond RAM.
fn hypercalls(checks: &mut Checks, boot: &BootInfo) {
    let ping = hypercall::ping();
    checks.equal("PING signature in RAX", ping.rax, PING_SIGNATURE);
    checks.equal("PING ABI version in RBX", ping.rbx, ABI_VERSION);
    checks.equal(
        "undefined hypercall returns u64::MAX",
        hypercall::call_unknown(UNDEFINED_HYPERCALL),
        UNKNOWN_FUNCTION,
    );
    let written = hypercall::console_write(CONSOLE_LINE);
    checks.equal(
        "CONSOLE_WRITE returns the bytes written",
        written,
        CONSOLE_LINE.len() as u64,
    );
    let beyond = boot.ram_bytes.saturating_add(BEYOND_RAM);
    checks.equal(
        "CONSOLE_WRITE of a buffer beyond RAM is refused",
        hypercall::console_write_raw(beyond, BEYOND_RAM_LENGTH),
        BAD_BUFFER,
    );
}
