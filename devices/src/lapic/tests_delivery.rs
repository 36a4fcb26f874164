//! Interrupt acceptance, priority, EOI, errors, IPIs and LINT pins, one behaviour per test.

use super::registers::{esr, icr, lvt, offset, svr};
use super::tests_support::*;
use super::*;

/// ICR low for a fixed, physical, edge IPI with `vector`.
fn fixed(vector: u32) -> u32 {
    vector
}

fn send(apic: &mut LocalApic, ctx: &mut crate::testing::FakeContext, destination: u32, low: u32) {
    write(apic, ctx, offset::ICR_HIGH, destination << 24);
    write(apic, ctx, offset::ICR_LOW, low);
}

#[test]
fn lapic_accept_sets_irr_and_tmr_by_trigger_mode() {
    let (mut apic, _ctx) = enabled();
    apic.accept(0x41, true).unwrap();
    apic.accept(0x42, false).unwrap();
    assert!(apic.irr().contains(0x41) && apic.irr().contains(0x42));
    assert!(apic.tmr().contains(0x41));
    assert!(!apic.tmr().contains(0x42));
}

#[test]
fn lapic_illegal_vector_is_refused_and_sets_received_illegal_vector() {
    let (mut apic, _ctx) = enabled();
    assert_eq!(apic.accept(15, false), Err(AcceptError::IllegalVector(15)));
    assert!(apic.irr().is_empty());
    assert_eq!(apic.pending_errors(), esr::RECEIVE_ILLEGAL_VECTOR);
}

#[test]
fn lapic_irr_and_isr_words_read_through_the_page() {
    let (mut apic, mut ctx) = enabled();
    apic.accept(0x21, false).unwrap();
    apic.accept(0xFF, true).unwrap();
    assert_eq!(read(&mut apic, &mut ctx, offset::IRR + 0x10), 1 << 1);
    assert_eq!(read(&mut apic, &mut ctx, offset::IRR + 0x70), 1 << 31);
    assert_eq!(read(&mut apic, &mut ctx, offset::TMR + 0x70), 1 << 31);
    assert_eq!(apic.acknowledge(), Some(0xFF));
    assert_eq!(read(&mut apic, &mut ctx, offset::ISR + 0x70), 1 << 31);
    assert_eq!(read(&mut apic, &mut ctx, offset::IRR + 0x70), 0);
}

#[test]
fn lapic_acknowledge_moves_the_highest_request_to_in_service() {
    let (mut apic, _ctx) = enabled();
    apic.accept(0x31, false).unwrap();
    apic.accept(0x52, false).unwrap();
    assert_eq!(apic.pending_interrupt(), Some(0x52));
    assert_eq!(apic.acknowledge(), Some(0x52));
    assert!(apic.isr().contains(0x52));
    assert!(!apic.irr().contains(0x52));
    // 0x31 is in a lower class than the in-service 0x52: held.
    assert_eq!(apic.pending_interrupt(), None);
    assert_eq!(apic.acknowledge(), None);
}

#[test]
fn lapic_ppr_masks_lower_priority_classes() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::TPR, 0x50);
    apic.accept(0x5F, false).unwrap();
    assert_eq!(read(&mut apic, &mut ctx, offset::PPR), 0x50);
    // Same class as the TPR: not delivered.
    assert_eq!(apic.pending_interrupt(), None);
    apic.accept(0x60, false).unwrap();
    assert_eq!(apic.pending_interrupt(), Some(0x60));
    apic.acknowledge();
    // In service 0x60 is above TPR's class: PPR = 0x60.
    assert_eq!(read(&mut apic, &mut ctx, offset::PPR), 0x60);
}

#[test]
fn lapic_ppr_is_tpr_when_its_class_is_at_least_the_in_service_class() {
    let (mut apic, mut ctx) = enabled();
    apic.accept(0x81, false).unwrap();
    apic.acknowledge();
    write(&mut apic, &mut ctx, offset::TPR, 0x85);
    assert_eq!(read(&mut apic, &mut ctx, offset::PPR), 0x85);
    write(&mut apic, &mut ctx, offset::TPR, 0x7F);
    assert_eq!(read(&mut apic, &mut ctx, offset::PPR), 0x80);
}

#[test]
fn lapic_eoi_clears_the_highest_in_service_vector_first() {
    let (mut apic, mut ctx) = enabled();
    apic.accept(0x40, false).unwrap();
    apic.acknowledge();
    apic.accept(0x90, false).unwrap();
    apic.acknowledge();
    write(&mut apic, &mut ctx, offset::EOI, 0);
    assert!(!apic.isr().contains(0x90));
    assert!(apic.isr().contains(0x40));
    write(&mut apic, &mut ctx, offset::EOI, 0);
    assert!(apic.isr().is_empty());
}

#[test]
fn lapic_eoi_of_a_level_vector_is_broadcast_for_the_io_apic() {
    let (mut apic, mut ctx) = enabled();
    apic.accept(0x61, true).unwrap();
    apic.accept(0x50, false).unwrap();
    apic.acknowledge();
    write(&mut apic, &mut ctx, offset::EOI, 0);
    apic.acknowledge();
    write(&mut apic, &mut ctx, offset::EOI, 0);
    let broadcasts = apic.take_eoi_broadcasts();
    assert_eq!(broadcasts.iter().collect::<alloc::vec::Vec<_>>(), [0x61]);
    assert!(apic.take_eoi_broadcasts().is_empty());
}

#[test]
fn lapic_eoi_broadcast_suppression_keeps_level_eois_local() {
    let (mut apic, mut ctx) = enabled();
    write(
        &mut apic,
        &mut ctx,
        offset::SVR,
        SVR_ENABLED | svr::EOI_BROADCAST_SUPPRESSION,
    );
    apic.accept(0x61, true).unwrap();
    apic.acknowledge();
    write(&mut apic, &mut ctx, offset::EOI, 0);
    assert!(apic.isr().is_empty());
    assert!(apic.take_eoi_broadcasts().is_empty());
}

#[test]
fn lapic_software_disabled_accepts_and_delivers_nothing_but_holds_irr() {
    let (mut apic, mut ctx) = enabled();
    apic.accept(0x70, false).unwrap();
    write(&mut apic, &mut ctx, offset::SVR, 0xFF);
    assert_eq!(apic.accept(0x71, false), Err(AcceptError::Disabled));
    assert_eq!(apic.pending_interrupt(), None);
    assert!(apic.irr().contains(0x70));
    write(&mut apic, &mut ctx, offset::SVR, SVR_ENABLED);
    assert_eq!(apic.pending_interrupt(), Some(0x70));
}

#[test]
fn lapic_error_lvt_raises_its_vector_when_an_error_is_detected() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::LVT_ERROR, 0xFE);
    let _ = apic.accept(3, false);
    assert_eq!(apic.pending_interrupt(), Some(0xFE));
}

#[test]
fn lapic_fixed_self_ipi_by_shorthand_is_accepted_locally() {
    let (mut apic, mut ctx) = enabled();
    write(
        &mut apic,
        &mut ctx,
        offset::ICR_LOW,
        fixed(0x45) | (1 << icr::SHORTHAND_SHIFT),
    );
    assert_eq!(apic.pending_interrupt(), Some(0x45));
    assert!(apic.take_ipis().is_empty());
    // Delivery completes with the write: the status bit reads idle.
    assert_eq!(
        read(&mut apic, &mut ctx, offset::ICR_LOW) & icr::DELIVERY_STATUS,
        0
    );
    assert_eq!(read(&mut apic, &mut ctx, offset::ICR_LOW), 0x45 | (1 << 18));
}

#[test]
fn lapic_physical_ipi_to_own_id_is_local_and_not_queued() {
    let (mut apic, mut ctx) = enabled();
    send(&mut apic, &mut ctx, ID, fixed(0x46));
    assert_eq!(apic.pending_interrupt(), Some(0x46));
    assert!(apic.take_ipis().is_empty());
}

#[test]
fn lapic_ipi_to_another_apic_is_queued_for_the_vmm() {
    let (mut apic, mut ctx) = enabled();
    send(
        &mut apic,
        &mut ctx,
        1,
        fixed(0x47) | icr::LEVEL | icr::ASSERT,
    );
    assert_eq!(apic.pending_interrupt(), None);
    assert_eq!(
        apic.take_ipis(),
        [Ipi {
            vector: 0x47,
            delivery_mode: DeliveryMode::Fixed,
            destination_mode: DestinationMode::Physical,
            shorthand: Shorthand::None,
            destination: 1,
            assert: true,
            level_triggered: true,
            delivered_to_sender: false,
            source: ID,
        }]
    );
    assert!(apic.take_ipis().is_empty());
}

#[test]
fn lapic_all_including_self_ipi_is_delivered_locally_and_queued() {
    let (mut apic, mut ctx) = enabled();
    write(
        &mut apic,
        &mut ctx,
        offset::ICR_LOW,
        fixed(0x48) | (2 << icr::SHORTHAND_SHIFT),
    );
    assert_eq!(apic.pending_interrupt(), Some(0x48));
    let ipis = apic.take_ipis();
    assert_eq!(ipis.len(), 1);
    assert_eq!(ipis[0].shorthand, Shorthand::AllIncludingSelf);
    assert!(ipis[0].delivered_to_sender);
}

#[test]
fn lapic_init_ipi_to_self_is_left_to_the_vmm() {
    let (mut apic, mut ctx) = enabled();
    let init = DeliveryMode::Init.code() << icr::DELIVERY_MODE_SHIFT;
    send(&mut apic, &mut ctx, ID, init | icr::ASSERT);
    let ipis = apic.take_ipis();
    assert_eq!(ipis.len(), 1);
    assert_eq!(ipis[0].delivery_mode, DeliveryMode::Init);
    assert!(!ipis[0].delivered_to_sender);
}

#[test]
fn lapic_nmi_ipi_to_self_latches_the_nmi() {
    let (mut apic, mut ctx) = enabled();
    let nmi = DeliveryMode::Nmi.code() << icr::DELIVERY_MODE_SHIFT;
    write(
        &mut apic,
        &mut ctx,
        offset::ICR_LOW,
        nmi | (1 << icr::SHORTHAND_SHIFT),
    );
    assert!(apic.take_nmi());
    assert!(!apic.take_nmi());
}

#[test]
fn lapic_ipi_with_illegal_vector_is_not_sent_and_sets_send_illegal_vector() {
    let (mut apic, mut ctx) = enabled();
    send(&mut apic, &mut ctx, 1, fixed(0x0E));
    assert!(apic.take_ipis().is_empty());
    assert_eq!(apic.pending_errors(), esr::SEND_ILLEGAL_VECTOR);
}

#[test]
fn lapic_ipi_queue_is_bounded_and_overflow_sets_send_accept_error() {
    let (mut apic, mut ctx) = enabled();
    for _ in 0..MAX_QUEUED_IPIS + 3 {
        send(&mut apic, &mut ctx, 1, fixed(0x50));
    }
    assert_eq!(apic.counters().dropped_ipis, 3);
    assert_eq!(apic.pending_errors(), esr::SEND_ACCEPT);
    assert_eq!(apic.take_ipis().len(), MAX_QUEUED_IPIS);
}

#[test]
fn lapic_logical_flat_and_cluster_destinations_match_the_ldr() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::LDR, 0x0400_0000);
    assert!(apic.is_destination(0x06, DestinationMode::Logical));
    assert!(!apic.is_destination(0x03, DestinationMode::Logical));
    assert!(apic.is_destination(0xFF, DestinationMode::Logical));
    // Cluster model: cluster 2, member bit 1.
    write(&mut apic, &mut ctx, offset::DFR, 0x0FFF_FFFF);
    write(&mut apic, &mut ctx, offset::LDR, 0x2200_0000);
    assert!(apic.is_destination(0x23, DestinationMode::Logical));
    assert!(!apic.is_destination(0x13, DestinationMode::Logical));
    assert!(apic.is_destination(0xF2, DestinationMode::Logical));
    assert!(apic.is_destination(ID, DestinationMode::Physical));
    assert!(apic.is_destination(0xFF, DestinationMode::Physical));
    assert!(!apic.is_destination(ID + 1, DestinationMode::Physical));
}

#[test]
fn lapic_logical_ipi_matching_self_is_delivered_and_also_queued() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::LDR, 0x0100_0000);
    send(&mut apic, &mut ctx, 0x03, fixed(0x51) | icr::LOGICAL);
    assert_eq!(apic.pending_interrupt(), Some(0x51));
    let ipis = apic.take_ipis();
    assert_eq!(ipis.len(), 1);
    assert!(ipis[0].delivered_to_sender);
}

#[test]
fn lapic_lint0_is_extint_virtual_wire_at_power_on() {
    let (mut apic, _ctx) = powered();
    assert!(apic.lint0_extint_enabled());
    apic.set_lint0(true);
    // ExtINT: the vector comes from the 8259A, nothing enters the IRR.
    assert!(apic.irr().is_empty());
}

#[test]
fn lapic_lint1_nmi_rising_edge_latches_an_nmi() {
    let (mut apic, mut ctx) = enabled();
    let nmi = DeliveryMode::Nmi.code() << lvt::DELIVERY_MODE_SHIFT;
    write(&mut apic, &mut ctx, offset::LVT_LINT1, nmi);
    apic.set_lint1(true);
    assert!(apic.take_nmi());
    apic.set_lint1(true);
    assert!(!apic.take_nmi());
    apic.set_lint1(false);
    apic.set_lint1(true);
    assert!(apic.take_nmi());
}

#[test]
fn lapic_masked_lint1_delivers_nothing() {
    let (mut apic, mut ctx) = enabled();
    let nmi = DeliveryMode::Nmi.code() << lvt::DELIVERY_MODE_SHIFT;
    write(&mut apic, &mut ctx, offset::LVT_LINT1, nmi | lvt::MASK);
    apic.set_lint1(true);
    assert!(!apic.take_nmi());
}

#[test]
fn lapic_lint0_level_fixed_sets_remote_irr_until_eoi_and_redelivers_while_asserted() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::LVT_LINT0, 0x66 | lvt::LEVEL);
    apic.set_lint0(true);
    assert_eq!(apic.acknowledge(), Some(0x66));
    assert_ne!(
        read(&mut apic, &mut ctx, offset::LVT_LINT0) & lvt::REMOTE_IRR,
        0
    );
    assert!(apic.tmr().contains(0x66));
    // Still asserted: the EOI clears remote IRR and the pin requests again.
    write(&mut apic, &mut ctx, offset::EOI, 0);
    assert_eq!(apic.pending_interrupt(), Some(0x66));
    apic.acknowledge();
    apic.set_lint0(false);
    write(&mut apic, &mut ctx, offset::EOI, 0);
    assert_eq!(
        read(&mut apic, &mut ctx, offset::LVT_LINT0) & lvt::REMOTE_IRR,
        0
    );
    assert_eq!(apic.pending_interrupt(), None);
}

#[test]
fn lapic_lint0_active_low_edge_fires_on_the_falling_wire() {
    let (mut apic, mut ctx) = enabled();
    apic.set_lint0(true);
    write(
        &mut apic,
        &mut ctx,
        offset::LVT_LINT0,
        0x67 | lvt::POLARITY_LOW,
    );
    apic.set_lint0(false);
    assert_eq!(apic.pending_interrupt(), Some(0x67));
}

#[test]
fn lapic_globally_disabled_makes_lint0_intr_and_lint1_nmi() {
    let (mut apic, mut ctx) = enabled();
    apic.set_apic_base(&mut ctx, registers::base::DEFAULT_ADDRESS)
        .unwrap();
    assert!(apic.lint0_extint_enabled());
    apic.set_lint1(true);
    assert!(apic.take_nmi());
}
