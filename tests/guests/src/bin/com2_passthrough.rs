//! Device method 1, passthrough: the host's COM2 belongs to this VM, its ports 0x2F8–0x2FF are
//! clear in the I/O bitmap, so the guest's UART driver talks to the real device without a VM
//! exit.
//!
//! The guest programs COM2 (115200 8N1), stores [`SCRATCH_PROBE`] in the scratchpad register
//! and reads it back (a real 16550 keeps it: the accesses reach the device), and sends
//! [`LINE`], which the machine's second serial port writes to its file. Around all of that it
//! asks the hypervisor how many I/O-instruction exits it has had (`EXIT_COUNT`): there must be
//! none for the COM2 accesses it counted. It reports on COM1 (its console) only afterwards, so
//! that console I/O does not mix into the count.

#![no_std]
#![no_main]

#[path = "shared/com2.rs"]
mod com2;
#[path = "shared/exit_count.rs"]
mod exit_count;

use guests::check::Checks;
use guests::{BootInfo, entry, println};

entry!(main);

/// What the guest sends through COM2 (the test finds it in the COM2 file).
const LINE: &str = "passthrough: this line went straight to the host's COM2";
/// The value stored in the scratchpad register.
const SCRATCH_PROBE: u8 = 0x5A;

fn main(_boot: BootInfo) -> u32 {
    let exits_before = exit_count::io_exits();
    com2::init();
    let line_control = com2::line_control();
    com2::write(com2::SCR, SCRATCH_PROBE);
    let scratch = com2::read(com2::SCR);
    let sent = com2::write_line(LINE);
    let exits_after = exit_count::io_exits();
    let accesses = com2::accesses();

    let mut checks = Checks::new();
    checks.equal("COM2 LCR reads back 8N1", line_control, com2::LCR_8N1);
    checks.equal(
        "COM2 scratchpad keeps the value written (the real device)",
        scratch,
        SCRATCH_PROBE,
    );
    checks.check(
        sent,
        format_args!("COM2 took every byte of the line and drained"),
    );
    checks.check(
        accesses > 0 && exits_after == exits_before,
        format_args!(
            "{accesses} COM2 accesses caused {} I/O exits",
            exits_after.wrapping_sub(exits_before)
        ),
    );
    println!("sent to COM2: {LINE}");
    checks.finish()
}
