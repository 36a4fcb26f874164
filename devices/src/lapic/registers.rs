//! Local APIC register offsets, MSR numbers and bit fields (Intel SDM Vol. 3A, tables 11-1 and
//! 11-6, figures 11-7 to 11-12, 11-18 and 11-23).
//!
//! xAPIC registers sit on 16-byte boundaries of the 4 KiB page; the x2APIC MSR of the register
//! at xAPIC offset `o` is `0x800 + o / 16` (SDM 11.12.1.2).

/// xAPIC page offsets (SDM table 11-1).
pub mod offset {
    /// Local APIC ID.
    pub const ID: u32 = 0x020;
    /// Local APIC version.
    pub const VERSION: u32 = 0x030;
    /// Task priority.
    pub const TPR: u32 = 0x080;
    /// Arbitration priority (not supported since the Pentium 4: reads 0, writes ignored).
    pub const APR: u32 = 0x090;
    /// Processor priority (read only, computed).
    pub const PPR: u32 = 0x0A0;
    /// End of interrupt (write only).
    pub const EOI: u32 = 0x0B0;
    /// Remote read (not supported since the Pentium 4: reads 0).
    pub const RRD: u32 = 0x0C0;
    /// Logical destination.
    pub const LDR: u32 = 0x0D0;
    /// Destination format (xAPIC only).
    pub const DFR: u32 = 0x0E0;
    /// Spurious interrupt vector.
    pub const SVR: u32 = 0x0F0;
    /// In-service register, eight 32-bit words at 16-byte strides.
    pub const ISR: u32 = 0x100;
    /// Trigger mode register, eight words.
    pub const TMR: u32 = 0x180;
    /// Interrupt request register, eight words.
    pub const IRR: u32 = 0x200;
    /// Error status.
    pub const ESR: u32 = 0x280;
    /// LVT corrected machine-check interrupt (not modelled: max LVT entry is 5).
    pub const LVT_CMCI: u32 = 0x2F0;
    /// Interrupt command, low half.
    pub const ICR_LOW: u32 = 0x300;
    /// Interrupt command, high half (xAPIC only; x2APIC has one 64-bit MSR).
    pub const ICR_HIGH: u32 = 0x310;
    /// LVT timer.
    pub const LVT_TIMER: u32 = 0x320;
    /// LVT thermal sensor.
    pub const LVT_THERMAL: u32 = 0x330;
    /// LVT performance-monitoring counters.
    pub const LVT_PERF: u32 = 0x340;
    /// LVT LINT0.
    pub const LVT_LINT0: u32 = 0x350;
    /// LVT LINT1.
    pub const LVT_LINT1: u32 = 0x360;
    /// LVT error.
    pub const LVT_ERROR: u32 = 0x370;
    /// Timer initial count.
    pub const TIMER_INITIAL: u32 = 0x380;
    /// Timer current count (read only).
    pub const TIMER_CURRENT: u32 = 0x390;
    /// Timer divide configuration.
    pub const TIMER_DIVIDE: u32 = 0x3E0;
    /// Self IPI (x2APIC only, write only).
    pub const SELF_IPI: u32 = 0x3F0;
    /// Bytes between two registers.
    pub const STRIDE: u32 = 0x10;
    /// The bytes of a register slot that hold the register (the first dword).
    pub const REGISTER_BYTES: u32 = 4;
    /// Size of the xAPIC page.
    pub const PAGE_SIZE: u32 = 0x1000;
}

/// MSR numbers the local APIC answers.
pub mod msr {
    /// IA32_APIC_BASE.
    pub const APIC_BASE: u32 = 0x1B;
    /// IA32_TSC_DEADLINE.
    pub const TSC_DEADLINE: u32 = 0x6E0;
    /// First x2APIC register MSR.
    pub const X2APIC_FIRST: u32 = 0x800;
    /// Last x2APIC register MSR.
    pub const X2APIC_LAST: u32 = 0x8FF;
    /// The x2APIC ICR (64 bits: destination in 63:32).
    pub const X2APIC_ICR: u32 = 0x830;
    /// Shift from xAPIC offset to x2APIC MSR index.
    pub const OFFSET_SHIFT: u32 = 4;
}

/// IA32_APIC_BASE bits (SDM figure 11-5, 11.12.1).
pub mod base {
    /// Bit 8: this is the bootstrap processor (read only).
    pub const BSP: u64 = 1 << 8;
    /// Bit 10: x2APIC mode enable.
    pub const EXTD: u64 = 1 << 10;
    /// Bit 11: APIC global enable.
    pub const ENABLE: u64 = 1 << 11;
    /// Bits 12 and up (below MAXPHYADDR): the xAPIC page's physical address.
    pub const ADDRESS_SHIFT: u32 = 12;
    /// The power-on page address.
    pub const DEFAULT_ADDRESS: u64 = 0xFEE0_0000;
}

/// Version register (SDM figure 11-7).
pub mod version {
    /// Bits 7:0: version of an integrated (xAPIC) local APIC.
    pub const VERSION: u32 = 0x14;
    /// Bits 23:16 hold the number of LVT entries minus one.
    pub const MAX_LVT_SHIFT: u32 = 16;
    /// Bit 24: EOI-broadcast suppression is supported.
    pub const EOI_SUPPRESSION: u32 = 1 << 24;
}

/// ID register (SDM figure 11-6): the xAPIC ID is bits 31:24.
pub const XAPIC_ID_SHIFT: u32 = 24;

/// TPR and PPR: bits 7:0 (class in 7:4, sub-class in 3:0).
pub mod priority {
    /// The priority byte.
    pub const MASK: u32 = 0xFF;
    /// Bits 7:4: the priority class.
    pub const CLASS_MASK: u8 = 0xF0;
}

/// LDR and DFR (SDM 11.6.2.2).
pub mod logical {
    /// xAPIC LDR bits 31:24: the logical APIC ID.
    pub const XAPIC_LDR_MASK: u32 = 0xFF00_0000;
    /// xAPIC LDR: shift of the logical ID.
    pub const XAPIC_LDR_SHIFT: u32 = 24;
    /// DFR bits 31:28: the model (flat 1111b, cluster 0000b).
    pub const DFR_MODEL_MASK: u32 = 0xF000_0000;
    /// DFR bits 27:0 are reserved and read as ones.
    pub const DFR_RESERVED_ONES: u32 = 0x0FFF_FFFF;
    /// DFR model: flat.
    pub const DFR_FLAT: u32 = 0xF000_0000;
    /// xAPIC cluster model: bits 7:4 of a logical ID name the cluster.
    pub const XAPIC_CLUSTER_SHIFT: u32 = 4;
    /// xAPIC cluster model: bits 3:0 select members.
    pub const XAPIC_MEMBER_MASK: u32 = 0x0F;
    /// x2APIC logical ID: cluster in bits 31:16 ...
    pub const X2APIC_CLUSTER_SHIFT: u32 = 16;
    /// ... and a one-hot member bit in 15:0, for x2APIC ID bits 3:0.
    pub const X2APIC_MEMBER_MASK: u32 = 0xFFFF;
    /// x2APIC ID bits 3:0 pick the member bit.
    pub const X2APIC_MEMBER_ID_MASK: u32 = 0x0F;
    /// x2APIC ID bits 19:4 are the cluster.
    pub const X2APIC_CLUSTER_ID_SHIFT: u32 = 4;
    /// The xAPIC broadcast destination (physical and logical).
    pub const XAPIC_BROADCAST: u32 = 0xFF;
    /// The x2APIC broadcast destination.
    pub const X2APIC_BROADCAST: u32 = 0xFFFF_FFFF;
    /// An xAPIC cluster number that addresses every cluster.
    pub const XAPIC_ALL_CLUSTERS: u32 = 0x0F;
    /// An x2APIC cluster number that addresses every cluster.
    pub const X2APIC_ALL_CLUSTERS: u32 = 0xFFFF;
}

/// Spurious-interrupt vector register (SDM figure 11-23).
pub mod svr {
    /// Bits 7:0: the spurious vector.
    pub const VECTOR: u32 = 0xFF;
    /// Bit 8: APIC software enable.
    pub const ENABLE: u32 = 1 << 8;
    /// Bit 12: suppress EOI broadcasts for level-triggered interrupts.
    pub const EOI_BROADCAST_SUPPRESSION: u32 = 1 << 12;
    /// Bits a write stores (bit 9, focus checking, is reserved since the Pentium 4).
    pub const WRITABLE: u32 = VECTOR | ENABLE | EOI_BROADCAST_SUPPRESSION;
    /// Power-on value: vector 0xFF, software disabled.
    pub const RESET: u32 = 0xFF;
}

/// Error status register bits (SDM figure 11-9).
pub mod esr {
    /// Bit 2: a sent message was not accepted (here: the VMM's IPI queue was full).
    pub const SEND_ACCEPT: u32 = 1 << 2;
    /// Bit 5: an IPI was sent with a vector below 16.
    pub const SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
    /// Bit 6: an interrupt with a vector below 16 was received or generated locally.
    pub const RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;
    /// Bit 7: a reserved register of the xAPIC page was accessed.
    pub const ILLEGAL_REGISTER_ADDRESS: u32 = 1 << 7;
    /// The bits this model reports.
    pub const MODELLED: u32 =
        SEND_ACCEPT | SEND_ILLEGAL_VECTOR | RECEIVE_ILLEGAL_VECTOR | ILLEGAL_REGISTER_ADDRESS;
}

/// Local vector table entries (SDM figure 11-8).
pub mod lvt {
    /// Bits 7:0: vector.
    pub const VECTOR: u32 = 0xFF;
    /// Bits 10:8: delivery mode (thermal, performance, LINT0, LINT1).
    pub const DELIVERY_MODE: u32 = 0x700;
    /// Shift of the delivery mode.
    pub const DELIVERY_MODE_SHIFT: u32 = 8;
    /// Bit 12: delivery status (read only; always idle here).
    pub const DELIVERY_STATUS: u32 = 1 << 12;
    /// Bit 13: input pin polarity, 1 = active low (LINT0/1).
    pub const POLARITY_LOW: u32 = 1 << 13;
    /// Bit 14: remote IRR (read only; LINT0/1 fixed level-triggered).
    pub const REMOTE_IRR: u32 = 1 << 14;
    /// Bit 15: trigger mode, 1 = level (LINT0/1).
    pub const LEVEL: u32 = 1 << 15;
    /// Bit 16: masked.
    pub const MASK: u32 = 1 << 16;
    /// Bits 18:17: timer mode (timer entry only).
    pub const TIMER_MODE: u32 = 3 << 17;
    /// Shift of the timer mode.
    pub const TIMER_MODE_SHIFT: u32 = 17;
    /// Power-on value of every entry: masked, all else zero.
    pub const RESET: u32 = MASK;
    /// Writable bits of the timer entry.
    pub const TIMER_WRITABLE: u32 = VECTOR | MASK | TIMER_MODE;
    /// Writable bits of the thermal and performance entries.
    pub const LOCAL_WRITABLE: u32 = VECTOR | DELIVERY_MODE | MASK;
    /// Writable bits of the LINT0 and LINT1 entries.
    pub const LINT_WRITABLE: u32 = VECTOR | DELIVERY_MODE | POLARITY_LOW | LEVEL | MASK;
    /// Writable bits of the error entry.
    pub const ERROR_WRITABLE: u32 = VECTOR | MASK;
}

/// Interrupt command register, low half (SDM figure 11-12).
pub mod icr {
    /// Bits 7:0: vector.
    pub const VECTOR: u32 = 0xFF;
    /// Bits 10:8: delivery mode.
    pub const DELIVERY_MODE: u32 = 0x700;
    /// Shift of the delivery mode.
    pub const DELIVERY_MODE_SHIFT: u32 = 8;
    /// Bit 11: destination mode, 1 = logical.
    pub const LOGICAL: u32 = 1 << 11;
    /// Bit 12: delivery status (read only, xAPIC only).
    pub const DELIVERY_STATUS: u32 = 1 << 12;
    /// Bit 14: level, 1 = assert.
    pub const ASSERT: u32 = 1 << 14;
    /// Bit 15: trigger mode, 1 = level.
    pub const LEVEL: u32 = 1 << 15;
    /// Bits 19:18: destination shorthand.
    pub const SHORTHAND: u32 = 3 << 18;
    /// Shift of the shorthand.
    pub const SHORTHAND_SHIFT: u32 = 18;
    /// Writable bits of the low half.
    pub const WRITABLE: u32 = VECTOR | DELIVERY_MODE | LOGICAL | ASSERT | LEVEL | SHORTHAND;
    /// xAPIC ICR high: the destination is bits 31:24.
    pub const XAPIC_DESTINATION_SHIFT: u32 = 24;
    /// xAPIC ICR high: the writable bits.
    pub const XAPIC_HIGH_WRITABLE: u32 = 0xFF00_0000;
    /// x2APIC ICR: the destination is bits 63:32.
    pub const X2APIC_DESTINATION_SHIFT: u32 = 32;
}

/// Timer divide configuration (SDM figure 11-10): bits 0, 1 and 3.
pub mod divide {
    /// The bits that hold the divisor code.
    pub const WRITABLE: u32 = 0b1011;
    /// Bits 1:0 of the code.
    pub const LOW_BITS: u32 = 0b0011;
    /// Bit 3 of the register is bit 2 of the code.
    pub const HIGH_BIT: u32 = 0b1000;
    /// Shift from register bit 3 to code bit 2.
    pub const HIGH_BIT_SHIFT: u32 = 1;
    /// The code's width mask.
    pub const CODE_MASK: u32 = 0b111;
}

/// Self-IPI register (x2APIC): bits 7:0 are the vector.
pub const SELF_IPI_VECTOR: u32 = 0xFF;

/// Vectors 0–15 are reserved for exceptions: an APIC never delivers them (SDM 11.5.2).
pub const FIRST_LEGAL_VECTOR: u8 = 16;
