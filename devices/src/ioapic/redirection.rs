//! A redirection entry decoded into the interrupt message it sends (82093AA datasheet 3.2.4).

use crate::lapic::{DeliveryMode, DestinationMode};

use super::registers::entry;

/// One interrupt message the I/O APIC sends: the VMM hands it to every local APIC it reaches
/// ([`crate::lapic::LocalApic::is_destination`]), with [`crate::lapic::LocalApic::accept`]
/// for fixed and lowest-priority modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delivery {
    /// The input pin that sent it.
    pub pin: u8,
    pub vector: u8,
    pub delivery_mode: DeliveryMode,
    /// The 8-bit destination field.
    pub destination: u32,
    pub destination_mode: DestinationMode,
    /// Level-triggered: the local APIC sets TMR and its EOI must come back
    /// ([`super::IoApic::eoi`]).
    pub level_triggered: bool,
}

/// Field accessors on a raw 64-bit redirection entry.
pub(super) trait EntryFields {
    fn masked(self) -> bool;
    fn level(self) -> bool;
    fn remote_irr(self) -> bool;
    fn vector(self) -> u8;
    fn delivery_mode(self) -> DeliveryMode;
}

impl EntryFields for u64 {
    fn masked(self) -> bool {
        self & entry::MASK != 0
    }
    /// Level-triggered and in a mode that uses remote IRR (fixed, lowest priority): SMI, NMI,
    /// INIT and ExtINT are edge-only (datasheet 3.2.4).
    fn level(self) -> bool {
        self & entry::LEVEL != 0 && self.delivery_mode().carries_vector()
    }
    fn remote_irr(self) -> bool {
        self & entry::REMOTE_IRR != 0
    }
    fn vector(self) -> u8 {
        self.to_le_bytes()[0]
    }
    fn delivery_mode(self) -> DeliveryMode {
        let code = (self & entry::DELIVERY_MODE) >> entry::DELIVERY_MODE_SHIFT;
        DeliveryMode::from_code(u32::try_from(code).unwrap_or(0))
    }
}

/// The message `value` sends from `pin`, or `None` for a reserved delivery mode (011, 110).
pub(super) fn delivery(pin: u8, value: u64) -> Option<Delivery> {
    let delivery_mode = value.delivery_mode();
    if matches!(
        delivery_mode,
        DeliveryMode::Reserved3 | DeliveryMode::StartUp
    ) {
        return None;
    }
    Some(Delivery {
        pin,
        vector: value.vector(),
        delivery_mode,
        destination: u32::from(value.to_be_bytes()[0]),
        destination_mode: if value & entry::LOGICAL != 0 {
            DestinationMode::Logical
        } else {
            DestinationMode::Physical
        },
        level_triggered: value.level(),
    })
}
