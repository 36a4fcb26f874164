//! Interrupt acceptance, priority, EOI, errors, the LINT pins and IPIs (SDM 11.5.1, 11.5.3,
//! 11.6, 11.8).

use alloc::vec::Vec;

use super::registers::{FIRST_LEGAL_VECTOR, esr, icr, logical, lvt, svr};
use super::{
    AcceptError, ApicMode, DeliveryMode, DestinationMode, Ipi, Lint, LocalApic, Lvt,
    MAX_QUEUED_IPIS, Shorthand, VectorSet,
};

impl LocalApic {
    /// Accepts an interrupt message (from the I/O APIC, an MSI, an IPI or a local source):
    /// sets IRR, and TMR for a level-triggered one. Vectors below 16 are refused and set ESR
    /// bit 6; nothing is accepted while the APIC is globally or software disabled.
    pub fn accept(&mut self, vector: u8, level_triggered: bool) -> Result<(), AcceptError> {
        if vector < FIRST_LEGAL_VECTOR {
            self.record_error(esr::RECEIVE_ILLEGAL_VECTOR);
            return Err(AcceptError::IllegalVector(vector));
        }
        if !self.is_enabled() {
            return Err(AcceptError::Disabled);
        }
        self.irr.insert(vector);
        if level_triggered {
            self.tmr.insert(vector);
        } else {
            self.tmr.remove(vector);
        }
        Ok(())
    }

    /// The vector the vCPU would take now: the highest IRR vector whose priority class is
    /// above the PPR's (SDM 11.8.3.1). `None` while disabled.
    pub fn pending_interrupt(&self) -> Option<u8> {
        if !self.is_enabled() {
            return None;
        }
        let vector = self.irr.highest()?;
        let class = super::registers::priority::CLASS_MASK;
        (vector & class > self.ppr() & class).then_some(vector)
    }

    /// The VMM injected the pending interrupt: moves it from IRR to ISR and returns it.
    pub fn acknowledge(&mut self) -> Option<u8> {
        let vector = self.pending_interrupt()?;
        self.irr.remove(vector);
        self.isr.insert(vector);
        Some(vector)
    }

    /// An EOI (the EOI register, or the VMM's virtual-interrupt path): clears the highest ISR
    /// bit; for a level-triggered vector records the EOI broadcast (unless suppressed) and
    /// clears the matching LINT remote IRR.
    pub fn end_of_interrupt(&mut self) {
        let Some(vector) = self.isr.highest() else {
            return;
        };
        self.isr.remove(vector);
        if !self.tmr.contains(vector) {
            return;
        }
        if self.svr & svr::EOI_BROADCAST_SUPPRESSION == 0 {
            self.eoi_broadcasts.insert(vector);
        }
        for pin in [Lint::Lint0, Lint::Lint1] {
            let entry = Self::lint_entry(pin);
            let value = self.lvt(entry);
            if value & lvt::REMOTE_IRR != 0 && value & lvt::VECTOR == u32::from(vector) {
                self.lvt[entry.index()] &= !lvt::REMOTE_IRR;
                self.evaluate_lint(pin, false);
            }
        }
    }

    /// The level-triggered vectors whose EOI must be forwarded to the I/O APIC(s), taken.
    pub fn take_eoi_broadcasts(&mut self) -> VectorSet {
        core::mem::take(&mut self.eoi_broadcasts)
    }

    /// Whether an NMI is latched (LINT1 or LINT0 in NMI mode, or an NMI IPI to self); taken.
    pub fn take_nmi(&mut self) -> bool {
        core::mem::take(&mut self.nmi_pending)
    }

    /// IPIs for other APICs (or that need the VMM, such as INIT to self), oldest first; taken.
    pub fn take_ipis(&mut self) -> Vec<Ipi> {
        core::mem::take(&mut self.ipis)
    }

    /// Records a detected error (SDM 11.5.3) and raises the error LVT's vector unless masked.
    pub(super) fn record_error(&mut self, bits: u32) {
        self.pending_errors |= bits & esr::MODELLED;
        let entry = self.lvt(Lvt::Error);
        if entry & lvt::MASK != 0 || !self.is_enabled() {
            return;
        }
        let vector = entry.to_le_bytes()[0];
        if vector < FIRST_LEGAL_VECTOR {
            // No recursion: an illegal error vector is itself only recorded.
            self.pending_errors |= esr::RECEIVE_ILLEGAL_VECTOR;
            return;
        }
        self.irr.insert(vector);
        self.tmr.remove(vector);
    }

    // ---- LINT pins ----

    fn lint_entry(pin: Lint) -> Lvt {
        match pin {
            Lint::Lint0 => Lvt::Lint0,
            Lint::Lint1 => Lvt::Lint1,
        }
    }

    fn lint_index(pin: Lint) -> usize {
        match pin {
            Lint::Lint0 => 0,
            Lint::Lint1 => 1,
        }
    }

    /// Drives the LINT0 pin (electrical level; the LVT's polarity says which is asserted).
    pub fn set_lint0(&mut self, level: bool) {
        self.set_lint(Lint::Lint0, level);
    }

    /// Drives the LINT1 pin.
    pub fn set_lint1(&mut self, level: bool) {
        self.set_lint(Lint::Lint1, level);
    }

    /// Whether the VMM should take interrupts from the 8259A: LINT0 is unmasked ExtINT, or the
    /// APIC is globally disabled (LINT0 is then the INTR pin).
    pub fn lint0_extint_enabled(&self) -> bool {
        if self.mode() == ApicMode::Disabled {
            return true;
        }
        let entry = self.lvt(Lvt::Lint0);
        entry & lvt::MASK == 0
            && DeliveryMode::from_code(entry >> lvt::DELIVERY_MODE_SHIFT) == DeliveryMode::ExtInt
    }

    fn set_lint(&mut self, pin: Lint, level: bool) {
        let index = Self::lint_index(pin);
        let was = self.lint_levels[index];
        self.lint_levels[index] = level;
        if self.mode() == ApicMode::Disabled {
            // Globally disabled: LINT1 is the NMI pin (LINT0 is INTR, see lint0_extint_enabled).
            if pin == Lint::Lint1 && level && !was {
                self.nmi_pending = true;
            }
            return;
        }
        let entry = self.lvt(Self::lint_entry(pin));
        let asserted = |level: bool| level != (entry & lvt::POLARITY_LOW != 0);
        let rising = asserted(level) && !asserted(was);
        self.evaluate_lint(pin, rising);
    }

    /// Delivers what the pin's LVT entry says for its current level: `rising` tells whether
    /// the pin just went from deasserted to asserted.
    pub(super) fn evaluate_lint(&mut self, pin: Lint, rising: bool) {
        let entry_name = Self::lint_entry(pin);
        let entry = self.lvt(entry_name);
        if entry & lvt::MASK != 0 || self.mode() == ApicMode::Disabled {
            return;
        }
        let asserted = self.lint_levels[Self::lint_index(pin)] != (entry & lvt::POLARITY_LOW != 0);
        let vector = entry.to_le_bytes()[0];
        // LINT1 is edge-only (SDM 11.5.1): its trigger bit is ignored.
        let level = entry & lvt::LEVEL != 0 && pin == Lint::Lint0;
        match DeliveryMode::from_code(entry >> lvt::DELIVERY_MODE_SHIFT) {
            DeliveryMode::Fixed if level => {
                if asserted && entry & lvt::REMOTE_IRR == 0 && self.accept(vector, true).is_ok() {
                    self.lvt[entry_name.index()] |= lvt::REMOTE_IRR;
                }
            }
            DeliveryMode::Fixed if rising => {
                let _ = self.accept(vector, false);
            }
            DeliveryMode::Nmi if rising => self.nmi_pending = true,
            // ExtINT: the VMM asks the 8259A (lint0_extint_enabled). SMI and INIT through a
            // LINT pin are not modelled.
            _ => {}
        }
    }

    // ---- destinations and IPIs ----

    /// Whether a message for `destination` in `mode` reaches this APIC (SDM 11.6.2): the
    /// destination is 8 bits in xAPIC mode (0xFF broadcast; logical flat or cluster per DFR)
    /// and 32 bits in x2APIC mode (0xFFFF_FFFF broadcast; logical cluster per LDR).
    pub fn is_destination(&self, destination: u32, mode: DestinationMode) -> bool {
        match (self.mode(), mode) {
            (ApicMode::Disabled, _) => false,
            (ApicMode::XApic, DestinationMode::Physical) => {
                destination == logical::XAPIC_BROADCAST || destination == u32::from(self.xapic_id)
            }
            (ApicMode::XApic, DestinationMode::Logical) => {
                if destination == logical::XAPIC_BROADCAST {
                    return true;
                }
                let own = self.ldr >> logical::XAPIC_LDR_SHIFT;
                if self.dfr & logical::DFR_MODEL_MASK == logical::DFR_FLAT {
                    destination & own != 0
                } else {
                    let cluster = destination >> logical::XAPIC_CLUSTER_SHIFT;
                    (cluster == logical::XAPIC_ALL_CLUSTERS
                        || cluster == own >> logical::XAPIC_CLUSTER_SHIFT)
                        && destination & own & logical::XAPIC_MEMBER_MASK != 0
                }
            }
            (ApicMode::X2Apic, DestinationMode::Physical) => {
                destination == logical::X2APIC_BROADCAST || destination == self.config.apic_id
            }
            (ApicMode::X2Apic, DestinationMode::Logical) => {
                if destination == logical::X2APIC_BROADCAST {
                    return true;
                }
                let cluster = destination >> logical::X2APIC_CLUSTER_SHIFT;
                (cluster == logical::X2APIC_ALL_CLUSTERS
                    || cluster == self.ldr >> logical::X2APIC_CLUSTER_SHIFT)
                    && destination & self.ldr & logical::X2APIC_MEMBER_MASK != 0
            }
        }
    }

    /// The x2APIC LDR derived from the x2APIC ID (SDM 11.12.10.2).
    pub(super) fn x2apic_ldr(&self) -> u32 {
        let id = self.config.apic_id;
        let cluster = id >> logical::X2APIC_CLUSTER_ID_SHIFT;
        (cluster << logical::X2APIC_CLUSTER_SHIFT) | (1 << (id & logical::X2APIC_MEMBER_ID_MASK))
    }

    /// Sends the message in ICR low with `destination` (see the module docs).
    pub(super) fn send_ipi(&mut self, low: u32, destination: u32) {
        let vector = low.to_le_bytes()[0];
        let delivery_mode = DeliveryMode::from_code(low >> icr::DELIVERY_MODE_SHIFT);
        let destination_mode = if low & icr::LOGICAL != 0 {
            DestinationMode::Logical
        } else {
            DestinationMode::Physical
        };
        let shorthand = Shorthand::from_code(low >> icr::SHORTHAND_SHIFT);
        if delivery_mode.carries_vector() && vector < FIRST_LEGAL_VECTOR {
            self.record_error(esr::SEND_ILLEGAL_VECTOR);
            return;
        }
        let own_id = self.id();
        let (to_self, to_others) = match shorthand {
            Shorthand::ToSelf => (true, false),
            Shorthand::AllIncludingSelf => (true, true),
            Shorthand::AllExcludingSelf => (false, true),
            Shorthand::None => (
                self.is_destination(destination, destination_mode),
                !(destination_mode == DestinationMode::Physical && destination == own_id),
            ),
        };
        let delivered = to_self && self.deliver_to_self(delivery_mode, vector);
        if to_others || (to_self && !delivered) {
            let ipi = Ipi {
                vector,
                delivery_mode,
                destination_mode,
                shorthand,
                destination,
                assert: low & icr::ASSERT != 0,
                level_triggered: low & icr::LEVEL != 0,
                delivered_to_sender: delivered,
                source: own_id,
            };
            if self.ipis.len() < MAX_QUEUED_IPIS {
                self.ipis.push(ipi);
            } else {
                self.counters.dropped_ipis = self.counters.dropped_ipis.saturating_add(1);
                self.record_error(esr::SEND_ACCEPT);
            }
        }
    }

    /// Delivers an IPI to this APIC if the model can; returns whether it did.
    fn deliver_to_self(&mut self, mode: DeliveryMode, vector: u8) -> bool {
        match mode {
            // Level-triggered fixed IPIs are not supported since the Pentium 4: edge.
            DeliveryMode::Fixed | DeliveryMode::LowestPriority => {
                let _ = self.accept(vector, false);
                true
            }
            DeliveryMode::Nmi => {
                self.nmi_pending = true;
                true
            }
            _ => false,
        }
    }
}
