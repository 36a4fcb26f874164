//! The hypervisor kernel as a library: everything `main.rs` wires together.
#![cfg_attr(not(test), no_std)]
