//! Ending a run: one routine for QEMU, Bochs and real hardware.
//!
//! The protocol the host tool reads: a last console line `HV-EXIT status=<n>`, then
//! - a write of the status to port 0xF4 (QEMU's `isa-debug-exit` exits with `(n << 1) | 1`),
//! - `xchg bx, bx` (Bochs' magic breakpoint drops into its debugger, whose script then quits),
//! - and, on hardware, the CPU halts with interrupts off.

use x86_64::instructions::port::Port;

/// QEMU's `isa-debug-exit` device port (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// How a run ended. The numeric value is the host tool's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Everything asked for ran and passed.
    Success = 0,
    /// A self-test found a wrong value.
    TestFailed = 1,
    /// The hypervisor panicked.
    Panic = 2,
    /// A CPU exception the hypervisor does not handle.
    CpuException = 3,
    /// The boot command line asked for something that does not exist.
    BadCommandLine = 4,
    /// A VM did not exit with status 0 (it crashed, was stopped, or reported a failure).
    VmFailed = 5,
}

/// Print the exit line and stop the machine with `status`.
pub fn exit(status: ExitStatus) -> ! {
    use core::fmt::Write as _;
    x86_64::instructions::interrupts::disable();
    let code = status as u8;
    let _ = writeln!(crate::console::emergency_writer(), "HV-EXIT status={code}");
    // Emulators with serial timing (Bochs) stop at the exit before a full transmit FIFO drains.
    crate::console::serial::drain();
    let mut debug_exit = Port::<u8>::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xF4 is QEMU's debug-exit device when present and unclaimed on the PC
    // platforms we boot on (Bochs, the machines we target); a write there has no other effect.
    unsafe { debug_exit.write(code) };
    // SAFETY: `xchg bx, bx` only swaps BX with itself; Bochs treats it as a breakpoint.
    unsafe { core::arch::asm!("xchg bx, bx", options(nomem, nostack, preserves_flags)) };
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
