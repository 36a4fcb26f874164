//! Build script of the test guests: links them without DWARF debug information.
//!
//! The guests travel to the hypervisor inside the bootloader's ramdisk, which the BIOS stage
//! reads through slow real-mode disk calls under emulation; debug sections would make each ELF
//! ~15 times larger. Symbols stay, so `llvm-objdump -d` still names every function.

fn main() {
    println!("cargo:rustc-link-arg-bins=--strip-debug");
}
