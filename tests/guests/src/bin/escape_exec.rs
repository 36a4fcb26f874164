//! Isolation test guest: overwrites the hypervisor's physical address (its own RAM, for the
//! guest), then executes code beyond the end of its RAM, which must stop the VM (see [`guests::escape`]).

#![no_std]
#![no_main]

use guests::{BootInfo, entry, escape};

entry!(main);

fn main(boot: BootInfo) -> u32 {
    escape::run(&boot, escape::Access::Execute)
}
