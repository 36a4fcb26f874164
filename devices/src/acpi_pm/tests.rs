//! The PM1a event/control blocks and the PM timer, register by register (ACPI 6.5 §4.8.3), then
//! hostile widths and offsets and a pseudo-random traffic run.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::*;
use crate::bus::{Access, Bus};
use crate::interface::Region;
use crate::testing::FakeContext;

/// PM1_STS, PM1_EN.
const STS: u16 = PM1A_EVT_PORT;
const EN: u16 = PM1A_EVT_PORT + 2;
/// PM1_CNT.
const CNT: u16 = PM1A_CNT_PORT;
/// PM_TMR.
const TMR: u16 = PM_TMR_PORT;
/// 2²³ and 2²⁴ timer ticks.
const CARRY_TICKS: u64 = 1 << 23;
const WRAP_TICKS: u64 = 1 << 24;

/// The earliest VM time at which the timer has counted `ticks`.
fn nanos_for_ticks(ticks: u64) -> Nanos {
    let nanos = (u128::from(ticks) * 1_000_000_000).div_ceil(u128::from(PM_TIMER_HZ));
    nanos as Nanos
}

/// SLP_TYP = `sleep_type` in PM1_CNT's field.
fn slp_typ(sleep_type: u8) -> u16 {
    u16::from(sleep_type) << pm1_cnt::SLP_TYP_SHIFT
}

/// A device installed and powered on at VM time 0.
fn powered() -> (AcpiPm, FakeContext) {
    let mut ctx = FakeContext::new();
    let mut pm = AcpiPm::new();
    pm.install(&mut ctx).unwrap();
    pm.power_on(&mut ctx).unwrap();
    (pm, ctx)
}

fn read16(pm: &mut AcpiPm, ctx: &mut FakeContext, port: u16) -> u16 {
    let mut data = [0u8; 2];
    pm.pio_read(ctx, port, &mut data);
    u16::from_le_bytes(data)
}

fn read32(pm: &mut AcpiPm, ctx: &mut FakeContext, port: u16) -> u32 {
    let mut data = [0u8; 4];
    pm.pio_read(ctx, port, &mut data);
    u32::from_le_bytes(data)
}

fn write16(pm: &mut AcpiPm, ctx: &mut FakeContext, port: u16, value: u16) {
    pm.pio_write(ctx, port, &value.to_le_bytes());
}

#[test]
fn install_claims_the_event_control_and_timer_blocks_only() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let id = bus.register(&mut vm, Box::new(AcpiPm::new())).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    for port in [0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x608, 0x60B] {
        let mut byte = [0];
        assert_eq!(bus.pio_read(&mut vm, port, &mut byte), Access::Device(id));
    }
    for port in [0x5FF, 0x606, 0x607, 0x60C] {
        let mut byte = [0];
        assert_eq!(bus.pio_read(&mut vm, port, &mut byte), Access::Unclaimed);
        assert_eq!(byte, [0xFF]);
    }
}

#[test]
fn install_refuses_a_vm_without_the_sci_line() {
    let mut ctx = FakeContext::new();
    ctx.irq_lines = SCI_LINE.0;
    assert!(matches!(
        AcpiPm::new().install(&mut ctx),
        Err(DeviceError::Config(_))
    ));
}

#[test]
fn remove_releases_every_claim() {
    let mut ctx = FakeContext::new();
    let mut pm = AcpiPm::new();
    pm.install(&mut ctx).unwrap();
    let claimed: Vec<Region> = AcpiPm::PORTS.into_iter().map(Region::Pio).collect();
    assert_eq!(ctx.claims(), claimed.as_slice());
    pm.remove(&mut ctx).unwrap();
    assert!(ctx.claims().is_empty());
}

#[test]
fn pm1_status_bits_clear_by_writing_ones_only() {
    let (mut pm, mut ctx) = powered();
    ctx.set_now(nanos_for_ticks(CARRY_TICKS));
    assert_eq!(read16(&mut pm, &mut ctx, STS), pm1_sts::TMR_STS);
    write16(&mut pm, &mut ctx, STS, 0);
    assert_eq!(read16(&mut pm, &mut ctx, STS), pm1_sts::TMR_STS);
    write16(&mut pm, &mut ctx, STS, !pm1_sts::TMR_STS);
    assert_eq!(read16(&mut pm, &mut ctx, STS), pm1_sts::TMR_STS);
    write16(&mut pm, &mut ctx, STS, pm1_sts::TMR_STS);
    assert_eq!(read16(&mut pm, &mut ctx, STS), 0);
}

#[test]
fn pm1_status_reserved_bits_read_zero() {
    let (mut pm, mut ctx) = powered();
    write16(&mut pm, &mut ctx, CNT, slp_typ(1) | pm1_cnt::SLP_EN);
    ctx.set_now(nanos_for_ticks(CARRY_TICKS));
    let status = read16(&mut pm, &mut ctx, STS);
    assert_eq!(status, pm1_sts::TMR_STS | pm1_sts::WAK_STS);
    assert_eq!(status & !pm1_sts::DEFINED, 0);
}

#[test]
fn pm1_enable_reads_back_its_enables_and_nothing_else() {
    let (mut pm, mut ctx) = powered();
    write16(&mut pm, &mut ctx, EN, 0xFFFF);
    assert_eq!(read16(&mut pm, &mut ctx, EN), pm1_en::WRITABLE);
    assert_eq!(
        pm1_en::WRITABLE,
        pm1_en::TMR_EN
            | pm1_en::GBL_EN
            | pm1_en::PWRBTN_EN
            | pm1_en::SLPBTN_EN
            | pm1_en::RTC_EN
            | pm1_en::PCIEXP_WAKE_DIS
    );
    pm.pio_write(&mut ctx, EN + 1, &[0]);
    assert_eq!(
        read16(&mut pm, &mut ctx, EN),
        pm1_en::TMR_EN | pm1_en::GBL_EN
    );
    write16(&mut pm, &mut ctx, EN, 0);
    assert_eq!(read16(&mut pm, &mut ctx, EN), 0);
}

#[test]
fn pm1_control_reads_sci_en_set_and_keeps_bm_rld_and_slp_typ() {
    let (mut pm, mut ctx) = powered();
    assert_eq!(read16(&mut pm, &mut ctx, CNT), pm1_cnt::SCI_EN);
    write16(&mut pm, &mut ctx, CNT, 0);
    assert_eq!(read16(&mut pm, &mut ctx, CNT), pm1_cnt::SCI_EN);
    write16(
        &mut pm,
        &mut ctx,
        CNT,
        pm1_cnt::BM_RLD | pm1_cnt::GBL_RLS | slp_typ(3) | 0xC1F8,
    );
    assert_eq!(
        read16(&mut pm, &mut ctx, CNT),
        pm1_cnt::SCI_EN | pm1_cnt::BM_RLD | slp_typ(3)
    );
    assert!(ctx.requests().is_empty());
}

#[test]
fn slp_en_with_the_s5_type_requests_a_clean_shutdown() {
    let (mut pm, mut ctx) = powered();
    // ACPICA's sequence (hwsleep.c): SLP_TYP first, then SLP_TYP | SLP_EN.
    write16(
        &mut pm,
        &mut ctx,
        CNT,
        pm1_cnt::SCI_EN | slp_typ(SLP_TYP_S5),
    );
    assert!(ctx.requests().is_empty());
    write16(
        &mut pm,
        &mut ctx,
        CNT,
        pm1_cnt::SCI_EN | slp_typ(SLP_TYP_S5) | pm1_cnt::SLP_EN,
    );
    assert_eq!(ctx.requests(), [VmRequest::Shutdown { status: 0 }]);
    assert_eq!(
        read16(&mut pm, &mut ctx, CNT),
        pm1_cnt::SCI_EN | slp_typ(SLP_TYP_S5),
        "SLP_EN reads 0"
    );
}

#[test]
fn slp_en_in_a_byte_write_to_the_high_half_also_powers_off() {
    let (mut pm, mut ctx) = powered();
    let [_, high] = (slp_typ(SLP_TYP_S5) | pm1_cnt::SLP_EN).to_le_bytes();
    pm.pio_write(&mut ctx, CNT + 1, &[high]);
    assert_eq!(ctx.requests(), [VmRequest::Shutdown { status: 0 }]);
}

#[test]
fn other_sleep_types_wake_at_once_without_a_request() {
    let (mut pm, mut ctx) = powered();
    for sleep_type in (0..=7).filter(|&t| t != SLP_TYP_S5) {
        write16(
            &mut pm,
            &mut ctx,
            CNT,
            slp_typ(sleep_type) | pm1_cnt::SLP_EN,
        );
        assert_eq!(read16(&mut pm, &mut ctx, STS), pm1_sts::WAK_STS);
        write16(&mut pm, &mut ctx, STS, pm1_sts::WAK_STS);
    }
    assert!(ctx.requests().is_empty());
    assert!(!pm.sci_level(), "WAK_STS is not an SCI event");
}

#[test]
fn timer_counts_at_3_579545_mhz() {
    let (mut pm, mut ctx) = powered();
    assert_eq!(read32(&mut pm, &mut ctx, TMR), 0);
    ctx.set_now(279);
    assert_eq!(read32(&mut pm, &mut ctx, TMR), 0);
    ctx.set_now(280);
    assert_eq!(read32(&mut pm, &mut ctx, TMR), 1);
    ctx.set_now(1_000_000_000);
    assert_eq!(read32(&mut pm, &mut ctx, TMR), 3_579_545);
    ctx.set_now(2_000_000_000);
    assert_eq!(read32(&mut pm, &mut ctx, TMR), 7_159_090);
    ctx.set_now(1_000_000);
    assert_eq!(
        read32(&mut pm, &mut ctx, TMR),
        3_579,
        "the timer is the clock's"
    );
}

#[test]
fn timer_wraps_at_24_bits_with_the_top_byte_zero() {
    let (mut pm, mut ctx) = powered();
    ctx.set_now(nanos_for_ticks(WRAP_TICKS - 1));
    assert_eq!(read32(&mut pm, &mut ctx, TMR), PM_TIMER_MASK);
    ctx.set_now(nanos_for_ticks(WRAP_TICKS));
    assert_eq!(read32(&mut pm, &mut ctx, TMR), 0);
    ctx.set_now(nanos_for_ticks(WRAP_TICKS + 5));
    assert_eq!(read32(&mut pm, &mut ctx, TMR), 5);
    ctx.set_now(nanos_for_ticks(3 * WRAP_TICKS - 1));
    let mut top = [0xAA];
    pm.pio_read(&mut ctx, TMR + 3, &mut top);
    assert_eq!(top, [0]);
}

#[test]
fn timer_is_monotonic_between_wraps_and_never_skips_ahead() {
    let (mut pm, mut ctx) = powered();
    let start = nanos_for_ticks(WRAP_TICKS - 50_000);
    let mut previous = None;
    for step in 0..200_000u64 {
        let now = start + step * 997;
        ctx.set_now(now);
        let value = read32(&mut pm, &mut ctx, TMR);
        assert!(value <= PM_TIMER_MASK);
        if let Some(previous) = previous {
            let elapsed = value.wrapping_sub(previous) & PM_TIMER_MASK;
            // 997 ns is 3.57 ticks: every step moves 3 or 4 ticks, across the wrap too.
            assert!((3..=4).contains(&elapsed), "{previous:#x} -> {value:#x}");
        }
        previous = Some(value);
    }
}

#[test]
fn timer_arithmetic_holds_for_the_largest_clock() {
    let expected = (u128::from(u64::MAX) * u128::from(PM_TIMER_HZ) / 1_000_000_000) as u64
        & u64::from(PM_TIMER_MASK);
    assert_eq!(u64::from(pm_timer_value(u64::MAX)), expected);
    let (mut pm, mut ctx) = powered();
    ctx.set_now(u64::MAX);
    assert_eq!(u64::from(read32(&mut pm, &mut ctx, TMR)), expected);
    assert_eq!(read16(&mut pm, &mut ctx, STS), pm1_sts::TMR_STS);
}

#[test]
fn timer_ignores_writes_and_reads_little_endian_at_any_width() {
    let (mut pm, mut ctx) = powered();
    ctx.set_now(nanos_for_ticks(0x12_3456));
    pm.pio_write(&mut ctx, TMR, &u32::MAX.to_le_bytes());
    assert_eq!(read32(&mut pm, &mut ctx, TMR), 0x12_3456);
    assert_eq!(read16(&mut pm, &mut ctx, TMR), 0x3456);
    assert_eq!(read16(&mut pm, &mut ctx, TMR + 2), 0x0012);
    let mut byte = [0];
    pm.pio_read(&mut ctx, TMR + 1, &mut byte);
    assert_eq!(byte, [0x34]);
}

#[test]
fn timer_carry_sets_tmr_sts_each_time_bit_23_changes() {
    let (mut pm, mut ctx) = powered();
    ctx.set_now(nanos_for_ticks(CARRY_TICKS - 1));
    assert_eq!(read16(&mut pm, &mut ctx, STS), 0);
    ctx.set_now(nanos_for_ticks(CARRY_TICKS));
    assert_eq!(read16(&mut pm, &mut ctx, STS), pm1_sts::TMR_STS);
    write16(&mut pm, &mut ctx, STS, pm1_sts::TMR_STS);
    ctx.set_now(nanos_for_ticks(WRAP_TICKS - 1));
    assert_eq!(read16(&mut pm, &mut ctx, STS), 0);
    ctx.set_now(nanos_for_ticks(WRAP_TICKS));
    assert_eq!(
        read16(&mut pm, &mut ctx, STS),
        pm1_sts::TMR_STS,
        "bit 23 falling at the wrap is a carry too"
    );
}

#[test]
fn a_clock_going_back_sets_no_status() {
    let (mut pm, mut ctx) = powered();
    ctx.set_now(nanos_for_ticks(WRAP_TICKS + 10));
    assert_eq!(read16(&mut pm, &mut ctx, STS), pm1_sts::TMR_STS);
    write16(&mut pm, &mut ctx, STS, pm1_sts::TMR_STS);
    ctx.set_now(0);
    assert_eq!(read16(&mut pm, &mut ctx, STS), 0);
    ctx.set_now(nanos_for_ticks(WRAP_TICKS + 20));
    assert_eq!(read16(&mut pm, &mut ctx, STS), 0, "no new carry since");
}

#[test]
fn tmr_en_holds_a_timer_that_raises_the_sci_on_a_carry() {
    let (mut pm, mut ctx) = powered();
    write16(&mut pm, &mut ctx, EN, pm1_en::TMR_EN);
    assert!(pm.holds_timer());
    assert_eq!(ctx.timers().len(), 1);
    let carry = nanos_for_ticks(CARRY_TICKS);
    ctx.fire_due(&mut pm, carry - 1);
    assert!(!ctx.irq_level(SCI_LINE));
    ctx.fire_due(&mut pm, carry + CARRY_POLL_NS);
    assert!(ctx.irq_level(SCI_LINE), "SCI within one poll of the carry");
    assert!(pm.sci_level());
    assert_eq!(pm.status(), pm1_sts::TMR_STS);
    write16(&mut pm, &mut ctx, STS, pm1_sts::TMR_STS);
    assert!(!ctx.irq_level(SCI_LINE));
    assert_eq!(ctx.irq_rising_edges(SCI_LINE), 1);
}

#[test]
fn tmr_sts_without_tmr_en_does_not_interrupt() {
    let (mut pm, mut ctx) = powered();
    ctx.set_now(nanos_for_ticks(CARRY_TICKS));
    assert_eq!(read16(&mut pm, &mut ctx, STS), pm1_sts::TMR_STS);
    assert!(!ctx.irq_level(SCI_LINE));
    assert!(ctx.timers().is_empty());
    write16(&mut pm, &mut ctx, EN, pm1_en::TMR_EN);
    assert!(
        ctx.irq_level(SCI_LINE),
        "enabling a pending event raises the SCI"
    );
    write16(&mut pm, &mut ctx, EN, 0);
    assert!(!ctx.irq_level(SCI_LINE));
    assert!(!pm.holds_timer());
    assert!(ctx.timers().is_empty());
}

#[test]
fn a_refused_timer_is_recorded_and_the_carry_is_seen_at_the_next_access() {
    let (mut pm, mut ctx) = powered();
    ctx.min_timer_period = CARRY_POLL_NS + 1;
    write16(&mut pm, &mut ctx, EN, pm1_en::TMR_EN);
    assert!(!pm.holds_timer());
    assert_eq!(pm.timer_error(), Some(TimerError::BadPeriod(CARRY_POLL_NS)));
    ctx.set_now(nanos_for_ticks(CARRY_TICKS));
    read32(&mut pm, &mut ctx, TMR);
    assert!(ctx.irq_level(SCI_LINE));
}

#[test]
fn power_off_lowers_the_sci_and_drops_the_timer_power_on_clears_the_registers() {
    let (mut pm, mut ctx) = powered();
    write16(&mut pm, &mut ctx, EN, pm1_en::TMR_EN | pm1_en::RTC_EN);
    write16(&mut pm, &mut ctx, CNT, pm1_cnt::BM_RLD | slp_typ(2));
    ctx.set_now(nanos_for_ticks(CARRY_TICKS));
    read16(&mut pm, &mut ctx, STS);
    assert!(ctx.irq_level(SCI_LINE));
    pm.power_off(&mut ctx).unwrap();
    assert!(!ctx.irq_level(SCI_LINE));
    assert!(ctx.timers().is_empty());
    pm.power_on(&mut ctx).unwrap();
    assert_eq!(
        (pm.status(), pm.enable(), pm.control()),
        (0, 0, pm1_cnt::SCI_EN)
    );
    ctx.set_now(nanos_for_ticks(CARRY_TICKS + 1));
    assert_eq!(
        read16(&mut pm, &mut ctx, STS),
        0,
        "the carry before power-on is forgotten"
    );
}

#[test]
fn a_32_bit_access_to_the_event_block_reaches_status_and_enable() {
    let (mut pm, mut ctx) = powered();
    ctx.set_now(nanos_for_ticks(CARRY_TICKS));
    let value = u32::from(pm1_sts::TMR_STS) | (u32::from(pm1_en::PWRBTN_EN) << 16);
    pm.pio_write(&mut ctx, STS, &value.to_le_bytes());
    assert_eq!(pm.status(), 0);
    assert_eq!(pm.enable(), pm1_en::PWRBTN_EN);
    assert_eq!(
        read32(&mut pm, &mut ctx, STS),
        u32::from(pm1_en::PWRBTN_EN) << 16
    );
}

#[test]
fn a_wide_read_fills_unimplemented_bytes_with_ones() {
    let (mut pm, mut ctx) = powered();
    write16(&mut pm, &mut ctx, EN, pm1_en::RTC_EN);
    let mut data = [0u8; 8];
    pm.pio_read(&mut ctx, STS, &mut data);
    let [en_low, en_high] = pm1_en::RTC_EN.to_le_bytes();
    let [cnt_low, cnt_high] = pm1_cnt::SCI_EN.to_le_bytes();
    assert_eq!(data, [0, 0, en_low, en_high, cnt_low, cnt_high, 0xFF, 0xFF]);
    let mut outside = [0u8; 4];
    pm.pio_read(&mut ctx, 0x5FE, &mut outside);
    assert_eq!(outside, [0xFF, 0xFF, 0, 0]);
}

#[test]
fn hostile_ports_and_widths_never_panic() {
    let (mut pm, mut ctx) = powered();
    let ports = (0x5F0..=0x620).chain(0xFFF0..=0xFFFF).chain(0..=8);
    let mut data = [0xA5u8; 16];
    for port in ports {
        for len in 0..=data.len() {
            pm.pio_read(&mut ctx, port, &mut data[..len]);
            data.fill(0x5A);
            pm.pio_write(&mut ctx, port, &data[..len]);
            data.fill(0xFF);
            pm.pio_write(&mut ctx, port, &data[..len]);
        }
    }
    let mut top = [0u8; 4];
    pm.pio_read(&mut ctx, 0xFFFE, &mut top);
    assert_eq!(top, [0xFF; 4]);
    // PM1_CNT's high byte only ever saw 0x5A (no SLP_EN) and 0xFF (SLP_EN with SLP_TYP 7).
    assert!(ctx.requests().is_empty());
}

#[test]
fn random_traffic_keeps_every_register_within_its_definition() {
    const STEPS: usize = 200_000;
    const SIZES: [usize; 5] = [1, 2, 4, 8, 3];
    let (mut pm, mut ctx) = powered();
    let mut generator = crate::test_random::XorShift64::new(0x9E37_79B9_7F4A_7C15);
    let mut shutdowns = 0usize;
    for _ in 0..STEPS {
        let random = generator.next_u64();
        let [operation, port_pick, size_pick, advance, value @ ..] = random.to_le_bytes();
        let port = PM_BASE - 2 + u16::from(port_pick % 16);
        let size = SIZES[usize::from(size_pick) % SIZES.len()];
        match operation % 5 {
            0 | 1 => {
                let mut data = [0u8; 8];
                pm.pio_read(&mut ctx, port, &mut data[..size]);
            }
            2 | 3 => {
                let mut bytes = [0u8; 8];
                bytes[..4].copy_from_slice(&value);
                pm.pio_write(&mut ctx, port, &bytes[..size]);
            }
            _ => {
                let until = ctx.now().saturating_add(u64::from(advance) << 20);
                ctx.fire_due(&mut pm, until);
            }
        }
        shutdowns += ctx.take_requests().len();
        assert_eq!(pm.status() & !pm1_sts::DEFINED, 0);
        assert_eq!(pm.enable() & !pm1_en::WRITABLE, 0);
        assert_eq!(pm.control() & !(pm1_cnt::STORED | pm1_cnt::SCI_EN), 0);
        assert_ne!(pm.control() & pm1_cnt::SCI_EN, 0);
        assert_eq!(pm.sci_level(), pm.status() & pm.enable() & SCI_EVENTS != 0);
        assert_eq!(ctx.irq_level(SCI_LINE), pm.sci_level());
        assert_eq!(pm.holds_timer(), pm.enable() & pm1_en::TMR_EN != 0);
        assert_eq!(ctx.timers().len(), usize::from(pm.holds_timer()));
        assert!(pm_timer_value(ctx.now()) <= PM_TIMER_MASK);
    }
    assert!(shutdowns > 0, "the run reached S5 at least once");
}
