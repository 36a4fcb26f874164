//! The keyboard controller's documented behaviour, one test each, through ports 0x60/0x64.

use super::*;
use crate::interface::Region;
use crate::testing::FakeContext;

fn powered() -> (I8042, FakeContext) {
    let mut kbc = I8042::new();
    let mut ctx = FakeContext::new();
    kbc.install(&mut ctx).unwrap();
    kbc.power_on(&mut ctx).unwrap();
    (kbc, ctx)
}

fn command(kbc: &mut I8042, ctx: &mut FakeContext, value: u8) {
    kbc.pio_write(ctx, COMMAND_PORT, &[value]);
}

fn data(kbc: &mut I8042, ctx: &mut FakeContext, value: u8) {
    kbc.pio_write(ctx, DATA_PORT, &[value]);
}

fn status_of(kbc: &mut I8042, ctx: &mut FakeContext) -> u8 {
    let mut byte = [0];
    kbc.pio_read(ctx, COMMAND_PORT, &mut byte);
    byte[0]
}

/// Reads every byte in the output buffer, as a driver polling OBF would.
fn drain(kbc: &mut I8042, ctx: &mut FakeContext) -> Vec<u8> {
    let mut bytes = Vec::new();
    while status_of(kbc, ctx) & status::OUTPUT_FULL != 0 {
        let mut byte = [0];
        kbc.pio_read(ctx, DATA_PORT, &mut byte);
        bytes.push(byte[0]);
    }
    bytes
}

#[test]
fn i8042_status_after_power_on_is_empty_with_system_flag() {
    let (mut kbc, mut ctx) = powered();
    assert_eq!(
        status_of(&mut kbc, &mut ctx),
        status::NOT_INHIBITED | status::SYSTEM
    );
}

#[test]
fn i8042_self_test_answers_0x55() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, SELF_TEST);
    assert_eq!(
        status_of(&mut kbc, &mut ctx) & (status::OUTPUT_FULL | status::LAST_WAS_COMMAND),
        status::OUTPUT_FULL | status::LAST_WAS_COMMAND
    );
    assert_eq!(drain(&mut kbc, &mut ctx), [SELF_TEST_PASSED]);
}

#[test]
fn i8042_interface_tests_answer_0x00() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, TEST_KEYBOARD_PORT);
    command(&mut kbc, &mut ctx, TEST_MOUSE_PORT);
    assert_eq!(
        drain(&mut kbc, &mut ctx),
        [PORT_TEST_PASSED, PORT_TEST_PASSED]
    );
}

#[test]
fn i8042_command_byte_reads_and_writes_through_0x20_and_0x60() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, READ_RAM_FIRST);
    assert_eq!(drain(&mut kbc, &mut ctx), [DEFAULT_COMMAND_BYTE]);
    command(&mut kbc, &mut ctx, WRITE_RAM_FIRST);
    data(
        &mut kbc,
        &mut ctx,
        command_byte::MOUSE_INTERRUPT | command_byte::KEYBOARD_INTERRUPT,
    );
    assert_eq!(status_of(&mut kbc, &mut ctx) & status::SYSTEM, 0);
    command(&mut kbc, &mut ctx, READ_RAM_FIRST);
    assert_eq!(
        drain(&mut kbc, &mut ctx),
        [command_byte::MOUSE_INTERRUPT | command_byte::KEYBOARD_INTERRUPT]
    );
}

#[test]
fn i8042_controller_ram_bytes_beyond_the_command_byte() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, WRITE_RAM_FIRST + 5);
    data(&mut kbc, &mut ctx, 0x5A);
    command(&mut kbc, &mut ctx, READ_RAM_FIRST + 5);
    assert_eq!(drain(&mut kbc, &mut ctx), [0x5A]);
}

#[test]
fn i8042_disable_and_enable_ports_set_command_byte_bits() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, DISABLE_KEYBOARD);
    command(&mut kbc, &mut ctx, DISABLE_MOUSE);
    command(&mut kbc, &mut ctx, READ_RAM_FIRST);
    let disabled = drain(&mut kbc, &mut ctx)[0];
    assert_eq!(
        disabled & (command_byte::KEYBOARD_DISABLED | command_byte::MOUSE_DISABLED),
        command_byte::KEYBOARD_DISABLED | command_byte::MOUSE_DISABLED
    );
    assert_eq!(kbc.push_keyboard(&mut ctx, 0x1E), Err(InputError::Disabled));
    command(&mut kbc, &mut ctx, ENABLE_KEYBOARD);
    command(&mut kbc, &mut ctx, ENABLE_MOUSE);
    command(&mut kbc, &mut ctx, READ_RAM_FIRST);
    assert_eq!(drain(&mut kbc, &mut ctx), [DEFAULT_COMMAND_BYTE]);
}

#[test]
fn i8042_cpu_reset_command_0xfe_requests_a_vm_reset() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, 0xFF); // pulse nothing
    assert!(ctx.requests().is_empty());
    command(&mut kbc, &mut ctx, 0xFE);
    assert_eq!(ctx.requests(), &[VmRequest::Reset]);
}

#[test]
fn i8042_output_port_write_with_bit0_clear_resets_and_bit1_gates_a20() {
    let (mut kbc, mut ctx) = powered();
    assert!(kbc.a20_enabled());
    command(&mut kbc, &mut ctx, WRITE_OUTPUT_PORT);
    data(&mut kbc, &mut ctx, output_port::RESET);
    assert!(!kbc.a20_enabled());
    assert!(ctx.requests().is_empty());
    command(&mut kbc, &mut ctx, READ_OUTPUT_PORT);
    assert_eq!(drain(&mut kbc, &mut ctx), [output_port::RESET]);
    command(&mut kbc, &mut ctx, WRITE_OUTPUT_PORT);
    data(&mut kbc, &mut ctx, output_port::A20);
    assert!(kbc.a20_enabled());
    assert_eq!(ctx.requests(), &[VmRequest::Reset]);
}

#[test]
fn i8042_a20_fast_commands_dd_and_df() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, DISABLE_A20);
    assert!(!kbc.a20_enabled());
    command(&mut kbc, &mut ctx, ENABLE_A20);
    assert!(kbc.a20_enabled());
}

#[test]
fn i8042_keyboard_reset_answers_ack_and_self_test_passed() {
    let (mut kbc, mut ctx) = powered();
    data(&mut kbc, &mut ctx, device_command::RESET);
    assert_eq!(
        drain(&mut kbc, &mut ctx),
        [response::ACK, response::SELF_TEST_PASSED]
    );
}

#[test]
fn i8042_keyboard_enable_disable_acknowledge_and_gate_scanning() {
    let (mut kbc, mut ctx) = powered();
    data(&mut kbc, &mut ctx, device_command::DISABLE);
    assert_eq!(drain(&mut kbc, &mut ctx), [response::ACK]);
    assert_eq!(kbc.push_keyboard(&mut ctx, 0x1E), Err(InputError::Disabled));
    data(&mut kbc, &mut ctx, device_command::ENABLE);
    assert_eq!(drain(&mut kbc, &mut ctx), [response::ACK]);
    kbc.push_keyboard(&mut ctx, 0x1E).unwrap();
    assert_eq!(drain(&mut kbc, &mut ctx), [0x1E]);
}

#[test]
fn i8042_keyboard_identify_reports_translated_mf2() {
    let (mut kbc, mut ctx) = powered();
    data(&mut kbc, &mut ctx, device_command::IDENTIFY);
    assert_eq!(
        drain(&mut kbc, &mut ctx),
        [
            response::ACK,
            response::KEYBOARD_ID,
            response::KEYBOARD_ID_TRANSLATED
        ]
    );
}

#[test]
fn i8042_keyboard_leds_take_a_parameter_and_unknown_commands_get_resend() {
    let (mut kbc, mut ctx) = powered();
    data(&mut kbc, &mut ctx, device_command::SET_LEDS);
    data(&mut kbc, &mut ctx, 0x07);
    assert_eq!(drain(&mut kbc, &mut ctx), [response::ACK, response::ACK]);
    assert_eq!(kbc.keyboard().leds(), 0x07);
    data(&mut kbc, &mut ctx, 0x01);
    assert_eq!(drain(&mut kbc, &mut ctx), [response::RESEND]);
}

#[test]
fn i8042_mouse_commands_go_through_0xd4_and_answer_on_irq12() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, WRITE_RAM_FIRST);
    data(
        &mut kbc,
        &mut ctx,
        command_byte::MOUSE_INTERRUPT | command_byte::SYSTEM,
    );
    command(&mut kbc, &mut ctx, WRITE_MOUSE);
    data(&mut kbc, &mut ctx, device_command::RESET);
    assert!(ctx.irq_level(MOUSE_IRQ));
    assert_eq!(
        status_of(&mut kbc, &mut ctx) & status::MOUSE_OUTPUT,
        status::MOUSE_OUTPUT
    );
    assert_eq!(
        drain(&mut kbc, &mut ctx),
        [
            response::ACK,
            response::SELF_TEST_PASSED,
            response::MOUSE_ID
        ]
    );
    assert_eq!(ctx.irq_rising_edges(MOUSE_IRQ), 3);
    assert!(!ctx.irq_level(MOUSE_IRQ));
}

#[test]
fn i8042_keyboard_bytes_raise_irq1_one_edge_per_byte() {
    let (mut kbc, mut ctx) = powered();
    ctx.take_irq_events();
    for scancode in [0x1E, 0x9E] {
        kbc.push_keyboard(&mut ctx, scancode).unwrap();
    }
    assert!(ctx.irq_level(KEYBOARD_IRQ));
    assert_eq!(drain(&mut kbc, &mut ctx), [0x1E, 0x9E]);
    assert_eq!(ctx.irq_rising_edges(KEYBOARD_IRQ), 2);
    assert!(!ctx.irq_level(KEYBOARD_IRQ));
}

#[test]
fn i8042_keyboard_interrupt_disabled_in_command_byte_keeps_irq1_low() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, WRITE_RAM_FIRST);
    data(&mut kbc, &mut ctx, command_byte::SYSTEM);
    kbc.push_keyboard(&mut ctx, 0x1E).unwrap();
    assert!(!ctx.irq_level(KEYBOARD_IRQ));
    assert_eq!(
        status_of(&mut kbc, &mut ctx) & status::OUTPUT_FULL,
        status::OUTPUT_FULL
    );
}

#[test]
fn i8042_output_queue_is_bounded_and_counts_drops() {
    let (mut kbc, mut ctx) = powered();
    for _ in 0..OUTPUT_QUEUE_CAP + 4 {
        command(&mut kbc, &mut ctx, SELF_TEST);
    }
    assert_eq!(kbc.queued(), OUTPUT_QUEUE_CAP);
    assert_eq!(kbc.dropped(), 4);
    assert_eq!(
        kbc.push_keyboard(&mut ctx, 0x1E),
        Err(InputError::QueueFull)
    );
}

#[test]
fn i8042_empty_output_buffer_repeats_the_last_byte() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, SELF_TEST);
    let mut byte = [0];
    kbc.pio_read(&mut ctx, DATA_PORT, &mut byte);
    kbc.pio_read(&mut ctx, DATA_PORT, &mut byte);
    assert_eq!(byte, [SELF_TEST_PASSED]);
}

#[test]
fn i8042_write_keyboard_output_buffer_echoes_as_keyboard_data() {
    let (mut kbc, mut ctx) = powered();
    command(&mut kbc, &mut ctx, WRITE_KEYBOARD_OUTPUT);
    data(&mut kbc, &mut ctx, 0x42);
    assert!(ctx.irq_level(KEYBOARD_IRQ));
    assert_eq!(drain(&mut kbc, &mut ctx), [0x42]);
}

#[test]
fn i8042_install_claims_ports_0x60_and_0x64() {
    let mut kbc = I8042::new();
    let mut ctx = FakeContext::new();
    kbc.install(&mut ctx).unwrap();
    assert_eq!(
        ctx.claims(),
        &[
            Region::Pio(PortRange::single(DATA_PORT)),
            Region::Pio(PortRange::single(COMMAND_PORT))
        ]
    );
    kbc.remove(&mut ctx).unwrap();
    assert!(ctx.claims().is_empty());
}
