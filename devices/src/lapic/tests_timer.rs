//! The local APIC timer (SDM 11.5.4), driven by the fake context's clock and timers. The
//! default timer input is 1 GHz: one count per nanosecond before the divider.

use crate::interface::{Device, TimerError};
use crate::testing::FakeContext;

use super::registers::{lvt, msr, offset};
use super::tests_support::*;
use super::timer::divisor;
use super::*;

const VECTOR: u32 = 0x40;
const PERIODIC: u32 = 1 << lvt::TIMER_MODE_SHIFT;
const TSC_DEADLINE: u32 = 2 << lvt::TIMER_MODE_SHIFT;
/// Divide configuration 0b1011: divide by 1.
const DIVIDE_BY_1: u32 = 0b1011;

/// An enabled APIC with the timer LVT and divider programmed, not counting yet.
fn timer(lvt_value: u32, divide: u32) -> (LocalApic, FakeContext) {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::TIMER_DIVIDE, divide);
    write(&mut apic, &mut ctx, offset::LVT_TIMER, lvt_value);
    (apic, ctx)
}

/// Takes the pending timer interrupt and EOIs it; returns whether there was one.
fn take(apic: &mut LocalApic) -> bool {
    let taken = apic.acknowledge() == Some(VECTOR as u8);
    apic.end_of_interrupt();
    taken
}

#[test]
fn lapic_divide_configuration_selects_the_divisor() {
    let expected = [
        (0b0000, 2),
        (0b0001, 4),
        (0b0010, 8),
        (0b0011, 16),
        (0b1000, 32),
        (0b1001, 64),
        (0b1010, 128),
        (0b1011, 1),
    ];
    for (config, value) in expected {
        assert_eq!(divisor(config), value, "config {config:#06b}");
    }
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::TIMER_DIVIDE, 0xFFFF_FFFF);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_DIVIDE), 0b1011);
}

#[test]
fn lapic_one_shot_timer_counts_down_and_fires_once() {
    let (mut apic, mut ctx) = timer(VECTOR, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 100_000);
    assert_eq!(ctx.timers().len(), 1);
    ctx.advance(40_000);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 60_000);
    run_until(&mut apic, &mut ctx, 99_999);
    assert_eq!(apic.pending_interrupt(), None);
    run_until(&mut apic, &mut ctx, 100_000);
    assert!(take(&mut apic));
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 0);
    // Disconnected after the first callback; nothing more.
    assert!(ctx.timers().is_empty());
    run_until(&mut apic, &mut ctx, 1_000_000);
    assert_eq!(apic.pending_interrupt(), None);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_INITIAL), 100_000);
}

#[test]
fn lapic_periodic_timer_fires_every_period() {
    let (mut apic, mut ctx) = timer(VECTOR | PERIODIC, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 50_000);
    let id = *ctx.timers().keys().next().unwrap();
    assert_eq!(ctx.timer_period(id), Some(50_000));
    for period in 1..=5u64 {
        run_until(&mut apic, &mut ctx, period * 50_000 - 1);
        assert_eq!(apic.pending_interrupt(), None, "early in period {period}");
        run_until(&mut apic, &mut ctx, period * 50_000);
        assert!(take(&mut apic), "period {period}");
    }
    // Reloads: the count restarts from the initial count.
    ctx.advance(10_000);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 40_000);
    assert_eq!(apic.counters().coalesced_timer_interrupts, 0);
}

#[test]
fn lapic_current_count_follows_the_clock_and_the_divisor() {
    let (mut apic, mut ctx) = timer(VECTOR, 0b0011);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 1000);
    ctx.advance(16 * 250 + 15);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 750);
}

#[test]
fn lapic_timer_input_frequency_scales_the_count() {
    let config = LapicConfig {
        timer_frequency_hz: 25_000_000,
        ..LapicConfig::bootstrap(ID)
    };
    let (mut apic, mut ctx) = powered_with(config);
    write(&mut apic, &mut ctx, offset::SVR, SVR_ENABLED);
    write(&mut apic, &mut ctx, offset::TIMER_DIVIDE, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::LVT_TIMER, VECTOR);
    // 25 MHz: 40 ns per count; 250 counts take 10 µs.
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 250);
    ctx.advance(4_000);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 150);
    run_until(&mut apic, &mut ctx, 10_000);
    assert!(take(&mut apic));
}

#[test]
fn lapic_masked_timer_counts_without_interrupting() {
    let (mut apic, mut ctx) = timer(VECTOR | lvt::MASK, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 20_000);
    assert!(ctx.timers().is_empty());
    ctx.advance(5_000);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 15_000);
    run_until(&mut apic, &mut ctx, 30_000);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 0);
    assert_eq!(apic.pending_interrupt(), None);
    // Unmasking later does not replay the expiry that happened while masked.
    write(&mut apic, &mut ctx, offset::LVT_TIMER, VECTOR);
    assert_eq!(apic.pending_interrupt(), None);
}

#[test]
fn lapic_late_periodic_callback_coalesces_into_one_interrupt() {
    let (mut apic, mut ctx) = timer(VECTOR | PERIODIC, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 20_000);
    // The VMM runs late: one callback at 100 µs covers five periods.
    assert_eq!(ctx.fire_late(&mut apic, 100_000), 1);
    assert!(take(&mut apic));
    assert_eq!(apic.pending_interrupt(), None);
    assert_eq!(apic.counters().coalesced_timer_interrupts, 4);
    // Back in phase: the next expiry is at 120 µs.
    run_until(&mut apic, &mut ctx, 119_999);
    assert_eq!(apic.pending_interrupt(), None);
    run_until(&mut apic, &mut ctx, 120_000);
    assert!(take(&mut apic));
}

#[test]
fn lapic_initial_count_zero_stops_the_timer() {
    let (mut apic, mut ctx) = timer(VECTOR | PERIODIC, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 20_000);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 0);
    assert!(ctx.timers().is_empty());
    run_until(&mut apic, &mut ctx, 100_000);
    assert_eq!(apic.pending_interrupt(), None);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 0);
}

#[test]
fn lapic_rearming_disconnects_the_old_timer() {
    let (mut apic, mut ctx) = timer(VECTOR, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 500_000);
    let first = *ctx.timers().keys().next().unwrap();
    ctx.advance(100_000);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 30_000);
    assert_eq!(ctx.timers().len(), 1);
    assert!(!ctx.timers().contains_key(&first));
    run_until(&mut apic, &mut ctx, 130_000);
    assert!(take(&mut apic));
    run_until(&mut apic, &mut ctx, 600_000);
    assert_eq!(apic.pending_interrupt(), None);
}

#[test]
fn lapic_short_periods_are_stretched_to_the_minimum() {
    let (mut apic, mut ctx) = timer(VECTOR | PERIODIC, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 100);
    let id = *ctx.timers().keys().next().unwrap();
    assert_eq!(ctx.timer_period(id), Some(MIN_TIMER_PERIOD_NS));
    run_until(&mut apic, &mut ctx, MIN_TIMER_PERIOD_NS);
    assert!(take(&mut apic));
    assert_eq!(
        apic.counters().coalesced_timer_interrupts,
        MIN_TIMER_PERIOD_NS / 100 - 1
    );
}

#[test]
fn lapic_divide_change_mid_count_changes_the_rate_from_then_on() {
    let (mut apic, mut ctx) = timer(VECTOR, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 100_000);
    ctx.advance(40_000);
    write(&mut apic, &mut ctx, offset::TIMER_DIVIDE, 0b0000);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 60_000);
    // 60 000 counts left at two nanoseconds each.
    run_until(&mut apic, &mut ctx, 40_000 + 119_999);
    assert_eq!(apic.pending_interrupt(), None);
    run_until(&mut apic, &mut ctx, 40_000 + 120_000);
    assert!(take(&mut apic));
}

#[test]
fn lapic_switching_one_shot_to_periodic_keeps_the_current_count() {
    let (mut apic, mut ctx) = timer(VECTOR, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 50_000);
    ctx.advance(20_000);
    write(&mut apic, &mut ctx, offset::LVT_TIMER, VECTOR | PERIODIC);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 30_000);
    run_until(&mut apic, &mut ctx, 50_000);
    assert!(take(&mut apic));
    run_until(&mut apic, &mut ctx, 100_000);
    assert!(take(&mut apic));
}

#[test]
fn lapic_tsc_deadline_fires_when_the_guest_tsc_reaches_it_and_reads_zero_after() {
    let config = LapicConfig {
        tsc_frequency_hz: 2_000_000_000,
        ..LapicConfig::bootstrap(ID)
    };
    let (mut apic, mut ctx) = powered_with(config);
    write(&mut apic, &mut ctx, offset::SVR, SVR_ENABLED);
    write(
        &mut apic,
        &mut ctx,
        offset::LVT_TIMER,
        VECTOR | TSC_DEADLINE,
    );
    // The guest TSC read 1 000 000 at 0 ns and runs at 2 GHz.
    apic.set_tsc_reference(TscReference {
        at: 0,
        tsc: 1_000_000,
    });
    assert_eq!(apic.guest_tsc(50_000), 1_100_000);
    apic.msr_write(&mut ctx, msr::TSC_DEADLINE, 1_100_000)
        .unwrap();
    assert_eq!(apic.msr_read(&mut ctx, msr::TSC_DEADLINE), Ok(1_100_000));
    // The initial count is ignored in TSC-deadline mode.
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 5);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_INITIAL), 0);
    run_until(&mut apic, &mut ctx, 49_999);
    assert_eq!(apic.pending_interrupt(), None);
    run_until(&mut apic, &mut ctx, 50_000);
    assert!(take(&mut apic));
    assert_eq!(apic.msr_read(&mut ctx, msr::TSC_DEADLINE), Ok(0));
    assert!(ctx.timers().is_empty());
}

#[test]
fn lapic_tsc_deadline_in_the_past_fires_at_once_and_zero_disarms() {
    let (mut apic, mut ctx) = timer(VECTOR | TSC_DEADLINE, DIVIDE_BY_1);
    ctx.advance(1_000);
    apic.msr_write(&mut ctx, msr::TSC_DEADLINE, 10).unwrap();
    assert!(take(&mut apic));
    apic.msr_write(&mut ctx, msr::TSC_DEADLINE, 50_000).unwrap();
    apic.msr_write(&mut ctx, msr::TSC_DEADLINE, 0).unwrap();
    assert!(ctx.timers().is_empty());
    run_until(&mut apic, &mut ctx, 100_000);
    assert_eq!(apic.pending_interrupt(), None);
}

#[test]
fn lapic_tsc_deadline_writes_are_ignored_outside_deadline_mode() {
    let (mut apic, mut ctx) = timer(VECTOR, DIVIDE_BY_1);
    apic.msr_write(&mut ctx, msr::TSC_DEADLINE, 50_000).unwrap();
    assert_eq!(apic.msr_read(&mut ctx, msr::TSC_DEADLINE), Ok(0));
    assert!(ctx.timers().is_empty());
}

#[test]
fn lapic_switching_to_tsc_deadline_disarms_the_countdown() {
    let (mut apic, mut ctx) = timer(VECTOR | PERIODIC, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 20_000);
    write(
        &mut apic,
        &mut ctx,
        offset::LVT_TIMER,
        VECTOR | TSC_DEADLINE,
    );
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_INITIAL), 0);
    assert!(ctx.timers().is_empty());
    apic.msr_write(&mut ctx, msr::TSC_DEADLINE, 30_000).unwrap();
    write(&mut apic, &mut ctx, offset::LVT_TIMER, VECTOR);
    assert_eq!(apic.msr_read(&mut ctx, msr::TSC_DEADLINE), Ok(0));
    assert!(ctx.timers().is_empty());
}

#[test]
fn lapic_timer_error_is_recorded_and_register_access_still_catches_up() {
    let (mut apic, mut ctx) = timer(VECTOR, DIVIDE_BY_1);
    ctx.min_timer_period = 1_000_000;
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 20_000);
    assert_eq!(apic.timer_error(), Some(TimerError::BadPeriod(20_000)));
    ctx.advance(20_000);
    apic.catch_up(now(&ctx));
    assert!(take(&mut apic));
}

#[test]
fn lapic_power_off_drops_the_timer() {
    let (mut apic, mut ctx) = timer(VECTOR | PERIODIC, DIVIDE_BY_1);
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 20_000);
    apic.power_off(&mut ctx).unwrap();
    assert!(ctx.timers().is_empty());
}
