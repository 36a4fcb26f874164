//! The 16550A's documented behaviour, one test each, through the port interface.

use super::registers::{fcr, ier, iir, lcr, lsr, mcr, msr, offset};
use super::*;
use crate::interface::Region;
use crate::interface::{Device, IrqLine};
use crate::testing::FakeContext;

const BASE: u16 = UartConfig::COM1.base;
const IRQ: IrqLine = UartConfig::COM1.irq;
/// LCR value for 8 data bits, no parity, 1 stop bit.
const EIGHT_N_ONE: u8 = 0x03;

/// Installed and powered on: the master-reset state (5-bit words).
fn fresh() -> (Uart16550<BufferedBackend>, FakeContext) {
    let mut uart = Uart16550::new(UartConfig::COM1, BufferedBackend::new()).unwrap();
    let mut ctx = FakeContext::new();
    uart.install(&mut ctx).unwrap();
    uart.power_on(&mut ctx).unwrap();
    (uart, ctx)
}

/// Powered on and programmed for 8 data bits, no parity, 1 stop bit, as every driver does.
fn powered() -> (Uart16550<BufferedBackend>, FakeContext) {
    let (mut uart, mut ctx) = fresh();
    write(&mut uart, &mut ctx, offset::LINE_CONTROL, EIGHT_N_ONE);
    (uart, ctx)
}

fn read(uart: &mut Uart16550<BufferedBackend>, ctx: &mut FakeContext, register: u16) -> u8 {
    let mut data = [0];
    uart.pio_read(ctx, BASE + register, &mut data);
    data[0]
}

fn write(uart: &mut Uart16550<BufferedBackend>, ctx: &mut FakeContext, register: u16, value: u8) {
    uart.pio_write(ctx, BASE + register, &[value]);
}

#[test]
fn uart_master_reset_state_matches_datasheet() {
    let (mut uart, mut ctx) = fresh();
    assert_eq!(read(&mut uart, &mut ctx, offset::INTERRUPT_ENABLE), 0);
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::NO_INTERRUPT
    );
    assert_eq!(read(&mut uart, &mut ctx, offset::LINE_CONTROL), 0);
    assert_eq!(read(&mut uart, &mut ctx, offset::MODEM_CONTROL), 0);
    assert_eq!(
        read(&mut uart, &mut ctx, offset::LINE_STATUS),
        lsr::THR_EMPTY | lsr::TRANSMITTER_EMPTY
    );
    assert_eq!(
        read(&mut uart, &mut ctx, offset::MODEM_STATUS),
        msr::CTS | msr::DSR | msr::DCD
    );
}

#[test]
fn uart_install_claims_eight_ports_and_checks_the_irq_line() {
    let mut uart = Uart16550::new(UartConfig::COM1, BufferedBackend::new()).unwrap();
    let mut ctx = FakeContext::new();
    uart.install(&mut ctx).unwrap();
    assert_eq!(
        ctx.claims(),
        &[Region::Pio(PortRange::new(0x3F8, 8).unwrap())]
    );
    uart.remove(&mut ctx).unwrap();
    assert!(ctx.claims().is_empty());

    let bad = UartConfig {
        base: 0x3F8,
        irq: IrqLine(200),
    };
    let mut uart = Uart16550::new(bad, BufferedBackend::new()).unwrap();
    assert!(matches!(
        uart.install(&mut ctx),
        Err(DeviceError::Config(_))
    ));
}

#[test]
fn uart_refuses_a_base_whose_ports_pass_0xffff() {
    let config = UartConfig {
        base: 0xFFFA,
        irq: IRQ,
    };
    assert_eq!(
        Uart16550::new(config, BufferedBackend::new()).err(),
        Some(RangeError::Overflow)
    );
}

#[test]
fn uart_thr_write_reaches_the_backend_cut_to_word_length() {
    let (mut uart, mut ctx) = powered();
    write(&mut uart, &mut ctx, offset::LINE_CONTROL, 0x03); // 8 data bits
    write(&mut uart, &mut ctx, offset::DATA, 0xC1);
    write(&mut uart, &mut ctx, offset::LINE_CONTROL, 0x02); // 7 data bits
    write(&mut uart, &mut ctx, offset::DATA, 0xC1);
    write(&mut uart, &mut ctx, offset::LINE_CONTROL, 0x00); // 5 data bits
    write(&mut uart, &mut ctx, offset::DATA, 0xFF);
    assert_eq!(uart.backend_mut().take_output(), vec![0xC1, 0x41, 0x1F]);
}

#[test]
fn uart_dlab_exposes_the_divisor_latch() {
    let (mut uart, mut ctx) = powered();
    write(
        &mut uart,
        &mut ctx,
        offset::LINE_CONTROL,
        lcr::DLAB | EIGHT_N_ONE,
    );
    write(&mut uart, &mut ctx, offset::DATA, 0x0C);
    write(&mut uart, &mut ctx, offset::INTERRUPT_ENABLE, 0x01);
    assert_eq!(read(&mut uart, &mut ctx, offset::DATA), 0x0C);
    assert_eq!(read(&mut uart, &mut ctx, offset::INTERRUPT_ENABLE), 0x01);
    write(&mut uart, &mut ctx, offset::LINE_CONTROL, EIGHT_N_ONE);
    // With DLAB clear, +1 is IER again (untouched) and +0 wrote nothing to the line.
    assert_eq!(read(&mut uart, &mut ctx, offset::INTERRUPT_ENABLE), 0);
    assert!(uart.backend().output().is_empty());
    assert_eq!(uart.divisor, 0x010C);
}

#[test]
fn uart_ier_upper_bits_read_zero_and_scratch_keeps_any_value() {
    let (mut uart, mut ctx) = powered();
    write(&mut uart, &mut ctx, offset::INTERRUPT_ENABLE, 0xF0);
    assert_eq!(read(&mut uart, &mut ctx, offset::INTERRUPT_ENABLE), 0);
    write(&mut uart, &mut ctx, offset::SCRATCH, 0xA5);
    assert_eq!(read(&mut uart, &mut ctx, offset::SCRATCH), 0xA5);
}

#[test]
fn uart_received_byte_sets_data_ready_and_raises_rda_interrupt() {
    let (mut uart, mut ctx) = powered();
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ENABLE,
        ier::RECEIVED_DATA,
    );
    assert!(!ctx.irq_level(IRQ));
    uart.receive(&mut ctx, b'k').unwrap();
    assert!(ctx.irq_level(IRQ));
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::RECEIVED_DATA
    );
    assert_eq!(
        read(&mut uart, &mut ctx, offset::LINE_STATUS) & lsr::DATA_READY,
        lsr::DATA_READY
    );
    assert_eq!(read(&mut uart, &mut ctx, offset::DATA), b'k');
    assert_eq!(
        read(&mut uart, &mut ctx, offset::LINE_STATUS) & lsr::DATA_READY,
        0
    );
    assert!(!ctx.irq_level(IRQ));
}

#[test]
fn uart_16450_mode_overruns_on_second_byte_and_reports_oe_once() {
    let (mut uart, mut ctx) = powered();
    uart.receive(&mut ctx, b'1').unwrap();
    assert_eq!(uart.receive(&mut ctx, b'2'), Err(ReceiveError::Overrun));
    let status = read(&mut uart, &mut ctx, offset::LINE_STATUS);
    assert_eq!(
        status & (lsr::OVERRUN | lsr::DATA_READY),
        lsr::OVERRUN | lsr::DATA_READY
    );
    // Reading LSR cleared OE; the first byte survived.
    assert_eq!(
        read(&mut uart, &mut ctx, offset::LINE_STATUS) & lsr::OVERRUN,
        0
    );
    assert_eq!(read(&mut uart, &mut ctx, offset::DATA), b'1');
    assert_eq!(uart.overruns(), 1);
}

#[test]
fn uart_fifo_holds_sixteen_bytes_then_overruns() {
    let (mut uart, mut ctx) = powered();
    write(&mut uart, &mut ctx, offset::INTERRUPT_ID, fcr::ENABLE);
    for byte in 0..16u8 {
        uart.receive(&mut ctx, byte).unwrap();
    }
    assert_eq!(uart.receive(&mut ctx, 0xEE), Err(ReceiveError::Overrun));
    assert_eq!(uart.receiver_len(), FIFO_CAPACITY);
    for byte in 0..16u8 {
        assert_eq!(read(&mut uart, &mut ctx, offset::DATA), byte);
    }
    assert_eq!(uart.receiver_len(), 0);
}

#[test]
fn uart_line_status_interrupt_outranks_received_data() {
    let (mut uart, mut ctx) = powered();
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ENABLE,
        ier::RECEIVED_DATA | ier::LINE_STATUS,
    );
    uart.receive(&mut ctx, 1).unwrap();
    let _ = uart.receive(&mut ctx, 2);
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::LINE_STATUS
    );
    read(&mut uart, &mut ctx, offset::LINE_STATUS);
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::RECEIVED_DATA
    );
}

#[test]
fn uart_fifo_enabled_bits_read_back_in_iir() {
    let (mut uart, mut ctx) = powered();
    write(&mut uart, &mut ctx, offset::INTERRUPT_ID, fcr::ENABLE);
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::FIFOS_ENABLED | iir::NO_INTERRUPT
    );
    write(&mut uart, &mut ctx, offset::INTERRUPT_ID, 0);
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::NO_INTERRUPT
    );
}

#[test]
fn uart_rda_interrupt_waits_for_each_trigger_level() {
    for (bits, level) in [(0x00u8, 1usize), (0x40, 4), (0x80, 8), (0xC0, 14)] {
        let (mut uart, mut ctx) = powered();
        write(
            &mut uart,
            &mut ctx,
            offset::INTERRUPT_ID,
            fcr::ENABLE | bits,
        );
        write(
            &mut uart,
            &mut ctx,
            offset::INTERRUPT_ENABLE,
            ier::RECEIVED_DATA,
        );
        for byte in 0..level - 1 {
            uart.receive(&mut ctx, byte as u8).unwrap();
            assert!(
                !ctx.irq_level(IRQ),
                "trigger {level}: raised at {} bytes",
                byte + 1
            );
        }
        uart.receive(&mut ctx, 0xAA).unwrap();
        assert!(
            ctx.irq_level(IRQ),
            "trigger {level}: not raised at the level"
        );
        assert_eq!(
            read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
            iir::FIFOS_ENABLED | iir::RECEIVED_DATA
        );
        // One byte read drops the level below the trigger and the interrupt with it.
        read(&mut uart, &mut ctx, offset::DATA);
        assert!(
            !ctx.irq_level(IRQ),
            "trigger {level}: still raised below the level"
        );
    }
}

#[test]
fn uart_fcr_bits_other_than_enable_need_enable_in_the_same_write() {
    let (mut uart, mut ctx) = powered();
    write(&mut uart, &mut ctx, offset::INTERRUPT_ID, fcr::ENABLE);
    uart.receive(&mut ctx, 7).unwrap();
    // Disabling the FIFOs empties them (a change of bit 0 resets them).
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ID,
        fcr::CLEAR_RX | 0xC0,
    );
    assert_eq!(uart.receiver_len(), 0);
    assert_eq!(uart.trigger_level, 1);
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ID,
        fcr::ENABLE | 0x80,
    );
    assert_eq!(uart.trigger_level, 8);
    uart.receive(&mut ctx, 7).unwrap();
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ID,
        fcr::ENABLE | fcr::CLEAR_RX | 0x80,
    );
    assert_eq!(uart.receiver_len(), 0);
}

#[test]
fn uart_character_timeout_after_four_character_times() {
    let (mut uart, mut ctx) = powered();
    // 115200 baud, 8N1: 10 bits = 86_805 ns per character.
    write(&mut uart, &mut ctx, offset::LINE_CONTROL, EIGHT_N_ONE);
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ID,
        fcr::ENABLE | 0xC0,
    );
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ENABLE,
        ier::RECEIVED_DATA,
    );
    assert_eq!(uart.character_time(), 86_805);
    uart.receive(&mut ctx, b'x').unwrap();
    ctx.advance(4 * 86_805 - 1);
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::FIFOS_ENABLED | iir::NO_INTERRUPT
    );
    ctx.advance(1);
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::FIFOS_ENABLED | iir::CHARACTER_TIMEOUT
    );
    assert!(ctx.irq_level(IRQ));
    assert_eq!(read(&mut uart, &mut ctx, offset::DATA), b'x');
    assert!(!ctx.irq_level(IRQ));
}

#[test]
fn uart_character_timeout_is_raised_by_the_poll_timer() {
    let (mut uart, mut ctx) = powered();
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ID,
        fcr::ENABLE | 0xC0,
    );
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ENABLE,
        ier::RECEIVED_DATA,
    );
    uart.receive(&mut ctx, b'x').unwrap();
    ctx.fire_due(&mut uart, POLL_PERIOD_NS);
    assert!(ctx.irq_level(IRQ));
}

#[test]
fn uart_thre_interrupt_on_enable_cleared_by_iir_read() {
    let (mut uart, mut ctx) = powered();
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ENABLE,
        ier::THR_EMPTY,
    );
    assert!(ctx.irq_level(IRQ));
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::THR_EMPTY
    );
    assert!(!ctx.irq_level(IRQ));
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::NO_INTERRUPT
    );
}

#[test]
fn uart_thr_write_gives_one_rising_edge_per_byte() {
    let (mut uart, mut ctx) = powered();
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ENABLE,
        ier::THR_EMPTY,
    );
    ctx.take_irq_events();
    for byte in *b"abc" {
        write(&mut uart, &mut ctx, offset::DATA, byte);
    }
    assert_eq!(ctx.irq_rising_edges(IRQ), 3);
    assert!(ctx.irq_level(IRQ));
}

#[test]
fn uart_modem_status_interrupt_has_lowest_priority() {
    let (mut uart, mut ctx) = powered();
    write(&mut uart, &mut ctx, offset::MODEM_CONTROL, mcr::LOOPBACK);
    read(&mut uart, &mut ctx, offset::MODEM_STATUS);
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ENABLE,
        ier::MODEM_STATUS | ier::THR_EMPTY,
    );
    write(
        &mut uart,
        &mut ctx,
        offset::MODEM_CONTROL,
        mcr::LOOPBACK | mcr::RTS,
    );
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::THR_EMPTY
    );
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::MODEM_STATUS
    );
    assert_eq!(
        read(&mut uart, &mut ctx, offset::MODEM_STATUS),
        msr::CTS | msr::DELTA_CTS
    );
    assert_eq!(
        read(&mut uart, &mut ctx, offset::INTERRUPT_ID),
        iir::NO_INTERRUPT
    );
}

#[test]
fn uart_loopback_routes_thr_to_rbr_not_the_backend() {
    let (mut uart, mut ctx) = powered();
    write(&mut uart, &mut ctx, offset::LINE_CONTROL, EIGHT_N_ONE);
    write(&mut uart, &mut ctx, offset::MODEM_CONTROL, mcr::LOOPBACK);
    write(&mut uart, &mut ctx, offset::DATA, 0x5A);
    assert_eq!(
        read(&mut uart, &mut ctx, offset::LINE_STATUS) & lsr::DATA_READY,
        lsr::DATA_READY
    );
    assert_eq!(read(&mut uart, &mut ctx, offset::DATA), 0x5A);
    assert!(uart.backend().output().is_empty());
    assert_eq!(uart.receive(&mut ctx, 1), Err(ReceiveError::Loopback));
}

#[test]
fn uart_loopback_maps_mcr_outputs_to_msr_inputs() {
    let (mut uart, mut ctx) = powered();
    write(&mut uart, &mut ctx, offset::MODEM_CONTROL, mcr::LOOPBACK);
    read(&mut uart, &mut ctx, offset::MODEM_STATUS);
    write(
        &mut uart,
        &mut ctx,
        offset::MODEM_CONTROL,
        mcr::LOOPBACK | mcr::DTR | mcr::RTS | mcr::OUT1 | mcr::OUT2,
    );
    assert_eq!(
        read(&mut uart, &mut ctx, offset::MODEM_STATUS),
        msr::LINES | msr::DELTA_CTS | msr::DELTA_DSR | msr::DELTA_DCD
    );
    // RI falling sets TERI; reading MSR cleared the other deltas.
    write(
        &mut uart,
        &mut ctx,
        offset::MODEM_CONTROL,
        mcr::LOOPBACK | mcr::DTR | mcr::RTS | mcr::OUT2,
    );
    assert_eq!(
        read(&mut uart, &mut ctx, offset::MODEM_STATUS),
        msr::CTS | msr::DSR | msr::DCD | msr::TRAILING_EDGE_RI
    );
}

#[test]
fn uart_poll_timer_moves_backend_input_without_overrun() {
    let (mut uart, mut ctx) = powered();
    write(&mut uart, &mut ctx, offset::INTERRUPT_ID, fcr::ENABLE);
    assert_eq!(uart.backend_mut().push_input(&[b'z'; 40]), 40);
    ctx.fire_due(&mut uart, POLL_PERIOD_NS);
    assert_eq!(uart.receiver_len(), FIFO_CAPACITY);
    assert_eq!(uart.backend().pending_input(), 40 - FIFO_CAPACITY);
    assert_eq!(
        read(&mut uart, &mut ctx, offset::LINE_STATUS) & lsr::OVERRUN,
        0
    );
    assert_eq!(uart.overruns(), 0);
}

#[test]
fn uart_power_off_disconnects_the_poll_timer_and_lowers_the_line() {
    let (mut uart, mut ctx) = powered();
    assert_eq!(ctx.timers().len(), 1);
    write(
        &mut uart,
        &mut ctx,
        offset::INTERRUPT_ENABLE,
        ier::THR_EMPTY,
    );
    assert!(ctx.irq_level(IRQ));
    uart.power_off(&mut ctx).unwrap();
    assert!(ctx.timers().is_empty());
    assert!(!ctx.irq_level(IRQ));
}

#[test]
fn uart_wide_access_splits_into_consecutive_registers() {
    let (mut uart, mut ctx) = powered();
    uart.pio_write(
        &mut ctx,
        BASE + offset::MODEM_CONTROL,
        &[mcr::DTR, 0x99, 0x99, 0x42],
    );
    let mut data = [0u8; 4];
    uart.pio_read(&mut ctx, BASE + offset::MODEM_CONTROL, &mut data);
    assert_eq!(
        data,
        [
            mcr::DTR,
            lsr::THR_EMPTY | lsr::TRANSMITTER_EMPTY,
            msr::CTS | msr::DSR | msr::DCD,
            0x42
        ]
    );
    // A word access at the last port reads one register and one open-bus byte.
    let mut word = [0u8; 2];
    uart.pio_read(&mut ctx, BASE + offset::SCRATCH, &mut word);
    assert_eq!(word, [0x42, 0xFF]);
}
