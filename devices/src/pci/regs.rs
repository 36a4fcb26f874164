//! Offsets and bits of the type-0 configuration header (PCI Local Bus Specification 3.0, §6.1,
//! figure 6-1 and §6.2).

/// Vendor ID (16 bits, read-only).
pub const VENDOR_ID: u16 = 0x00;
/// Device ID (16 bits, read-only).
pub const DEVICE_ID: u16 = 0x02;
/// Command register (16 bits).
pub const COMMAND: u16 = 0x04;
/// Status register (16 bits; error bits are write-1-to-clear).
pub const STATUS: u16 = 0x06;
/// Revision ID (8 bits, read-only).
pub const REVISION_ID: u16 = 0x08;
/// Programming interface, the low byte of the class code.
pub const PROG_IF: u16 = 0x09;
/// Sub-class code.
pub const SUBCLASS: u16 = 0x0A;
/// Base class code.
pub const CLASS: u16 = 0x0B;
/// Cache line size (8 bits, read/write).
pub const CACHE_LINE_SIZE: u16 = 0x0C;
/// Latency timer (8 bits, read/write).
pub const LATENCY_TIMER: u16 = 0x0D;
/// Header type (8 bits, read-only; bit 7: multi-function).
pub const HEADER_TYPE: u16 = 0x0E;
/// First of the six base address registers (32 bits each).
pub const BAR0: u16 = 0x10;
/// Number of BARs in a type-0 header.
pub const BAR_COUNT: usize = 6;
/// Bytes per BAR register.
pub const BAR_BYTES: u16 = 4;
/// Subsystem vendor ID (16 bits, read-only).
pub const SUBSYSTEM_VENDOR_ID: u16 = 0x2C;
/// Subsystem ID (16 bits, read-only).
pub const SUBSYSTEM_ID: u16 = 0x2E;
/// Expansion ROM base address (not implemented: reads zero, so sizing reports no ROM).
pub const EXPANSION_ROM: u16 = 0x30;
/// Capabilities pointer (8 bits, read-only).
pub const CAPABILITIES_POINTER: u16 = 0x34;
/// Interrupt line (8 bits, read/write: the guest's routing note).
pub const INTERRUPT_LINE: u16 = 0x3C;
/// Interrupt pin (8 bits, read-only: 0 none, 1–4 INTA#–INTD#).
pub const INTERRUPT_PIN: u16 = 0x3D;
/// Size of the conventional configuration space; bytes above it (PCI Express extended space)
/// read zero here.
pub const CONVENTIONAL_BYTES: usize = 256;

/// Header type 0: a general device.
pub const HEADER_TYPE_GENERAL: u8 = 0x00;
/// Header type bit 7: the device has several functions.
pub const HEADER_TYPE_MULTI_FUNCTION: u8 = 0x80;

/// Command bit 0: respond to I/O-space accesses (I/O BARs decode).
pub const COMMAND_IO_SPACE: u16 = 1 << 0;
/// Command bit 1: respond to memory-space accesses (memory BARs decode).
pub const COMMAND_MEMORY_SPACE: u16 = 1 << 1;
/// Command bit 2: the function may master the bus (DMA).
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;
/// Command bit 6: parity error response.
pub const COMMAND_PARITY_ERROR_RESPONSE: u16 = 1 << 6;
/// Command bit 8: SERR# enable.
pub const COMMAND_SERR: u16 = 1 << 8;
/// Command bit 10: INTx# disabled.
pub const COMMAND_INTERRUPT_DISABLE: u16 = 1 << 10;

/// Status bit 3: INTx# pending (read-only).
pub const STATUS_INTERRUPT: u16 = 1 << 3;
/// Status bit 4: the capabilities list is valid.
pub const STATUS_CAPABILITIES_LIST: u16 = 1 << 4;
/// Status bit 7: fast back-to-back capable.
pub const STATUS_FAST_BACK_TO_BACK: u16 = 1 << 7;
/// Status bits 10:9 = 01: medium DEVSEL timing.
pub const STATUS_DEVSEL_MEDIUM: u16 = 1 << 9;
/// Status error bits (15:11 and 8), write-1-to-clear.
pub const STATUS_ERRORS_W1C: u16 = 0xF900;

/// BAR bit 0: the BAR maps I/O space.
pub const BAR_IO_SPACE: u32 = 1 << 0;
/// Memory BAR bits 2:1 = 10: 64-bit, the next BAR holds the upper half.
pub const BAR_MEMORY_64: u32 = 0b10 << 1;
/// Memory BAR bit 3: prefetchable.
pub const BAR_PREFETCHABLE: u32 = 1 << 3;
/// Low bits of an I/O BAR that are not address (indicator + reserved).
pub const BAR_IO_FLAG_BITS: u32 = 0b11;
/// Low bits of a memory BAR that are not address (indicator, type, prefetchable).
pub const BAR_MEMORY_FLAG_BITS: u32 = 0b1111;
