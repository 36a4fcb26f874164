//! The MC146818's documented behaviour, one test each, through ports 0x70/0x71.

use super::*;
use crate::testing::FakeContext;

/// 2024-05-17 13:45:30, a Friday.
const FRIDAY_AFTERNOON: u64 = 1_715_953_530;
/// 1999-12-31 23:59:59.
const LAST_SECOND_OF_1999: u64 = 946_684_799;
const SECOND: Nanos = 1_000_000_000;
/// Register A: divider running, no periodic flag.
const NO_PERIODIC: u8 = reg_a::DIVIDER_NORMAL;

fn powered(epoch: u64) -> (RtcCmos, FakeContext) {
    let mut rtc = RtcCmos::new(epoch).unwrap();
    let mut ctx = FakeContext::new();
    rtc.install(&mut ctx).unwrap();
    rtc.power_on(&mut ctx).unwrap();
    (rtc, ctx)
}

fn read(rtc: &mut RtcCmos, ctx: &mut FakeContext, index: u8) -> u8 {
    rtc.pio_write(ctx, INDEX_PORT, &[index]);
    let mut data = [0];
    rtc.pio_read(ctx, DATA_PORT, &mut data);
    data[0]
}

fn write(rtc: &mut RtcCmos, ctx: &mut FakeContext, index: u8, value: u8) {
    rtc.pio_write(ctx, INDEX_PORT, &[index]);
    rtc.pio_write(ctx, DATA_PORT, &[value]);
}

/// (year, month, day, hours, minutes, seconds, weekday, century) as the registers hold them.
fn clock(rtc: &mut RtcCmos, ctx: &mut FakeContext) -> [u8; 8] {
    [
        register::YEAR,
        register::MONTH,
        register::DAY,
        register::HOURS,
        register::MINUTES,
        register::SECONDS,
        register::WEEKDAY,
        register::CENTURY,
    ]
    .map(|index| read(rtc, ctx, index))
}

#[test]
fn rtc_reports_the_initial_wall_time_in_bcd_24_hour() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    assert_eq!(
        clock(&mut rtc, &mut ctx),
        [0x24, 0x05, 0x17, 0x13, 0x45, 0x30, 0x06, 0x20]
    );
}

#[test]
fn rtc_binary_data_mode_and_12_hour_pm_bit() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    write(&mut rtc, &mut ctx, register::B, reg_b::BINARY);
    assert_eq!(
        clock(&mut rtc, &mut ctx),
        [24, 5, 17, calendar::PM | 1, 45, 30, 6, 20]
    );
    write(&mut rtc, &mut ctx, register::B, 0);
    assert_eq!(
        read(&mut rtc, &mut ctx, register::HOURS),
        calendar::PM | 0x01
    );
}

#[test]
fn rtc_clock_advances_with_the_context_clock() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    ctx.set_now(90 * SECOND - 1);
    assert_eq!(read(&mut rtc, &mut ctx, register::MINUTES), 0x46);
    assert_eq!(read(&mut rtc, &mut ctx, register::SECONDS), 0x59);
    ctx.set_now(90 * SECOND);
    assert_eq!(read(&mut rtc, &mut ctx, register::MINUTES), 0x47);
    assert_eq!(read(&mut rtc, &mut ctx, register::SECONDS), 0x00);
}

#[test]
fn rtc_update_carries_into_the_next_century() {
    let (mut rtc, mut ctx) = powered(LAST_SECOND_OF_1999);
    assert_eq!(
        clock(&mut rtc, &mut ctx),
        [0x99, 0x12, 0x31, 0x23, 0x59, 0x59, 0x06, 0x19]
    );
    ctx.set_now(SECOND);
    assert_eq!(
        clock(&mut rtc, &mut ctx),
        [0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x07, 0x20]
    );
}

#[test]
fn rtc_uip_is_set_for_the_last_244_us_before_each_update() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    ctx.set_now(SECOND - UIP_LEAD_NS - 1);
    assert_eq!(read(&mut rtc, &mut ctx, register::A) & reg_a::UIP, 0);
    ctx.set_now(SECOND - UIP_LEAD_NS);
    assert_eq!(
        read(&mut rtc, &mut ctx, register::A) & reg_a::UIP,
        reg_a::UIP
    );
    // The time registers still show the old second while UIP is set.
    assert_eq!(read(&mut rtc, &mut ctx, register::SECONDS), 0x30);
    ctx.set_now(SECOND);
    assert_eq!(read(&mut rtc, &mut ctx, register::A) & reg_a::UIP, 0);
    assert_eq!(read(&mut rtc, &mut ctx, register::SECONDS), 0x31);
}

#[test]
fn rtc_update_ended_interrupt_raises_irq8_until_register_c_is_read() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    write(&mut rtc, &mut ctx, register::A, NO_PERIODIC);
    write(
        &mut rtc,
        &mut ctx,
        register::B,
        reg_b::TWENTY_FOUR_HOUR | reg_b::UIE,
    );
    assert_eq!(ctx.timers().len(), 1);
    ctx.fire_due(&mut rtc, SECOND - 1);
    assert!(!ctx.irq_level(IRQ));
    ctx.fire_due(&mut rtc, SECOND + UPDATE_POLL_NS);
    assert!(ctx.irq_level(IRQ));
    assert_eq!(
        read(&mut rtc, &mut ctx, register::C),
        reg_c::IRQF | reg_c::UF
    );
    assert!(!ctx.irq_level(IRQ));
    assert_eq!(read(&mut rtc, &mut ctx, register::C), 0);
}

#[test]
fn rtc_flags_are_set_even_when_their_interrupt_is_disabled() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    ctx.set_now(2 * SECOND);
    // Register A's default rate (1024 Hz) runs too: PF and UF, no IRQF.
    assert_eq!(read(&mut rtc, &mut ctx, register::C), reg_c::PF | reg_c::UF);
    assert!(
        ctx.irq_events()
            .iter()
            .all(|event| !matches!(event, crate::testing::IrqEvent::Line { level: true, .. }))
    );
}

#[test]
fn rtc_periodic_interrupt_follows_the_rate_in_register_a() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    // RS = 6: 1024 Hz, a period of 976 562.5 ns.
    write(&mut rtc, &mut ctx, register::A, reg_a::DIVIDER_NORMAL | 6);
    write(
        &mut rtc,
        &mut ctx,
        register::B,
        reg_b::TWENTY_FOUR_HOUR | reg_b::PIE,
    );
    assert_eq!(
        ctx.timers().values().map(|t| t.period).collect::<Vec<_>>(),
        [976_563]
    );
    read(&mut rtc, &mut ctx, register::C);
    ctx.set_now(976_562);
    assert_eq!(read(&mut rtc, &mut ctx, register::C), 0);
    ctx.set_now(976_563);
    assert_eq!(
        read(&mut rtc, &mut ctx, register::C),
        reg_c::IRQF | reg_c::PF
    );
    // RS = 15: 2 Hz.
    write(&mut rtc, &mut ctx, register::A, reg_a::DIVIDER_NORMAL | 15);
    read(&mut rtc, &mut ctx, register::C);
    ctx.set_now(SECOND / 2 - 1);
    assert_eq!(read(&mut rtc, &mut ctx, register::C), 0);
    ctx.set_now(SECOND / 2);
    assert_eq!(
        read(&mut rtc, &mut ctx, register::C),
        reg_c::IRQF | reg_c::PF
    );
}

#[test]
fn rtc_alarm_fires_when_the_time_matches() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    write(&mut rtc, &mut ctx, register::A, NO_PERIODIC);
    write(&mut rtc, &mut ctx, register::HOURS_ALARM, 0x13);
    write(&mut rtc, &mut ctx, register::MINUTES_ALARM, 0x46);
    write(&mut rtc, &mut ctx, register::SECONDS_ALARM, 0x05);
    write(
        &mut rtc,
        &mut ctx,
        register::B,
        reg_b::TWENTY_FOUR_HOUR | reg_b::AIE,
    );
    read(&mut rtc, &mut ctx, register::C);
    // 13:46:04
    ctx.fire_due(&mut rtc, 34 * SECOND);
    assert_eq!(read(&mut rtc, &mut ctx, register::C) & reg_c::AF, 0);
    // 13:46:05
    ctx.fire_due(&mut rtc, 35 * SECOND);
    assert!(ctx.irq_level(IRQ));
    assert_eq!(
        read(&mut rtc, &mut ctx, register::C),
        reg_c::IRQF | reg_c::AF | reg_c::UF
    );
}

#[test]
fn rtc_alarm_dont_care_values_match_every_second() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    for index in [
        register::HOURS_ALARM,
        register::MINUTES_ALARM,
        register::SECONDS_ALARM,
    ] {
        write(&mut rtc, &mut ctx, index, 0xFF);
    }
    read(&mut rtc, &mut ctx, register::C);
    ctx.set_now(SECOND);
    assert_eq!(read(&mut rtc, &mut ctx, register::C) & reg_c::AF, reg_c::AF);
}

#[test]
fn rtc_alarm_seen_even_when_the_check_comes_hours_late() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    write(&mut rtc, &mut ctx, register::HOURS_ALARM, 0x15);
    write(&mut rtc, &mut ctx, register::MINUTES_ALARM, 0x00);
    write(&mut rtc, &mut ctx, register::SECONDS_ALARM, 0x00);
    read(&mut rtc, &mut ctx, register::C);
    ctx.set_now(3 * 3600 * SECOND);
    assert_eq!(read(&mut rtc, &mut ctx, register::C) & reg_c::AF, reg_c::AF);
}

#[test]
fn rtc_set_bit_halts_updates_and_clears_uie() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    write(
        &mut rtc,
        &mut ctx,
        register::B,
        reg_b::TWENTY_FOUR_HOUR | reg_b::UIE,
    );
    write(
        &mut rtc,
        &mut ctx,
        register::B,
        reg_b::SET | reg_b::TWENTY_FOUR_HOUR | reg_b::UIE,
    );
    assert_eq!(
        read(&mut rtc, &mut ctx, register::B),
        reg_b::SET | reg_b::TWENTY_FOUR_HOUR
    );
    // Set 2030-01-02 03:04:05 under SET; time does not move while SET is on.
    for (index, value) in [
        (register::YEAR, 0x30),
        (register::MONTH, 0x01),
        (register::DAY, 0x02),
        (register::HOURS, 0x03),
        (register::MINUTES, 0x04),
        (register::SECONDS, 0x05),
    ] {
        write(&mut rtc, &mut ctx, index, value);
    }
    read(&mut rtc, &mut ctx, register::C);
    ctx.set_now(5 * SECOND + SECOND / 4);
    assert_eq!(read(&mut rtc, &mut ctx, register::SECONDS), 0x05);
    assert_eq!(read(&mut rtc, &mut ctx, register::C) & reg_c::UF, 0);
    write(&mut rtc, &mut ctx, register::B, reg_b::TWENTY_FOUR_HOUR);
    // The divider kept its phase: the next update is at 6 s.
    ctx.set_now(6 * SECOND - 1);
    assert_eq!(read(&mut rtc, &mut ctx, register::SECONDS), 0x05);
    ctx.set_now(6 * SECOND);
    assert_eq!(
        clock(&mut rtc, &mut ctx),
        [0x30, 0x01, 0x02, 0x03, 0x04, 0x06, 0x04, 0x20]
    );
}

#[test]
fn rtc_divider_reset_holds_time_and_first_update_comes_500ms_after_release() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    ctx.set_now(SECOND / 4);
    write(&mut rtc, &mut ctx, register::A, reg_a::DIVIDER_RESET | 6);
    ctx.set_now(10 * SECOND);
    assert_eq!(read(&mut rtc, &mut ctx, register::SECONDS), 0x30);
    write(&mut rtc, &mut ctx, register::A, reg_a::DIVIDER_NORMAL | 6);
    ctx.set_now(10 * SECOND + SECOND / 2 - 1);
    assert_eq!(read(&mut rtc, &mut ctx, register::SECONDS), 0x30);
    ctx.set_now(10 * SECOND + SECOND / 2);
    assert_eq!(read(&mut rtc, &mut ctx, register::SECONDS), 0x31);
}

#[test]
fn rtc_writing_time_while_running_restarts_the_clock_from_it() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    write(&mut rtc, &mut ctx, register::MINUTES, 0x00);
    assert_eq!(read(&mut rtc, &mut ctx, register::MINUTES), 0x00);
    ctx.set_now(60 * SECOND);
    assert_eq!(read(&mut rtc, &mut ctx, register::MINUTES), 0x01);
    assert_eq!(
        rtc.seconds_at(60 * SECOND),
        1_715_904_000 + 13 * 3600 + 60 + 30
    );
}

#[test]
fn rtc_register_d_reports_valid_ram_and_time() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    write(&mut rtc, &mut ctx, register::D, 0);
    assert_eq!(read(&mut rtc, &mut ctx, register::D), reg_d::VRT);
}

#[test]
fn rtc_index_port_masks_nmi_and_cmos_ram_keeps_bytes() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    write(&mut rtc, &mut ctx, NMI_MASK | 0x40, 0xAB);
    assert!(rtc.nmi_masked());
    assert_eq!(read(&mut rtc, &mut ctx, 0x40), 0xAB);
    assert!(!rtc.nmi_masked());
    let mut data = [0];
    rtc.pio_read(&mut ctx, INDEX_PORT, &mut data);
    assert_eq!(data, [0xFF]);
}

#[test]
fn rtc_cmos_memory_sizes_come_from_the_vm_config() {
    let mut rtc = RtcCmos::new(0).unwrap();
    let mut ctx = FakeContext::new();
    ctx.config.ram_bytes = 64 * MIB;
    rtc.install(&mut ctx).unwrap();
    let word = |rtc: &RtcCmos, low: u8| u16::from_le_bytes([rtc.cmos(low), rtc.cmos(low + 1)]);
    assert_eq!(word(&rtc, register::BASE_MEMORY_LOW), 640);
    assert_eq!(word(&rtc, register::EXTENDED_MEMORY_LOW), 63 * 1024);
    assert_eq!(word(&rtc, register::EXTENDED_MEMORY_COPY_LOW), 63 * 1024);
    assert_eq!(word(&rtc, register::HIGH_MEMORY_LOW), 48 * 16);
    let sum: u16 = (register::CHECKSUM_FIRST..=register::CHECKSUM_LAST)
        .map(|i| u16::from(rtc.cmos(i)))
        .sum();
    assert_eq!(
        u16::from_be_bytes([
            rtc.cmos(register::CHECKSUM_HIGH),
            rtc.cmos(register::CHECKSUM_LOW)
        ]),
        sum
    );

    let mut rtc = RtcCmos::new(0).unwrap();
    ctx.config.ram_bytes = 8 << 30;
    rtc.remove(&mut ctx).unwrap();
    rtc.install(&mut ctx).unwrap();
    assert_eq!(word(&rtc, register::EXTENDED_MEMORY_LOW), 0xFFFF);
    assert_eq!(word(&rtc, register::HIGH_MEMORY_LOW), 0xDF00);
    let above: Vec<u8> = (0..3)
        .map(|i| rtc.cmos(register::ABOVE_4G_FIRST + i))
        .collect();
    assert_eq!(above, [0x00, 0x20, 0x01]);
}

#[test]
fn rtc_refuses_a_wall_time_past_year_9999() {
    assert_eq!(
        RtcCmos::new(MAX_EPOCH_SECONDS + 1).err(),
        Some(RtcError::TimeOutOfRange(MAX_EPOCH_SECONDS + 1))
    );
    assert!(RtcCmos::new(MAX_EPOCH_SECONDS).is_ok());
}

#[test]
fn rtc_power_off_drops_the_timer_and_lowers_irq8() {
    let (mut rtc, mut ctx) = powered(FRIDAY_AFTERNOON);
    write(
        &mut rtc,
        &mut ctx,
        register::B,
        reg_b::TWENTY_FOUR_HOUR | reg_b::UIE,
    );
    ctx.fire_due(&mut rtc, 2 * SECOND);
    assert!(ctx.irq_level(IRQ));
    rtc.power_off(&mut ctx).unwrap();
    assert!(ctx.timers().is_empty());
    assert!(!ctx.irq_level(IRQ));
    // Power on is the chip's RESET: enables cleared, time kept.
    rtc.power_on(&mut ctx).unwrap();
    assert_eq!(
        read(&mut rtc, &mut ctx, register::B),
        reg_b::TWENTY_FOUR_HOUR
    );
    assert_eq!(read(&mut rtc, &mut ctx, register::SECONDS), 0x32);
}
