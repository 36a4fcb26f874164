//! I/O APIC register offsets, indirect register indices and bit fields (Intel 82093AA
//! datasheet, order 290566, section 3; the EOI register of version-0x20 I/O APICs as in the
//! ICH/PCH datasheets).

/// MMIO offsets from the base.
pub mod offset {
    /// I/O register select: bits 7:0 pick the register IOWIN reaches.
    pub const IOREGSEL: u64 = 0x00;
    /// I/O window: the selected register.
    pub const IOWIN: u64 = 0x10;
    /// EOI: writing a vector ends level-triggered interrupts with it (version 0x20).
    pub const EOI: u64 = 0x40;
    /// Bytes the I/O APIC claims (one page).
    pub const SIZE: u64 = 0x1000;
    /// Registers are 32 bits wide.
    pub const REGISTER_BYTES: u64 = 4;
}

/// Indirect registers (IOREGSEL values).
pub mod index {
    /// IOAPICID.
    pub const ID: u8 = 0x00;
    /// IOAPICVER (read only).
    pub const VERSION: u8 = 0x01;
    /// IOAPICARB (read only).
    pub const ARBITRATION: u8 = 0x02;
    /// Redirection entry `n` low dword is at `0x10 + 2n`, high dword at `0x11 + 2n`.
    pub const REDIRECTION_FIRST: u8 = 0x10;
    /// IOREGSEL keeps bits 7:0.
    pub const SELECT_MASK: u32 = 0xFF;
}

/// IOAPICID / IOAPICARB: the 4-bit ID in bits 27:24.
pub mod id {
    /// Shift of the ID.
    pub const SHIFT: u32 = 24;
    /// The ID's width mask (after shifting down).
    pub const MASK: u32 = 0x0F;
}

/// IOAPICVER.
pub mod version {
    /// Bits 7:0: the version (0x20: with the EOI register).
    pub const VERSION: u32 = 0x20;
    /// Bits 23:16: the highest redirection entry.
    pub const MAX_ENTRY_SHIFT: u32 = 16;
}

/// Redirection entry bits (datasheet 3.2.4), in the 64-bit entry.
pub mod entry {
    /// Bits 7:0: vector.
    pub const VECTOR: u64 = 0xFF;
    /// Bits 10:8: delivery mode.
    pub const DELIVERY_MODE_SHIFT: u32 = 8;
    /// The delivery mode field.
    pub const DELIVERY_MODE: u64 = 0x7 << DELIVERY_MODE_SHIFT;
    /// Bit 11: destination mode, 1 = logical.
    pub const LOGICAL: u64 = 1 << 11;
    /// Bit 12: delivery status (read only; always idle here).
    pub const DELIVERY_STATUS: u64 = 1 << 12;
    /// Bit 13: input pin polarity, 1 = active low.
    pub const POLARITY_LOW: u64 = 1 << 13;
    /// Bit 14: remote IRR (read only).
    pub const REMOTE_IRR: u64 = 1 << 14;
    /// Bit 15: trigger mode, 1 = level.
    pub const LEVEL: u64 = 1 << 15;
    /// Bit 16: masked.
    pub const MASK: u64 = 1 << 16;
    /// Bits 63:56: destination.
    pub const DESTINATION_SHIFT: u32 = 56;
    /// The destination field.
    pub const DESTINATION: u64 = 0xFF << DESTINATION_SHIFT;
    /// Bits a guest write stores.
    pub const WRITABLE: u64 =
        VECTOR | DELIVERY_MODE | LOGICAL | POLARITY_LOW | LEVEL | MASK | DESTINATION;
    /// Power-on value: masked, everything else zero.
    pub const RESET: u64 = MASK;
    /// Shift of the high dword.
    pub const HIGH_SHIFT: u32 = 32;
}
