//! The hypervisor kernel as a library: everything `main.rs` wires together. Modules that do
//! not touch hardware (allocator bookkeeping, calibration arithmetic, capability decoding,
//! the command line) are unit-tested on the host with `cargo test -p kernel`.
#![cfg_attr(not(test), no_std)]
#![feature(abi_x86_interrupt)]

extern crate alloc;

pub mod acpi_tables;
pub mod arch;
pub mod bootfs;
pub mod cmdline;
pub mod console;
pub mod exit;
pub mod mm;
pub mod selftest;
pub mod vm;
pub mod vmx;
