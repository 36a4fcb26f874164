//! Getting interrupts into the guest (Intel SDM Vol. 3C, 27.6 "Event injection", 28.2.4
//! "Information for VM exits that occur during event delivery", 26.7.5 "Interrupt-window
//! exiting"):
//!
//! - **Re-injection first.** An exit that interrupted the delivery of an event (IDT-vectoring
//!   information valid) re-queues exactly that event for the next entry, so nothing the guest
//!   was being given is lost or delivered twice.
//! - **Then external interrupts.** When the guest's interrupt controller (the 8259A pair)
//!   raises INTR and the guest can take an interrupt (RFLAGS.IF = 1, no STI/MOV-SS blocking),
//!   the vector is acknowledged in the controller at the moment it is injected; otherwise the
//!   vCPU asks for an interrupt-window exit and injects then.
//! - **Device time.** The VMX-preemption timer is set to the next device timer's deadline, so a
//!   guest that never exits still reaches its PIT or RTC tick on time.

use devices::bus::DeviceId;
use devices::ioapic::{Delivery, IoApic};
use devices::lapic::{DeliveryMode, LocalApic};
use devices::pic8259::PicPair;
use devices::shared::Shared;

use super::vcpu::read;
use crate::arch::x86_64::tsc;
use crate::vmx::caps::PrimaryControls;
use crate::vmx::fields::VmcsField as F;
use crate::vmx::vmcs;

/// Interruption information bit 31: valid.
const VALID: u64 = 1 << 31;
/// Bits 10:8: the event type.
const TYPE_SHIFT: u64 = 8;
const TYPE_MASK: u64 = 7 << TYPE_SHIFT;
/// Type 0: external interrupt.
const TYPE_EXTERNAL: u64 = 0;
/// Types 4–6 (software interrupt, privileged software exception, software exception) need the
/// instruction length on re-injection.
const TYPE_SOFTWARE_INTERRUPT: u64 = 4 << TYPE_SHIFT;
const TYPE_SOFTWARE_EXCEPTION: u64 = 6 << TYPE_SHIFT;
/// Bit 11: an error code is delivered.
const ERROR_CODE_VALID: u64 = 1 << 11;
/// IDT-vectoring bit 12 is undefined for re-injection and must be cleared.
const VECTORING_NMI_UNBLOCKING: u64 = 1 << 12;
/// Type 2: NMI.
const TYPE_NMI: u64 = 2 << TYPE_SHIFT;
/// The NMI vector.
const NMI_VECTOR: u8 = 2;
/// Guest interruptibility bit 3: blocking by NMI (an NMI handler is running).
const BLOCKING_BY_NMI: u64 = 1 << 3;
/// Guest interruptibility bits 0 and 1: blocking by STI, blocking by MOV SS.
const BLOCKING_BY_STI_OR_MOV_SS: u64 = 0b11;
/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;

/// A VM's local APIC and I/O APIC (present when the VM is configured with them).
#[derive(Clone)]
pub struct Apics {
    pub lapic: Shared<LocalApic>,
    /// The local APIC's id on the bus (its timers are accounted there).
    pub lapic_device: DeviceId,
    pub ioapic: Shared<IoApic>,
}

/// The VM's interrupt controllers as the injection path sees them.
#[derive(Clone)]
pub struct Controllers {
    pub pic: Shared<PicPair>,
    pub apics: Option<Apics>,
}

/// The I/O APIC pin an ISA line arrives on (the PC's standard override: IRQ 0 → pin 2).
pub fn ioapic_pin(line: u8) -> u8 {
    if line == 0 { 2 } else { line }
}

impl Controllers {
    /// Whether an external interrupt awaits the guest.
    pub fn pending(&self) -> bool {
        match &self.apics {
            Some(apics) => {
                let lapic = apics.lapic.lock();
                lapic.pending_interrupt().is_some()
                    || (lapic.lint0_extint_enabled() && self.pic.lock().has_pending())
            }
            None => self.pic.lock().has_pending(),
        }
    }

    /// Acknowledge the interrupt the guest takes now: the local APIC's first, then the 8259A
    /// through LINT0 (ExtINT, virtual-wire mode).
    fn acknowledge(&self) -> Option<u8> {
        if let Some(apics) = &self.apics {
            let mut lapic = apics.lapic.lock();
            if let Some(vector) = lapic.acknowledge() {
                return Some(vector);
            }
            if !lapic.lint0_extint_enabled() {
                return None;
            }
        }
        self.pic.lock().take_interrupt()
    }

    /// Drive interrupt line `line` (ISA 0–15, I/O APIC pins 16–23) to `level`.
    pub fn set_line(&self, line: u8, level: bool) {
        if line < ISA_LINES && line != CASCADE_LINE {
            let _ = self.pic.lock().set_irq(line, level);
        }
        if let Some(apics) = &self.apics {
            let delivery = apics.ioapic.lock().set_irq(ioapic_pin(line), level);
            if let Ok(Some(delivery)) = delivery {
                deliver(apics, delivery);
            }
        }
    }

    /// Deliver a message-signalled interrupt to the local APIC (Intel SDM Vol. 3A, 11.11:
    /// address 0xFEEx_xxxx with the destination in bits 19:12, data with the vector in bits
    /// 7:0, the delivery mode in 10:8 and the trigger mode in bit 15). False when the VM has no
    /// local APIC or the message is not one (the device gets a typed error).
    pub fn deliver_msi(&self, msg: devices::interface::MsiMessage) -> bool {
        let Some(apics) = &self.apics else {
            return false;
        };
        let Some(message) = decode_msi(msg.address, msg.data) else {
            return false;
        };
        let mut lapic = apics.lapic.lock();
        if !lapic.is_destination(message.destination, message.destination_mode) {
            return true; // A valid message to a CPU this VM does not have: dropped, as on hardware.
        }
        match message.delivery {
            MsiDelivery::Vector(vector) => lapic.accept(vector, message.level_triggered).is_ok(),
            MsiDelivery::Nmi => {
                lapic.set_lint1(true);
                lapic.set_lint1(false);
                true
            }
        }
    }

    /// After an exit: forward the local APIC's EOIs for level-triggered vectors to the I/O
    /// APIC and deliver what that (or a guest write to the I/O APIC) released.
    pub fn settle(&self) {
        let Some(apics) = &self.apics else { return };
        let eois = apics.lapic.lock().take_eoi_broadcasts();
        for vector in eois.iter() {
            let deliveries = apics.ioapic.lock().eoi(vector);
            for delivery in deliveries {
                deliver(apics, delivery);
            }
        }
        let released = apics.ioapic.lock().take_deliveries();
        for delivery in released {
            deliver(apics, delivery);
        }
        // One vCPU: IPIs to other destinations have no one to reach.
        let _ = apics.lapic.lock().take_ipis();
    }
}

/// MSI address bits 31:20: 0xFEE.
const MSI_ADDRESS_BASE: u64 = 0xfee0_0000;
const MSI_ADDRESS_MASK: u64 = 0xfff0_0000;
/// MSI address bits 19:12: the destination APIC ID.
const MSI_DESTINATION_SHIFT: u64 = 12;
/// MSI address bit 2: logical destination mode.
const MSI_LOGICAL: u64 = 1 << 2;
/// MSI data bits 10:8: the delivery mode (0 fixed, 1 lowest priority, 4 NMI).
const MSI_DELIVERY_SHIFT: u32 = 8;
/// MSI data bit 15: level-triggered.
const MSI_LEVEL: u32 = 1 << 15;

/// What an MSI asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MsiDelivery {
    Vector(u8),
    Nmi,
}

/// A decoded MSI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Msi {
    destination: u32,
    destination_mode: devices::lapic::DestinationMode,
    delivery: MsiDelivery,
    level_triggered: bool,
}

/// Decode an MSI address/data pair; `None` for anything but a fixed, lowest-priority or NMI
/// message to the 0xFEE window.
fn decode_msi(address: u64, data: u32) -> Option<Msi> {
    if address & MSI_ADDRESS_MASK != MSI_ADDRESS_BASE {
        return None;
    }
    let delivery = match (data >> MSI_DELIVERY_SHIFT) & 0b111 {
        0 | 1 => MsiDelivery::Vector(data as u8),
        4 => MsiDelivery::Nmi,
        _ => return None,
    };
    let destination_mode = if address & MSI_LOGICAL != 0 {
        devices::lapic::DestinationMode::Logical
    } else {
        devices::lapic::DestinationMode::Physical
    };
    Some(Msi {
        destination: ((address >> MSI_DESTINATION_SHIFT) & 0xff) as u32,
        destination_mode,
        delivery,
        level_triggered: data & MSI_LEVEL != 0,
    })
}

/// ISA lines the 8259A pair takes.
const ISA_LINES: u8 = 16;
/// The master PIC's cascade input.
const CASCADE_LINE: u8 = 2;

/// An I/O APIC message to the (one) local APIC: fixed and lowest-priority messages set IRR when
/// the destination matches; ExtINT is the 8259A's path and needs nothing here.
fn deliver(apics: &Apics, delivery: Delivery) {
    let mut lapic = apics.lapic.lock();
    match delivery.delivery_mode {
        DeliveryMode::Fixed | DeliveryMode::LowestPriority
            if lapic.is_destination(delivery.destination, delivery.destination_mode) =>
        {
            let _ = lapic.accept(delivery.vector, delivery.level_triggered);
        }
        _ => {}
    }
}

/// After an exit: if it interrupted event delivery, queue that event again.
pub fn requeue_interrupted_event() -> bool {
    let vectoring = read(F::IdtVectoringInfo);
    if vectoring & VALID == 0 {
        return false;
    }
    let _ = vmcs::write(
        F::EntryInterruptionInfo,
        vectoring & !VECTORING_NMI_UNBLOCKING,
    );
    if vectoring & ERROR_CODE_VALID != 0 {
        let _ = vmcs::write(F::EntryExceptionErrorCode, read(F::IdtVectoringErrorCode));
    }
    let kind = vectoring & TYPE_MASK;
    if (TYPE_SOFTWARE_INTERRUPT..=TYPE_SOFTWARE_EXCEPTION).contains(&kind) {
        let _ = vmcs::write(F::EntryInstructionLength, read(F::ExitInstructionLength));
    }
    true
}

/// Before an entry: inject a pending NMI (from the local APIC's LINT1 or an NMI message) when
/// NMIs are not blocked, else ask for an NMI-window exit; then a pending external interrupt if
/// the guest can take it now, else ask for an interrupt-window exit. Returns the injected
/// external vector.
pub fn inject_pending(controllers: &Controllers, nmi_pending: &mut bool) -> Option<u8> {
    if let Some(apics) = &controllers.apics {
        *nmi_pending |= apics.lapic.lock().take_nmi();
    }
    if *nmi_pending {
        let queued = read(F::EntryInterruptionInfo) & VALID != 0;
        let blocked =
            read(F::GuestInterruptibility) & (BLOCKING_BY_NMI | BLOCKING_BY_STI_OR_MOV_SS) != 0;
        if !queued && !blocked {
            let _ = vmcs::write(
                F::EntryInterruptionInfo,
                VALID | TYPE_NMI | u64::from(NMI_VECTOR),
            );
            *nmi_pending = false;
        }
        set_primary_control(PrimaryControls::NMI_WINDOW_EXITING, *nmi_pending);
    }
    let already_queued = read(F::EntryInterruptionInfo) & VALID != 0;
    let wanted = controllers.pending();
    let can_take = read(F::GuestRflags) & RFLAGS_IF != 0
        && read(F::GuestInterruptibility) & BLOCKING_BY_STI_OR_MOV_SS == 0;
    let injected = if wanted && can_take && !already_queued {
        controllers.acknowledge()
    } else {
        None
    };
    if let Some(vector) = injected {
        let _ = vmcs::write(
            F::EntryInterruptionInfo,
            VALID | TYPE_EXTERNAL | u64::from(vector),
        );
    }
    set_primary_control(
        PrimaryControls::INTERRUPT_WINDOW_EXITING,
        wanted && injected.is_none(),
    );
    injected
}

fn set_primary_control(control: PrimaryControls, on: bool) {
    let controls = read(F::PrimaryProcessorControls);
    let bit = u64::from(control.bits());
    let wanted = if on { controls | bit } else { controls & !bit };
    if wanted != controls {
        let _ = vmcs::write(F::PrimaryProcessorControls, wanted);
    }
}

/// Program the VMX-preemption timer to fire at `deadline` (guest nanoseconds), `now` being the
/// current guest time; with no deadline the timer is set to its maximum.
pub fn arm_preemption_timer(now: u64, deadline: Option<u64>, rate_shift: u8) {
    let ticks = deadline.map_or(u64::from(u32::MAX), |due| {
        tsc::nanos_to_ticks(due.saturating_sub(now)) >> rate_shift
    });
    let _ = vmcs::write(F::GuestPreemptionTimer, ticks.min(u64::from(u32::MAX)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::lapic::DestinationMode;

    #[test]
    fn msi_fields_decode_as_the_sdm_lays_them_out() {
        let msi = decode_msi(0xfee0_0000 | (3 << 12), 0x0000_0041).unwrap();
        assert_eq!(msi.destination, 3);
        assert_eq!(msi.destination_mode, DestinationMode::Physical);
        assert_eq!(msi.delivery, MsiDelivery::Vector(0x41));
        assert!(!msi.level_triggered);
        let logical_level = decode_msi(0xfee0_0004, 0x8000 | (1 << 8) | 0x30).unwrap();
        assert_eq!(logical_level.destination_mode, DestinationMode::Logical);
        assert!(logical_level.level_triggered);
        assert_eq!(
            decode_msi(0xfee0_0000, 4 << 8).unwrap().delivery,
            MsiDelivery::Nmi
        );
    }

    #[test]
    fn non_msi_addresses_and_modes_are_refused() {
        assert_eq!(decode_msi(0xfec0_0000, 0x41), None);
        assert_eq!(decode_msi(0xfee0_0000, (2 << 8) | 0x41), None); // SMI
        assert_eq!(decode_msi(0xfee0_0000, (7 << 8) | 0x41), None); // ExtINT
    }

    #[test]
    fn isa_irq_0_arrives_on_ioapic_pin_2() {
        assert_eq!(ioapic_pin(0), 2);
        assert_eq!(ioapic_pin(4), 4);
    }
}
