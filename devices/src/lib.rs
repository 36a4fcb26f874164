//! Virtual devices for the hypervisor: the unified interface, the bus and the models.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bus;
pub mod debug_exit;
pub mod interface;
pub mod pci;
pub mod pic8259;
pub mod pit8254;
pub mod rtc_cmos;
pub mod testing;
pub mod uart16550;
