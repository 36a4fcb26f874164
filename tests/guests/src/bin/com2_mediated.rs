//! Device method 2, mediated passthrough: every access to the host's COM2 (ports 0x2F8–0x2FF)
//! traps, and the hypervisor's policy for this VM decides. The test configuration
//! (`tests/configs/mediated.toml`) denies writes to the scratchpad register 0x2FF and allows
//! every other write and every read.
//!
//! The guest programs COM2 (allowed), writes [`SCRATCH_PROBE`] to the scratchpad (denied: the
//! real register never gets it, and the hypervisor logs the attempt), reads the scratchpad
//! (allowed: the real register's value, which must not be the probe) and sends [`LINE`]
//! (allowed: it reaches the machine's second serial port). Each access must have cost exactly
//! one I/O-instruction exit (`EXIT_COUNT`). It reports on COM1 only afterwards.

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
const LINE: &str = "mediated: this line passed the policy to the host's COM2";
/// The value the guest tries to store in the scratchpad register.
const SCRATCH_PROBE: u8 = 0xA5;

fn main(_boot: BootInfo) -> u32 {
    let exits_before = exit_count::io_exits();
    com2::init();
    let line_control = com2::line_control();
    com2::write(com2::SCR, SCRATCH_PROBE);
    let scratch = com2::read(com2::SCR);
    let sent = com2::write_line(LINE);
    let exits_after = exit_count::io_exits();
    let accesses = u64::from(com2::accesses());

    let mut checks = Checks::new();
    checks.equal(
        "COM2 LCR reads back 8N1 (allowed)",
        line_control,
        com2::LCR_8N1,
    );
    checks.check(
        scratch != SCRATCH_PROBE,
        format_args!(
            "COM2 scratchpad reads {scratch:#x}, not the denied write's {SCRATCH_PROBE:#x}"
        ),
    );
    checks.check(
        sent,
        format_args!("COM2 took every byte of the line and drained (allowed)"),
    );
    checks.check(
        exits_after.wrapping_sub(exits_before) == accesses,
        format_args!(
            "{accesses} COM2 accesses caused {} I/O exits (each one trapped)",
            exits_after.wrapping_sub(exits_before)
        ),
    );
    println!("sent to COM2: {LINE}");
    checks.finish()
}
