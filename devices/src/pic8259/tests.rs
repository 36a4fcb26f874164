//! The 8259A pair's documented behaviour, one test each, programmed through its ports as a
//! guest would.

use super::*;
use crate::interface::Region;
use crate::testing::FakeContext;

/// ICW1: edge-triggered, cascade mode, ICW4 needed.
const ICW1_CASCADE_ICW4: u8 = command::ICW1 | command::ICW1_IC4;
/// ICW4: 8086 mode, normal EOI.
const ICW4_8086: u8 = 0x01;
/// ICW4: 8086 mode, automatic EOI.
const ICW4_8086_AUTO_EOI: u8 = ICW4_8086 | command::ICW4_AUTO_EOI;
const MASTER_BASE: u8 = 0x20;
const SLAVE_BASE: u8 = 0x28;
/// OCW2 encodings.
const NON_SPECIFIC_EOI: u8 = 0x20;
const SPECIFIC_EOI: u8 = 0x60;
const ROTATE_ON_NON_SPECIFIC_EOI: u8 = 0xA0;
const SET_PRIORITY: u8 = 0xC0;
const SET_ROTATE_AUTO_EOI: u8 = 0x80;
/// OCW3 encodings.
const READ_IRR: u8 = 0x0A;
const READ_ISR: u8 = 0x0B;
const POLL: u8 = 0x0C;
const SET_SPECIAL_MASK: u8 = 0x68;

fn out(pic: &mut PicPair, ctx: &mut FakeContext, port: u16, value: u8) {
    pic.pio_write(ctx, port, &[value]);
}

fn inb(pic: &mut PicPair, ctx: &mut FakeContext, port: u16) -> u8 {
    let mut data = [0];
    pic.pio_read(ctx, port, &mut data);
    data[0]
}

/// The PC BIOS/Linux sequence: master at vector 0x20, slave at 0x28, cascade on IR2.
fn initialised(icw4: u8) -> (PicPair, FakeContext) {
    let mut pic = PicPair::new();
    let mut ctx = FakeContext::new();
    pic.install(&mut ctx).unwrap();
    pic.power_on(&mut ctx).unwrap();
    out(&mut pic, &mut ctx, MASTER_COMMAND, ICW1_CASCADE_ICW4);
    out(&mut pic, &mut ctx, MASTER_DATA, MASTER_BASE);
    out(&mut pic, &mut ctx, MASTER_DATA, 1 << CASCADE_LINE);
    out(&mut pic, &mut ctx, MASTER_DATA, icw4);
    out(&mut pic, &mut ctx, SLAVE_COMMAND, ICW1_CASCADE_ICW4);
    out(&mut pic, &mut ctx, SLAVE_DATA, SLAVE_BASE);
    out(&mut pic, &mut ctx, SLAVE_DATA, CASCADE_LINE);
    out(&mut pic, &mut ctx, SLAVE_DATA, icw4);
    (pic, ctx)
}

fn pulse(pic: &mut PicPair, line: u8) {
    pic.set_irq(line, true).unwrap();
    pic.set_irq(line, false).unwrap();
}

#[test]
fn pic_icw_sequence_sets_vector_base_and_clears_mask() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    assert_eq!(pic.master().vector_base, MASTER_BASE);
    assert_eq!(pic.slave().vector_base, SLAVE_BASE);
    assert_eq!(inb(&mut pic, &mut ctx, MASTER_DATA), 0);
    // After ICW4 the data port is OCW1 (IMR).
    out(&mut pic, &mut ctx, MASTER_DATA, 0xFB);
    assert_eq!(inb(&mut pic, &mut ctx, MASTER_DATA), 0xFB);
    assert_eq!(pic.master().mask, 0xFB);
}

#[test]
fn pic_icw1_without_ic4_skips_icw4_and_single_skips_icw3() {
    let mut pic = PicPair::new();
    let mut ctx = FakeContext::new();
    out(
        &mut pic,
        &mut ctx,
        MASTER_COMMAND,
        command::ICW1 | command::ICW1_SINGLE,
    );
    out(&mut pic, &mut ctx, MASTER_DATA, 0x48);
    // Initialisation is over: this write is the IMR.
    out(&mut pic, &mut ctx, MASTER_DATA, 0x12);
    assert_eq!(pic.master().vector_base, 0x48);
    assert_eq!(pic.master().mask, 0x12);
}

#[test]
fn pic_acknowledge_returns_base_plus_line_and_sets_isr() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    pulse(&mut pic, 1);
    assert!(pic.has_pending());
    assert_eq!(pic.master().request, 0x02);
    assert_eq!(pic.acknowledge(), MASTER_BASE + 1);
    assert_eq!(pic.master().request, 0);
    assert_eq!(pic.master().in_service, 0x02);
    assert!(!pic.has_pending());
    out(&mut pic, &mut ctx, MASTER_COMMAND, NON_SPECIFIC_EOI);
    assert_eq!(pic.master().in_service, 0);
}

#[test]
fn pic_lower_line_has_priority_and_nests_higher_priority_only() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    pulse(&mut pic, 4);
    pulse(&mut pic, 1);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 1));
    // IRQ 4 has lower priority than IRQ 1, which is in service: held back.
    assert_eq!(pic.take_interrupt(), None);
    // IRQ 0 outranks IRQ 1 and nests.
    pulse(&mut pic, 0);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE));
    out(&mut pic, &mut ctx, MASTER_COMMAND, NON_SPECIFIC_EOI); // ends IRQ 0
    out(&mut pic, &mut ctx, MASTER_COMMAND, NON_SPECIFIC_EOI); // ends IRQ 1
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 4));
}

#[test]
fn pic_masked_line_is_held_in_irr_until_unmasked() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    out(&mut pic, &mut ctx, MASTER_DATA, 0x08);
    pulse(&mut pic, 3);
    assert!(!pic.has_pending());
    assert_eq!(pic.master().request, 0x08);
    out(&mut pic, &mut ctx, MASTER_DATA, 0x00);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 3));
}

#[test]
fn pic_edge_input_latches_once_per_rising_edge() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    pic.set_irq(3, true).unwrap();
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 3));
    out(&mut pic, &mut ctx, MASTER_COMMAND, NON_SPECIFIC_EOI);
    // Still high, no new edge: nothing more.
    pic.set_irq(3, true).unwrap();
    assert!(!pic.has_pending());
    pic.set_irq(3, false).unwrap();
    pic.set_irq(3, true).unwrap();
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 3));
}

#[test]
fn pic_elcr_level_input_requests_while_high_and_withdraws_when_low() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    out(&mut pic, &mut ctx, ELCR_SLAVE, 1 << (11 - 8));
    pic.set_irq(11, true).unwrap();
    assert_eq!(pic.take_interrupt(), Some(SLAVE_BASE + 3));
    out(&mut pic, &mut ctx, SLAVE_COMMAND, NON_SPECIFIC_EOI);
    out(&mut pic, &mut ctx, MASTER_COMMAND, NON_SPECIFIC_EOI);
    // Still asserted: requested again without a new edge.
    assert_eq!(pic.take_interrupt(), Some(SLAVE_BASE + 3));
    // A handler quiets the device before its EOI: then nothing is requested any more.
    pic.set_irq(11, false).unwrap();
    out(&mut pic, &mut ctx, SLAVE_COMMAND, NON_SPECIFIC_EOI);
    out(&mut pic, &mut ctx, MASTER_COMMAND, NON_SPECIFIC_EOI);
    assert!(!pic.has_pending());
    assert_eq!(pic.slave().request, 0);
}

#[test]
fn pic_elcr_refuses_level_mode_on_irq_0_1_2_8_13() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    out(&mut pic, &mut ctx, ELCR_MASTER, 0xFF);
    out(&mut pic, &mut ctx, ELCR_SLAVE, 0xFF);
    assert_eq!(inb(&mut pic, &mut ctx, ELCR_MASTER), ELCR_MASTER_CAPABLE);
    assert_eq!(inb(&mut pic, &mut ctx, ELCR_SLAVE), ELCR_SLAVE_CAPABLE);
}

#[test]
fn pic_slave_request_cascades_through_master_ir2() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    pulse(&mut pic, 12);
    assert!(pic.has_pending());
    assert_eq!(pic.master().request, 1 << CASCADE_LINE);
    assert_eq!(pic.acknowledge(), SLAVE_BASE + 4);
    assert_eq!(pic.master().in_service, 1 << CASCADE_LINE);
    assert_eq!(pic.slave().in_service, 1 << 4);
    out(&mut pic, &mut ctx, SLAVE_COMMAND, NON_SPECIFIC_EOI);
    out(&mut pic, &mut ctx, MASTER_COMMAND, NON_SPECIFIC_EOI);
    assert_eq!(pic.master().in_service, 0);
    assert_eq!(pic.slave().in_service, 0);
}

#[test]
fn pic_cascade_line_is_not_a_device_input() {
    let mut pic = PicPair::new();
    assert_eq!(pic.set_irq(CASCADE_LINE, true), Err(PicError::CascadeLine));
    assert_eq!(pic.set_irq(16, true), Err(PicError::NoSuchLine(16)));
}

#[test]
fn pic_acknowledge_with_nothing_pending_is_spurious_irq7() {
    let (mut pic, _ctx) = initialised(ICW4_8086);
    assert_eq!(pic.take_interrupt(), None);
    assert_eq!(pic.acknowledge(), MASTER_BASE + 7);
    assert_eq!(
        pic.master().in_service,
        0,
        "a spurious IR7 does not set ISR"
    );
    assert_eq!(pic.spurious_count(), 1);
}

#[test]
fn pic_withdrawn_slave_request_is_spurious_irq15_with_master_isr2_set() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    out(&mut pic, &mut ctx, ELCR_SLAVE, 1 << (10 - 8));
    pic.set_irq(10, true).unwrap();
    assert!(pic.has_pending());
    // The device drops its level line before the CPU acknowledges; the master's IR2 edge is
    // already latched.
    pic.set_irq(10, false).unwrap();
    assert!(pic.has_pending());
    assert_eq!(pic.acknowledge(), SLAVE_BASE + 7);
    assert_eq!(pic.slave().in_service, 0);
    assert_eq!(pic.master().in_service, 1 << CASCADE_LINE);
}

#[test]
fn pic_specific_eoi_clears_the_named_level() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    pulse(&mut pic, 5);
    pic.acknowledge();
    pulse(&mut pic, 3);
    pic.acknowledge();
    assert_eq!(pic.master().in_service, 0x28);
    out(&mut pic, &mut ctx, MASTER_COMMAND, SPECIFIC_EOI | 5);
    assert_eq!(pic.master().in_service, 0x08);
}

#[test]
fn pic_rotate_on_eoi_makes_served_line_lowest_priority() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    pulse(&mut pic, 3);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 3));
    out(
        &mut pic,
        &mut ctx,
        MASTER_COMMAND,
        ROTATE_ON_NON_SPECIFIC_EOI,
    );
    // Priority is now 4 5 6 7 0 1 3... with 3 lowest: IRQ 5 beats IRQ 1 and IRQ 3.
    pulse(&mut pic, 1);
    pulse(&mut pic, 3);
    pulse(&mut pic, 5);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 5));
    out(&mut pic, &mut ctx, MASTER_COMMAND, NON_SPECIFIC_EOI);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 1));
    out(&mut pic, &mut ctx, MASTER_COMMAND, NON_SPECIFIC_EOI);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 3));
}

#[test]
fn pic_set_priority_command_names_the_lowest_level() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    out(&mut pic, &mut ctx, MASTER_COMMAND, SET_PRIORITY | 6);
    pulse(&mut pic, 6);
    pulse(&mut pic, 7);
    pulse(&mut pic, 0);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 7));
}

#[test]
fn pic_auto_eoi_leaves_isr_clear() {
    let (mut pic, _ctx) = initialised(ICW4_8086_AUTO_EOI);
    pulse(&mut pic, 1);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 1));
    assert_eq!(pic.master().in_service, 0);
    // With no EOI needed, a lower-priority request follows at once.
    pulse(&mut pic, 6);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 6));
}

#[test]
fn pic_rotate_in_auto_eoi_mode_rotates_on_acknowledge() {
    let (mut pic, mut ctx) = initialised(ICW4_8086_AUTO_EOI);
    out(&mut pic, &mut ctx, MASTER_COMMAND, SET_ROTATE_AUTO_EOI);
    pulse(&mut pic, 1);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 1));
    pulse(&mut pic, 0);
    pulse(&mut pic, 4);
    // IRQ 1 became lowest: 2 3 4 5 6 7 0 1, so IRQ 4 wins over IRQ 0.
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 4));
}

#[test]
fn pic_ocw3_selects_irr_or_isr_on_the_command_port() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    pulse(&mut pic, 5);
    pic.acknowledge();
    pulse(&mut pic, 6);
    out(&mut pic, &mut ctx, MASTER_COMMAND, READ_IRR);
    assert_eq!(inb(&mut pic, &mut ctx, MASTER_COMMAND), 0x40);
    out(&mut pic, &mut ctx, MASTER_COMMAND, READ_ISR);
    assert_eq!(inb(&mut pic, &mut ctx, MASTER_COMMAND), 0x20);
    // The selection sticks.
    assert_eq!(inb(&mut pic, &mut ctx, MASTER_COMMAND), 0x20);
}

#[test]
fn pic_poll_command_acknowledges_and_returns_level() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    pulse(&mut pic, 6);
    out(&mut pic, &mut ctx, MASTER_COMMAND, POLL);
    assert_eq!(
        inb(&mut pic, &mut ctx, MASTER_COMMAND),
        command::POLL_INTERRUPT | 6
    );
    assert_eq!(pic.master().in_service, 0x40);
    out(&mut pic, &mut ctx, MASTER_COMMAND, POLL);
    assert_eq!(inb(&mut pic, &mut ctx, MASTER_COMMAND), 0);
    // The poll is one-shot: the next read is IRR again.
    assert_eq!(inb(&mut pic, &mut ctx, MASTER_COMMAND), 0);
}

#[test]
fn pic_special_mask_mode_lets_lower_levels_past_a_masked_service() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    pulse(&mut pic, 3);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 3));
    pulse(&mut pic, 5);
    assert_eq!(pic.take_interrupt(), None);
    // The IRQ 3 handler masks itself and enters special mask mode.
    out(&mut pic, &mut ctx, MASTER_DATA, 0x08);
    out(&mut pic, &mut ctx, MASTER_COMMAND, SET_SPECIAL_MASK);
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 5));
}

#[test]
fn pic_reinitialisation_needs_a_fresh_edge() {
    let (mut pic, mut ctx) = initialised(ICW4_8086);
    pic.set_irq(4, true).unwrap();
    out(&mut pic, &mut ctx, MASTER_COMMAND, ICW1_CASCADE_ICW4);
    out(&mut pic, &mut ctx, MASTER_DATA, MASTER_BASE);
    out(&mut pic, &mut ctx, MASTER_DATA, 1 << CASCADE_LINE);
    out(&mut pic, &mut ctx, MASTER_DATA, ICW4_8086);
    assert!(!pic.has_pending());
    pic.set_irq(4, false).unwrap();
    pic.set_irq(4, true).unwrap();
    assert_eq!(pic.take_interrupt(), Some(MASTER_BASE + 4));
}

#[test]
fn pic_install_claims_its_six_ports() {
    let mut pic = PicPair::new();
    let mut ctx = FakeContext::new();
    pic.install(&mut ctx).unwrap();
    assert_eq!(ctx.claims().len(), 6);
    assert!(
        ctx.claims()
            .contains(&Region::Pio(PortRange::single(ELCR_SLAVE)))
    );
    pic.remove(&mut ctx).unwrap();
    assert!(ctx.claims().is_empty());
}
