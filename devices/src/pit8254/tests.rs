//! The 8254's documented behaviour, one test each, programmed through its ports as a guest
//! would, with the fake context's clock standing in for the 1.193182 MHz input.

use super::clock::{PIT_HZ, nanos_for};
use super::*;
use crate::testing::FakeContext;

/// Control words: counter in bits 7–6, access in 5–4, mode in 3–1, BCD in 0.
const fn control_word(counter: u8, access: u8, mode: u8, bcd: bool) -> u8 {
    (counter << control::SELECT_SHIFT)
        | (access << control::ACCESS_SHIFT)
        | (mode << control::MODE_SHIFT)
        | bcd as u8
}
const LOW: u8 = 1;
const HIGH: u8 = 2;
const LOW_HIGH: u8 = 3;
const READ_BACK: u8 = control::READ_BACK << control::SELECT_SHIFT;

fn powered() -> (Pit8254, FakeContext) {
    let mut pit = Pit8254::new();
    let mut ctx = FakeContext::new();
    pit.install(&mut ctx).unwrap();
    pit.power_on(&mut ctx).unwrap();
    (pit, ctx)
}

fn out(pit: &mut Pit8254, ctx: &mut FakeContext, port: u16, value: u8) {
    pit.pio_write(ctx, port, &[value]);
}

fn inb(pit: &mut Pit8254, ctx: &mut FakeContext, port: u16) -> u8 {
    let mut data = [0];
    pit.pio_read(ctx, port, &mut data);
    data[0]
}

/// Puts the clock at the first nanosecond of input tick `tick`.
fn at_tick(ctx: &mut FakeContext, tick: u64) {
    ctx.set_now(nanos_for(tick));
}

fn program(pit: &mut Pit8254, ctx: &mut FakeContext, counter: u8, mode: u8, count: u16) {
    out(
        pit,
        ctx,
        CONTROL,
        control_word(counter, LOW_HIGH, mode, false),
    );
    let [low, high] = count.to_le_bytes();
    out(pit, ctx, COUNTER0 + u16::from(counter), low);
    out(pit, ctx, COUNTER0 + u16::from(counter), high);
}

fn read_count(pit: &mut Pit8254, ctx: &mut FakeContext, counter: u8) -> u16 {
    out(
        pit,
        ctx,
        CONTROL,
        control_word(counter, control::LATCH, 0, false),
    );
    let low = inb(pit, ctx, COUNTER0 + u16::from(counter));
    let high = inb(pit, ctx, COUNTER0 + u16::from(counter));
    u16::from_le_bytes([low, high])
}

#[test]
fn pit_mode2_divides_the_clock_exactly() {
    let (mut pit, mut ctx) = powered();
    // Linux's HZ=1000 programming: 1193 input clocks per interrupt.
    program(&mut pit, &mut ctx, 0, 2, 1193);
    ctx.take_irq_events();
    ctx.fire_due(&mut pit, 1_000_000_000);
    assert_eq!(pit.irq_edges(), PIT_HZ / 1193);
    assert_eq!(ctx.irq_rising_edges(IRQ), 1000);
    assert_eq!(pit.coalesced_edges(), 0);
}

#[test]
fn pit_mode2_counts_n_down_to_1_and_pulses_out_low_for_one_clock() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 2, 100);
    for (tick, count, out) in [
        (0, 100, true),
        (1, 99, true),
        (98, 2, true),
        (99, 1, false),
        (100, 100, true),
        (250, 50, true),
    ] {
        at_tick(&mut ctx, tick);
        assert_eq!(read_count(&mut pit, &mut ctx, 0), count, "tick {tick}");
        assert_eq!(pit.output(0, ctx.now()), Some(out), "tick {tick}");
    }
}

#[test]
fn pit_mode0_out_rises_at_terminal_count_and_irq0_fires_once() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 0, 1000);
    assert_eq!(pit.output(0, ctx.now()), Some(false));
    assert_eq!(ctx.timers().len(), 1);
    ctx.fire_due(&mut pit, nanos_for(999));
    assert_eq!(ctx.irq_rising_edges(IRQ), 0);
    ctx.fire_due(&mut pit, 10_000_000);
    assert_eq!(ctx.irq_rising_edges(IRQ), 1);
    assert_eq!(pit.output(0, ctx.now()), Some(true));
    // One-shot: the timer is gone once the edge was delivered.
    assert!(ctx.timers().is_empty());
    // The counter keeps counting down through zero (wrapping to 0xFFFF).
    at_tick(&mut ctx, 1001);
    assert_eq!(read_count(&mut pit, &mut ctx, 0), 0xFFFF);
}

#[test]
fn pit_mode0_first_byte_of_a_count_stops_counting_and_lowers_out() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 0, 10);
    at_tick(&mut ctx, 20);
    assert_eq!(pit.output(0, ctx.now()), Some(true));
    out(&mut pit, &mut ctx, COUNTER0, 50);
    assert_eq!(pit.output(0, ctx.now()), Some(false));
    let stopped = read_count(&mut pit, &mut ctx, 0);
    at_tick(&mut ctx, 40);
    assert_eq!(read_count(&mut pit, &mut ctx, 0), stopped);
    out(&mut pit, &mut ctx, COUNTER0, 0);
    at_tick(&mut ctx, 45);
    assert_eq!(read_count(&mut pit, &mut ctx, 0), 45);
}

#[test]
fn pit_mode3_square_wave_is_high_for_half_the_period() {
    let (mut pit, mut ctx) = powered();
    out(&mut pit, &mut ctx, PORT_B, port_b::GATE2);
    program(&mut pit, &mut ctx, 2, 3, 10);
    let highs: Vec<bool> = (0..20)
        .map(|tick| {
            at_tick(&mut ctx, tick);
            inb(&mut pit, &mut ctx, PORT_B) & port_b::OUT2 != 0
        })
        .collect();
    let expected: Vec<bool> = (0..20).map(|tick| tick % 10 < 5).collect();
    assert_eq!(highs, expected);
    // The count goes down by two per clock: 10 8 6 4 2, then again in the low half.
    at_tick(&mut ctx, 3);
    assert_eq!(read_count(&mut pit, &mut ctx, 2), 4);
    at_tick(&mut ctx, 6);
    assert_eq!(read_count(&mut pit, &mut ctx, 2), 8);
}

#[test]
fn pit_mode3_odd_count_is_high_one_clock_longer() {
    let (mut pit, mut ctx) = powered();
    out(&mut pit, &mut ctx, PORT_B, port_b::GATE2);
    program(&mut pit, &mut ctx, 2, 3, 5);
    let highs: Vec<bool> = (0..5)
        .map(|tick| pit.output(2, nanos_for(tick)).unwrap())
        .collect();
    assert_eq!(highs, [true, true, true, false, false]);
}

#[test]
fn pit_mode4_strobes_out_low_for_one_clock() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 4, 5);
    let outs: Vec<bool> = (0..8)
        .map(|tick| pit.output(0, nanos_for(tick)).unwrap())
        .collect();
    assert_eq!(outs, [true, true, true, true, true, false, true, true]);
    ctx.fire_due(&mut pit, 1_000_000);
    assert_eq!(ctx.irq_rising_edges(IRQ), 1);
}

#[test]
fn pit_mode1_one_shot_waits_for_the_gate_rising_edge() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 2, 1, 4);
    at_tick(&mut ctx, 10);
    assert_eq!(pit.output(2, ctx.now()), Some(true));
    out(&mut pit, &mut ctx, PORT_B, port_b::GATE2);
    let outs: Vec<bool> = (10..16)
        .map(|tick| pit.output(2, nanos_for(tick)).unwrap())
        .collect();
    assert_eq!(outs, [false, false, false, false, true, true]);
}

#[test]
fn pit_mode2_gate_low_holds_out_high_and_rising_edge_reloads() {
    let (mut pit, mut ctx) = powered();
    out(&mut pit, &mut ctx, PORT_B, port_b::GATE2);
    program(&mut pit, &mut ctx, 2, 2, 10);
    at_tick(&mut ctx, 9);
    assert_eq!(pit.output(2, ctx.now()), Some(false));
    out(&mut pit, &mut ctx, PORT_B, 0);
    assert_eq!(pit.output(2, ctx.now()), Some(true));
    at_tick(&mut ctx, 30);
    assert_eq!(read_count(&mut pit, &mut ctx, 2), 1);
    out(&mut pit, &mut ctx, PORT_B, port_b::GATE2);
    at_tick(&mut ctx, 33);
    assert_eq!(read_count(&mut pit, &mut ctx, 2), 7);
}

#[test]
fn pit_mode0_gate_low_pauses_counting() {
    let (mut pit, mut ctx) = powered();
    out(&mut pit, &mut ctx, PORT_B, port_b::GATE2);
    program(&mut pit, &mut ctx, 2, 0, 100);
    at_tick(&mut ctx, 10);
    out(&mut pit, &mut ctx, PORT_B, 0);
    at_tick(&mut ctx, 500);
    assert_eq!(read_count(&mut pit, &mut ctx, 2), 90);
    out(&mut pit, &mut ctx, PORT_B, port_b::GATE2);
    at_tick(&mut ctx, 520);
    assert_eq!(read_count(&mut pit, &mut ctx, 2), 70);
}

#[test]
fn pit_mode2_new_count_takes_effect_at_the_end_of_the_period() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 2, 100);
    at_tick(&mut ctx, 30);
    out(&mut pit, &mut ctx, COUNTER0, 50);
    out(&mut pit, &mut ctx, COUNTER0, 0);
    at_tick(&mut ctx, 60);
    assert_eq!(read_count(&mut pit, &mut ctx, 0), 40);
    at_tick(&mut ctx, 110);
    assert_eq!(read_count(&mut pit, &mut ctx, 0), 40);
    // Edges: the old period's at tick 100, then every 50.
    ctx.fire_due(&mut pit, nanos_for(300));
    inb(&mut pit, &mut ctx, COUNTER0); // every access catches up on edges
    assert_eq!(pit.irq_edges(), 5);
}

#[test]
fn pit_counter_latch_freezes_the_count_until_read() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 2, 1000);
    at_tick(&mut ctx, 100);
    out(
        &mut pit,
        &mut ctx,
        CONTROL,
        control_word(0, control::LATCH, 0, false),
    );
    at_tick(&mut ctx, 300);
    // A second latch command before the first is read is ignored.
    out(
        &mut pit,
        &mut ctx,
        CONTROL,
        control_word(0, control::LATCH, 0, false),
    );
    let low = inb(&mut pit, &mut ctx, COUNTER0);
    let high = inb(&mut pit, &mut ctx, COUNTER0);
    assert_eq!(u16::from_le_bytes([low, high]), 900);
    assert_eq!(read_count(&mut pit, &mut ctx, 0), 700);
}

#[test]
fn pit_read_back_latches_status_then_count() {
    let (mut pit, mut ctx) = powered();
    out(
        &mut pit,
        &mut ctx,
        CONTROL,
        control_word(1, LOW_HIGH, 2, false),
    );
    // Null count until a count is written.
    out(
        &mut pit,
        &mut ctx,
        CONTROL,
        READ_BACK | control::READ_BACK_NO_COUNT | (control::READ_BACK_COUNTER0 << 1),
    );
    assert_eq!(
        inb(&mut pit, &mut ctx, COUNTER1),
        status::OUTPUT | status::NULL_COUNT | (3 << 4) | (2 << 1)
    );
    out(&mut pit, &mut ctx, COUNTER1, 0x34);
    out(&mut pit, &mut ctx, COUNTER1, 0x12);
    at_tick(&mut ctx, 1);
    out(
        &mut pit,
        &mut ctx,
        CONTROL,
        READ_BACK | (control::READ_BACK_COUNTER0 << 1),
    );
    at_tick(&mut ctx, 5);
    assert_eq!(
        inb(&mut pit, &mut ctx, COUNTER1),
        status::OUTPUT | (3 << 4) | (2 << 1)
    );
    assert_eq!(inb(&mut pit, &mut ctx, COUNTER1), 0x33);
    assert_eq!(inb(&mut pit, &mut ctx, COUNTER1), 0x12);
}

#[test]
fn pit_null_count_clears_one_clock_after_the_count_is_written() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 2, 500);
    let status_of = |pit: &mut Pit8254, ctx: &mut FakeContext| {
        out(
            pit,
            ctx,
            CONTROL,
            READ_BACK | control::READ_BACK_NO_COUNT | control::READ_BACK_COUNTER0,
        );
        inb(pit, ctx, COUNTER0)
    };
    assert_eq!(
        status_of(&mut pit, &mut ctx) & status::NULL_COUNT,
        status::NULL_COUNT
    );
    at_tick(&mut ctx, 1);
    assert_eq!(status_of(&mut pit, &mut ctx) & status::NULL_COUNT, 0);
}

#[test]
fn pit_low_byte_and_high_byte_access_modes() {
    let (mut pit, mut ctx) = powered();
    out(&mut pit, &mut ctx, CONTROL, control_word(0, HIGH, 0, false));
    out(&mut pit, &mut ctx, COUNTER0, 0x02);
    at_tick(&mut ctx, 1);
    // Count 0x0200, read back MSB only.
    assert_eq!(inb(&mut pit, &mut ctx, COUNTER0), 0x01);
    out(&mut pit, &mut ctx, CONTROL, control_word(0, LOW, 0, false));
    out(&mut pit, &mut ctx, COUNTER0, 0x80);
    at_tick(&mut ctx, 0x11);
    assert_eq!(inb(&mut pit, &mut ctx, COUNTER0), 0x80 - 0x10);
    assert_eq!(inb(&mut pit, &mut ctx, COUNTER0), 0x80 - 0x10);
}

#[test]
fn pit_live_reads_alternate_low_and_high_bytes() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 2, 0x1234);
    assert_eq!(inb(&mut pit, &mut ctx, COUNTER0), 0x34);
    assert_eq!(inb(&mut pit, &mut ctx, COUNTER0), 0x12);
    assert_eq!(inb(&mut pit, &mut ctx, COUNTER0), 0x34);
}

#[test]
fn pit_bcd_mode_counts_in_decimal_digits() {
    let (mut pit, mut ctx) = powered();
    out(
        &mut pit,
        &mut ctx,
        CONTROL,
        control_word(0, LOW_HIGH, 2, true),
    );
    out(&mut pit, &mut ctx, COUNTER0, 0x00);
    out(&mut pit, &mut ctx, COUNTER0, 0x10); // 1000 in BCD
    at_tick(&mut ctx, 1);
    assert_eq!(read_count(&mut pit, &mut ctx, 0), 0x0999);
    at_tick(&mut ctx, 1000 + 1);
    assert_eq!(read_count(&mut pit, &mut ctx, 0), 0x0999);
    // A zero count in BCD is 10000.
    out(
        &mut pit,
        &mut ctx,
        CONTROL,
        control_word(0, LOW_HIGH, 2, true),
    );
    out(&mut pit, &mut ctx, COUNTER0, 0);
    out(&mut pit, &mut ctx, COUNTER0, 0);
    at_tick(&mut ctx, 1001 + 1);
    assert_eq!(read_count(&mut pit, &mut ctx, 0), 0x9999);
}

#[test]
fn pit_zero_count_means_65536() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 2, 0);
    at_tick(&mut ctx, 1);
    assert_eq!(read_count(&mut pit, &mut ctx, 0), 0xFFFF);
    ctx.fire_due(&mut pit, nanos_for(65536));
    assert_eq!(pit.irq_edges(), 1);
}

#[test]
fn pit_late_timer_callback_coalesces_missed_periods_into_one_edge() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 2, 11932); // 100 Hz
    ctx.take_irq_events();
    ctx.fire_late(&mut pit, 50_000_000);
    assert_eq!(pit.irq_edges(), 4);
    assert_eq!(ctx.irq_rising_edges(IRQ), 1);
    assert_eq!(pit.coalesced_edges(), 3);
}

#[test]
fn pit_fast_rate_asks_for_no_timer_shorter_than_the_minimum() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 2, 2);
    let periods: Vec<u64> = ctx.timers().values().map(|t| t.period).collect();
    assert_eq!(periods, [MIN_TIMER_PERIOD_NS]);
}

#[test]
fn pit_reprogramming_or_power_off_drops_the_timer() {
    let (mut pit, mut ctx) = powered();
    program(&mut pit, &mut ctx, 0, 2, 1193);
    assert_eq!(ctx.timers().len(), 1);
    // A control word without a count stops counter 0.
    out(
        &mut pit,
        &mut ctx,
        CONTROL,
        control_word(0, LOW_HIGH, 2, false),
    );
    assert!(ctx.timers().is_empty());
    program(&mut pit, &mut ctx, 0, 3, 1193);
    assert_eq!(ctx.timers().len(), 1);
    pit.power_off(&mut ctx).unwrap();
    assert!(ctx.timers().is_empty());
}

#[test]
fn pit_port_b_stores_gate_and_speaker_and_toggles_refresh() {
    let (mut pit, mut ctx) = powered();
    out(&mut pit, &mut ctx, PORT_B, 0xFF);
    ctx.set_now(0);
    let first = inb(&mut pit, &mut ctx, PORT_B);
    assert_eq!(first & port_b::WRITABLE, port_b::WRITABLE);
    assert_eq!(first & 0xC0, 0);
    ctx.set_now(REFRESH_TOGGLE_NS);
    let second = inb(&mut pit, &mut ctx, PORT_B);
    assert_ne!(
        first & port_b::REFRESH_TOGGLE,
        second & port_b::REFRESH_TOGGLE
    );
}

#[test]
fn pit_control_port_reads_open_bus_and_wide_writes_split() {
    let (mut pit, mut ctx) = powered();
    assert_eq!(inb(&mut pit, &mut ctx, CONTROL), 0xFF);
    // A word write to 0x42 also writes 0x43: count byte then control word.
    pit.pio_write(&mut ctx, COUNTER2, &[0x00, control_word(2, LOW, 3, false)]);
    assert_eq!(pit.mode(2), Some(Mode::SquareWave));
}

#[test]
fn pit_install_claims_its_ports_and_checks_irq0() {
    let mut pit = Pit8254::new();
    let mut ctx = FakeContext::new();
    pit.install(&mut ctx).unwrap();
    assert_eq!(ctx.claims().len(), 5);
    pit.remove(&mut ctx).unwrap();
    assert!(ctx.claims().is_empty());
    ctx.irq_lines = 0;
    assert!(matches!(pit.install(&mut ctx), Err(DeviceError::Config(_))));
}
