//! Device method 3, host-driver backed: a guest that prints [`LINES`] long lines through its
//! COM1, a 16550 the hypervisor emulates and backs with its own driver for the host's one real
//! COM1, shared with the other VMs. Each line takes a few hundred UART exits, longer than a
//! scheduler slice, so with two such VMs running together their lines are in flight at the
//! same time; the hypervisor must still put each one on the host console whole and tagged.
//!
//! Line `i` of a VM with `m` MiB of RAM reads `chatter m MiB line i/LINES: ` followed by
//! [`FILLER_LEN`] letters of the alphabet starting at letter `(m + i) mod 26` and wrapping
//! (`tests/vmx_methods.rs` rebuilds every line from this rule). Two VMs given different RAM
//! sizes thus print different lines, so bytes of one VM's line inside the other's show.

#![no_std]
#![no_main]

use guests::serial::write_byte;
use guests::{BootInfo, entry, print, println};

entry!(main);

/// Lines printed.
const LINES: u64 = 40;
/// Letters after the line's header.
const FILLER_LEN: u64 = 80;
/// Letters in the alphabet the filler cycles through.
const ALPHABET_LEN: u64 = 26;
/// Bytes in a MiB.
const MIB: u64 = 1 << 20;

fn main(boot: BootInfo) -> u32 {
    let mib = boot.ram_bytes / MIB;
    for line in 0..LINES {
        print!("chatter {mib} MiB line {line}/{LINES}: ");
        for index in 0..FILLER_LEN {
            let letter = mib.wrapping_add(line).wrapping_add(index) % ALPHABET_LEN;
            // `letter` < 26, so the sum is a lowercase ASCII letter.
            write_byte(b'a' + letter as u8);
        }
        write_byte(b'\n');
    }
    println!("chatter done: {LINES} lines");
    guests::STATUS_SUCCESS
}
