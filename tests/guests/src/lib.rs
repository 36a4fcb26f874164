//! The test-guest kit: what every 64-bit test guest of the hypervisor shares.
//!
//! The guests run inside a VM as the platform contract (`issue 4`, "The guest platform the
//! hypervisor offers") describes it: entered in 64-bit mode at the ELF entry with paging on
//! (identity map of 0..4 GiB), interrupts off, no IDT, RSP = top of RAM − 16, RDI = RAM size in
//! bytes, RSI = the hypervisor's own physical load address. The kit gives them:
//!
//! - [`entry!`]: the `_start` glue that hands RDI/RSI to the guest's `main` as a [`BootInfo`] and
//!   exits with the status `main` returns;
//! - [`serial`]: console output through the 16550 UART at 0x3F8 ([`print!`], [`println!`]);
//! - [`exit`]: end the VM through the debug-exit port 0xF4 (status `v` for a write of `v`);
//! - [`hypercall`]: the VMCALL interface (PING, CONSOLE_WRITE, EXIT);
//! - [`idt`]: a minimal IDT whose handlers record the vector and error code of an expected
//!   fault and resume after the faulting instruction ([`idt::try_rdmsr`] …); an unexpected
//!   exception prints the frame and exits with [`STATUS_EXCEPTION`];
//! - [`port`]: port I/O of every width and string I/O;
//! - [`check`]: a pass/fail tally that prints every check, so a failing run reads like a report;
//! - [`escape`]: the isolation probes shared by the `escape_*` guests;
//! - for the interrupt guests: [`interrupts`] (STI/CLI/HLT), [`pic`] (the 8259A pair at
//!   vectors 0x20/0x28), [`pit`] (counter 0 on IRQ 0), [`rtc`] (time of day, IRQ 8) and
//!   [`test_device`] (the MMIO test device's DMA and interrupt registers); [`idt::set_handler`]
//!   installs their handlers;
//! - for the APIC guests (`vm_apic=on`): [`lapic`] (the local APIC through its xAPIC page or
//!   x2APIC MSRs: timer, TSC deadline, self IPIs, EOI; vectors 0x30–0x3F) and [`ioapic`] (the
//!   I/O APIC's redirection entries);
//! - the panic handler: prints the message and location, exits with [`STATUS_PANIC`].
//!
//! Everything is single-threaded and the kit keeps no locks. Guests run with interrupts off
//! unless they enable them; state a handler shares with the main program is atomics, and
//! multi-access port sequences run under [`interrupts::without`].

#![no_std]

pub mod check;
pub mod escape;
pub mod hypercall;
pub mod idt;
pub mod interrupts;
pub mod ioapic;
pub mod lapic;
pub mod pic;
pub mod pit;
pub mod port;
pub mod rtc;
pub mod serial;
pub mod test_device;

use core::panic::PanicInfo;

/// The debug-exit port: writing `v` stops the VM with status `v`.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;

/// Exit status of a guest whose checks all passed.
pub const STATUS_SUCCESS: u32 = 0;
/// Exit status of a guest some check of which failed.
pub const STATUS_FAILURE: u32 = 1;
/// Exit status after a Rust panic in the guest.
pub const STATUS_PANIC: u32 = 2;
/// Exit status after an exception the guest did not expect.
pub const STATUS_EXCEPTION: u32 = 3;

/// What the hypervisor hands a long-mode guest at entry (RDI, RSI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootInfo {
    /// Bytes of guest RAM (RDI): RAM is guest-physical `0..ram_bytes`.
    pub ram_bytes: u64,
    /// The hypervisor's own physical load address (RSI), for the isolation tests.
    pub hypervisor_phys: u64,
}

/// Ends the VM with `status` through the debug-exit port. If the write returns (no debug-exit
/// device), the CPU halts forever.
pub fn exit(status: u32) -> ! {
    port::outl(DEBUG_EXIT_PORT, status);
    loop {
        // SAFETY: `hlt` with interrupts off only stops the CPU; nothing is read or written.
        unsafe { core::arch::asm!("hlt", options(nomem, nostack)) };
    }
}

/// Runs the guest's `main` and exits with its status. Called by the `_start` that [`entry!`]
/// generates; not meant to be called otherwise.
#[doc(hidden)]
pub fn start(main: fn(BootInfo) -> u32, ram_bytes: u64, hypervisor_phys: u64) -> ! {
    serial::init();
    idt::install();
    let status = main(BootInfo {
        ram_bytes,
        hypervisor_phys,
    });
    exit(status)
}

/// Declares the guest's entry: `entry!(main)` with `fn main(boot: BootInfo) -> u32`.
///
/// It emits the ELF entry `_start`, a naked function that clears RBP (the end of frame-pointer
/// chains) and calls [`start`] with the contract's RDI (RAM size) and RSI (hypervisor address)
/// as the first two SysV arguments. Entering through a `call` keeps the alignment the ABI
/// expects (RSP ≡ 8 mod 16 on entry): the contract's RSP is 16-byte aligned.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The ELF entry point: RDI = RAM size, RSI = the hypervisor's physical address.
        #[unsafe(no_mangle)]
        #[unsafe(naked)]
        pub extern "sysv64" fn _start() -> ! {
            core::arch::naked_asm!(
                "xor ebp, ebp",
                "call {start}",
                "ud2",
                start = sym __guest_start,
            )
        }

        extern "sysv64" fn __guest_start(ram_bytes: u64, hypervisor_phys: u64) -> ! {
            $crate::start($main, ram_bytes, hypervisor_phys)
        }
    };
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    println!("guest panic: {info}");
    exit(STATUS_PANIC)
}
