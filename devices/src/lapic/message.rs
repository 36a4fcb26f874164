//! The APIC interrupt message fields shared by the local APIC's ICR and LVT and the I/O APIC's
//! redirection entries (SDM 11.6.1, figure 11-12; 82093AA datasheet 3.2.4), and the IPI record
//! the local APIC hands the VMM.

/// The 3-bit delivery mode field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryMode {
    /// 000: the vector, to every destination.
    Fixed,
    /// 001: the vector, to the lowest-priority destination.
    LowestPriority,
    /// 010: system management interrupt.
    Smi,
    /// 011: reserved.
    Reserved3,
    /// 100: non-maskable interrupt (vector ignored).
    Nmi,
    /// 101: INIT (vector ignored).
    Init,
    /// 110: start-up IPI (ICR only; reserved in LVT and redirection entries).
    StartUp,
    /// 111: external interrupt: the vector comes from an 8259A (LVT and I/O APIC only).
    ExtInt,
}

impl DeliveryMode {
    /// Mask of the 3-bit code.
    pub const CODE_MASK: u32 = 0b111;

    /// Decodes the low three bits of `code`.
    pub const fn from_code(code: u32) -> Self {
        match code & Self::CODE_MASK {
            0 => DeliveryMode::Fixed,
            1 => DeliveryMode::LowestPriority,
            2 => DeliveryMode::Smi,
            3 => DeliveryMode::Reserved3,
            4 => DeliveryMode::Nmi,
            5 => DeliveryMode::Init,
            6 => DeliveryMode::StartUp,
            _ => DeliveryMode::ExtInt,
        }
    }

    /// The 3-bit code.
    pub const fn code(self) -> u32 {
        match self {
            DeliveryMode::Fixed => 0,
            DeliveryMode::LowestPriority => 1,
            DeliveryMode::Smi => 2,
            DeliveryMode::Reserved3 => 3,
            DeliveryMode::Nmi => 4,
            DeliveryMode::Init => 5,
            DeliveryMode::StartUp => 6,
            DeliveryMode::ExtInt => 7,
        }
    }

    /// Fixed and lowest-priority messages carry a vector into the IRR.
    pub const fn carries_vector(self) -> bool {
        matches!(self, DeliveryMode::Fixed | DeliveryMode::LowestPriority)
    }
}

/// How a destination field is read (ICR bit 11, redirection entry bit 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationMode {
    /// An APIC ID.
    Physical,
    /// A logical ID matched against each LDR (flat/cluster in xAPIC, cluster in x2APIC).
    Logical,
}

/// The ICR's destination shorthand (bits 19:18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shorthand {
    /// 00: the destination field names the targets.
    None,
    /// 01: this APIC only.
    ToSelf,
    /// 10: every APIC, this one included.
    AllIncludingSelf,
    /// 11: every other APIC.
    AllExcludingSelf,
}

impl Shorthand {
    /// Decodes the low two bits of `code`.
    pub const fn from_code(code: u32) -> Self {
        match code & 0b11 {
            0 => Shorthand::None,
            1 => Shorthand::ToSelf,
            2 => Shorthand::AllIncludingSelf,
            _ => Shorthand::AllExcludingSelf,
        }
    }
}

/// An inter-processor interrupt the guest sent through the ICR that may reach another APIC:
/// the VMM takes these with [`super::LocalApic::take_ipis`] and routes them (or, with one vCPU,
/// drops them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipi {
    /// The vector (meaningful for fixed, lowest-priority and start-up messages).
    pub vector: u8,
    pub delivery_mode: DeliveryMode,
    pub destination_mode: DestinationMode,
    pub shorthand: Shorthand,
    /// The destination field: 8 bits in xAPIC mode, 32 bits in x2APIC mode.
    pub destination: u32,
    /// ICR bit 14 (INIT level de-assert is `Init` with this clear and `level_triggered` set).
    pub assert: bool,
    /// ICR bit 15.
    pub level_triggered: bool,
    /// The sender already delivered the message to itself (it is among the destinations), so
    /// the VMM must not deliver it to the sender again.
    pub delivered_to_sender: bool,
    /// The sender's APIC ID.
    pub source: u32,
}
