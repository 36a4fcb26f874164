//! The I/O APIC's documented behaviour, one test each, programmed through IOREGSEL/IOWIN as a
//! guest would.

use crate::interface::{Device, MmioRange, Region};
use crate::lapic::{DeliveryMode, DestinationMode};
use crate::testing::FakeContext;

use super::registers::{entry, index, offset};
use super::*;

const LEVEL: u32 = entry::LEVEL as u32;
const ACTIVE_LOW: u32 = entry::POLARITY_LOW as u32;
const MASKED: u32 = entry::MASK as u32;
const REMOTE_IRR: u32 = entry::REMOTE_IRR as u32;

fn installed() -> (IoApic, FakeContext) {
    let mut ioapic = IoApic::new(2, DEFAULT_BASE).unwrap();
    let mut ctx = FakeContext::new();
    ioapic.install(&mut ctx).unwrap();
    ioapic.power_on(&mut ctx).unwrap();
    (ioapic, ctx)
}

fn write_register(ioapic: &mut IoApic, ctx: &mut FakeContext, select: u8, value: u32) {
    ioapic.mmio_write(
        ctx,
        DEFAULT_BASE + offset::IOREGSEL,
        &u32::from(select).to_le_bytes(),
    );
    ioapic.mmio_write(ctx, DEFAULT_BASE + offset::IOWIN, &value.to_le_bytes());
}

fn read_register(ioapic: &mut IoApic, ctx: &mut FakeContext, select: u8) -> u32 {
    ioapic.mmio_write(
        ctx,
        DEFAULT_BASE + offset::IOREGSEL,
        &u32::from(select).to_le_bytes(),
    );
    let mut data = [0u8; 4];
    ioapic.mmio_read(ctx, DEFAULT_BASE + offset::IOWIN, &mut data);
    u32::from_le_bytes(data)
}

/// Programs entry `pin`: low dword `low`, destination `destination`.
fn route(ioapic: &mut IoApic, ctx: &mut FakeContext, pin: u8, low: u32, destination: u8) {
    let select = index::REDIRECTION_FIRST + 2 * pin;
    write_register(ioapic, ctx, select + 1, u32::from(destination) << 24);
    write_register(ioapic, ctx, select, low);
}

fn fixed(pin: u8, vector: u8, destination: u32, level_triggered: bool) -> Delivery {
    Delivery {
        pin,
        vector,
        delivery_mode: DeliveryMode::Fixed,
        destination,
        destination_mode: DestinationMode::Physical,
        level_triggered,
    }
}

#[test]
fn ioapic_install_claims_its_page() {
    let (_ioapic, ctx) = installed();
    assert_eq!(
        ctx.claims(),
        [Region::Mmio(MmioRange::new(DEFAULT_BASE, 0x1000).unwrap())]
    );
}

#[test]
fn ioapic_config_refuses_wide_ids_and_unaligned_bases() {
    assert_eq!(
        IoApic::new(16, DEFAULT_BASE).err(),
        Some(ConfigError::Id(16))
    );
    assert_eq!(
        IoApic::new(0, DEFAULT_BASE + 4).err(),
        Some(ConfigError::Base(DEFAULT_BASE + 4))
    );
}

#[test]
fn ioapic_version_reports_0x20_and_23_as_the_highest_entry() {
    let (mut ioapic, mut ctx) = installed();
    assert_eq!(
        read_register(&mut ioapic, &mut ctx, index::VERSION),
        0x0017_0020
    );
    write_register(&mut ioapic, &mut ctx, index::VERSION, 0);
    assert_eq!(
        read_register(&mut ioapic, &mut ctx, index::VERSION),
        0x0017_0020
    );
}

#[test]
fn ioapic_id_keeps_four_bits_and_arbitration_follows_it() {
    let (mut ioapic, mut ctx) = installed();
    assert_eq!(read_register(&mut ioapic, &mut ctx, index::ID), 0x0200_0000);
    write_register(&mut ioapic, &mut ctx, index::ID, 0xFFFF_FFFF);
    assert_eq!(read_register(&mut ioapic, &mut ctx, index::ID), 0x0F00_0000);
    assert_eq!(
        read_register(&mut ioapic, &mut ctx, index::ARBITRATION),
        0x0F00_0000
    );
    assert_eq!(ioapic.id(), 15);
}

#[test]
fn ioapic_ioregsel_reads_back_and_unknown_indices_read_zero() {
    let (mut ioapic, mut ctx) = installed();
    ioapic.mmio_write(&mut ctx, DEFAULT_BASE, &[0x42]);
    let mut data = [0u8; 4];
    ioapic.mmio_read(&mut ctx, DEFAULT_BASE, &mut data);
    assert_eq!(u32::from_le_bytes(data), 0x42);
    assert_eq!(read_register(&mut ioapic, &mut ctx, 0x40), 0);
    assert_eq!(read_register(&mut ioapic, &mut ctx, 0x03), 0);
}

#[test]
fn ioapic_entries_power_on_masked_and_keep_only_writable_bits() {
    let (mut ioapic, mut ctx) = installed();
    for pin in 0..PINS {
        let select = index::REDIRECTION_FIRST + 2 * pin;
        assert_eq!(read_register(&mut ioapic, &mut ctx, select), MASKED);
        assert_eq!(read_register(&mut ioapic, &mut ctx, select + 1), 0);
    }
    write_register(&mut ioapic, &mut ctx, 0x10, 0xFFFF_FFFF);
    write_register(&mut ioapic, &mut ctx, 0x11, 0xFFFF_FFFF);
    // Delivery status and remote IRR read only, bits 55:17 reserved.
    assert_eq!(read_register(&mut ioapic, &mut ctx, 0x10), 0x0001_AFFF);
    assert_eq!(read_register(&mut ioapic, &mut ctx, 0x11), 0xFF00_0000);
}

#[test]
fn ioapic_edge_pin_delivers_on_each_rising_edge_only() {
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 4, 0x34, 0);
    assert_eq!(ioapic.set_irq(4, true), Ok(Some(fixed(4, 0x34, 0, false))));
    assert_eq!(ioapic.set_irq(4, true), Ok(None));
    assert_eq!(ioapic.set_irq(4, false), Ok(None));
    assert_eq!(ioapic.set_irq(4, true), Ok(Some(fixed(4, 0x34, 0, false))));
}

#[test]
fn ioapic_masked_edge_is_lost() {
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 1, 0x31 | MASKED, 0);
    assert_eq!(ioapic.set_irq(1, true), Ok(None));
    route(&mut ioapic, &mut ctx, 1, 0x31, 0);
    assert!(ioapic.take_deliveries().is_empty());
}

#[test]
fn ioapic_level_pin_delivers_once_until_eoi() {
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 10, 0x3A | LEVEL, 1);
    assert_eq!(ioapic.set_irq(10, true), Ok(Some(fixed(10, 0x3A, 1, true))));
    assert_ne!(
        read_register(&mut ioapic, &mut ctx, 0x10 + 20) & REMOTE_IRR,
        0
    );
    // Remote IRR holds further deliveries while the local APIC services it.
    assert_eq!(ioapic.set_irq(10, true), Ok(None));
    assert_eq!(ioapic.set_irq(10, false), Ok(None));
    assert_eq!(ioapic.eoi(0x3A), []);
    assert_eq!(
        read_register(&mut ioapic, &mut ctx, 0x10 + 20) & REMOTE_IRR,
        0
    );
}

#[test]
fn ioapic_level_pin_redelivers_after_eoi_while_asserted() {
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 9, 0x39 | LEVEL, 0);
    ioapic.set_irq(9, true).unwrap();
    assert_eq!(ioapic.eoi(0x39), [fixed(9, 0x39, 0, true)]);
    // An EOI for another vector does nothing.
    assert_eq!(ioapic.eoi(0x40), []);
    assert_ne!(ioapic.redirection_entry(9).unwrap() & entry::REMOTE_IRR, 0);
}

#[test]
fn ioapic_eoi_register_clears_remote_irr_and_posts_the_redelivery() {
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 11, 0x3B | LEVEL, 0);
    ioapic.set_irq(11, true).unwrap();
    ioapic.mmio_write(&mut ctx, DEFAULT_BASE + offset::EOI, &0x3Bu32.to_le_bytes());
    assert_eq!(ioapic.take_deliveries(), [fixed(11, 0x3B, 0, true)]);
    assert!(ioapic.take_deliveries().is_empty());
}

#[test]
fn ioapic_unmasking_an_asserted_level_pin_delivers() {
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 5, 0x35 | LEVEL | MASKED, 0);
    assert_eq!(ioapic.set_irq(5, true), Ok(None));
    route(&mut ioapic, &mut ctx, 5, 0x35 | LEVEL, 0);
    assert_eq!(ioapic.take_deliveries(), [fixed(5, 0x35, 0, true)]);
}

#[test]
fn ioapic_active_low_level_pin_delivers_on_assertion_like_an_active_high_one() {
    // The OS programs ACPI `_PRT` GSI entries (PCI INTx#) level, active low; the VMM's
    // devices still say `set_irq(pin, true)` for "asserted".
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 11, 0x50 | LEVEL | ACTIVE_LOW, 0);
    // Never driven: deasserted, no delivery on unmask.
    assert!(ioapic.take_deliveries().is_empty());
    assert_eq!(ioapic.set_irq(11, false), Ok(None));
    assert_eq!(ioapic.set_irq(11, true), Ok(Some(fixed(11, 0x50, 0, true))));
    // Still asserted at the EOI: delivers again; deasserted before the next EOI: quiet.
    assert_eq!(ioapic.eoi(0x50), [fixed(11, 0x50, 0, true)]);
    assert_eq!(ioapic.set_irq(11, false), Ok(None));
    assert!(ioapic.eoi(0x50).is_empty());
    assert_eq!(
        ioapic.redirection_entry(11).unwrap() & entry::POLARITY_LOW,
        entry::POLARITY_LOW,
        "the polarity bit reads back as written"
    );
}

#[test]
fn ioapic_active_low_edge_pin_delivers_on_the_assertion_edge() {
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 10, 0x4A | ACTIVE_LOW, 0);
    assert_eq!(ioapic.set_irq(10, false), Ok(None));
    assert_eq!(
        ioapic.set_irq(10, true),
        Ok(Some(fixed(10, 0x4A, 0, false)))
    );
    assert_eq!(ioapic.set_irq(10, true), Ok(None));
    assert_eq!(ioapic.set_irq(10, false), Ok(None));
}

#[test]
fn ioapic_switching_an_entry_to_edge_clears_remote_irr() {
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 3, 0x33 | LEVEL, 0);
    ioapic.set_irq(3, true).unwrap();
    route(&mut ioapic, &mut ctx, 3, 0x33, 0);
    assert_eq!(ioapic.redirection_entry(3).unwrap() & entry::REMOTE_IRR, 0);
}

#[test]
fn ioapic_delivery_carries_mode_destination_and_trigger() {
    let (mut ioapic, mut ctx) = installed();
    let lowest_logical = (DeliveryMode::LowestPriority.code() << 8) | (1 << 11);
    route(&mut ioapic, &mut ctx, 7, 0x47 | lowest_logical, 0x0F);
    let sent = ioapic.set_irq(7, true).unwrap().unwrap();
    assert_eq!(sent.delivery_mode, DeliveryMode::LowestPriority);
    assert_eq!(sent.destination_mode, DestinationMode::Logical);
    assert_eq!(sent.destination, 0x0F);
    // NMI is edge-only even with the trigger bit set: no remote IRR.
    let nmi = DeliveryMode::Nmi.code() << 8;
    route(&mut ioapic, &mut ctx, 8, nmi | LEVEL, 0);
    let sent = ioapic.set_irq(8, true).unwrap().unwrap();
    assert_eq!(sent.delivery_mode, DeliveryMode::Nmi);
    assert!(!sent.level_triggered);
    assert_eq!(ioapic.redirection_entry(8).unwrap() & entry::REMOTE_IRR, 0);
}

#[test]
fn ioapic_reserved_delivery_mode_sends_nothing() {
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 2, 0x32 | (3 << 8), 0);
    assert_eq!(ioapic.set_irq(2, true), Ok(None));
    assert_eq!(ioapic.counters().undeliverable, 1);
}

#[test]
fn ioapic_pins_beyond_23_are_refused() {
    let (mut ioapic, _ctx) = installed();
    assert_eq!(ioapic.set_irq(24, true), Err(IoApicError::NoSuchPin(24)));
}

#[test]
fn ioapic_narrow_iowin_writes_are_dropped_and_narrow_reads_return_bytes() {
    let (mut ioapic, mut ctx) = installed();
    ioapic.mmio_write(&mut ctx, DEFAULT_BASE, &[0x10]);
    ioapic.mmio_write(&mut ctx, DEFAULT_BASE + offset::IOWIN, &[0x00]);
    assert_eq!(ioapic.counters().malformed_accesses, 1);
    let mut byte = [0u8; 1];
    ioapic.mmio_read(&mut ctx, DEFAULT_BASE + offset::IOWIN + 2, &mut byte);
    assert_eq!(byte, [0x01]);
}

#[test]
fn ioapic_power_on_masks_every_entry_again() {
    let (mut ioapic, mut ctx) = installed();
    route(&mut ioapic, &mut ctx, 0, 0x30, 0);
    ioapic.power_on(&mut ctx).unwrap();
    assert_eq!(ioapic.redirection_entry(0), Some(entry::MASK));
}

#[test]
fn ioapic_remove_releases_its_page() {
    let (mut ioapic, mut ctx) = installed();
    ioapic.remove(&mut ctx).unwrap();
    assert!(ctx.claims().is_empty());
}
