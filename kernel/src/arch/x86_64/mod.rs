//! x86_64: descriptor tables, exceptions, the local APIC and its timer, the PIT used to
//! calibrate it, and the legacy PIC (masked).
pub mod calibration;
pub mod cmos_clock;
pub mod cpu;
pub mod gdt;
pub mod idt;
pub mod lapic;
pub mod legacy_pic;
pub mod pit;
pub mod tsc;
