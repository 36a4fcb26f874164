//! The smallest test guest (and the demo guest of `cargo run`): prints one line and exits 0
//! through the debug-exit port.

#![no_std]
#![no_main]

use guests::{BootInfo, STATUS_SUCCESS, entry, println};

entry!(main);

fn main(_boot: BootInfo) -> u32 {
    println!("hello from a guest");
    STATUS_SUCCESS
}
