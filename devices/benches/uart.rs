//! A 16550A byte round trip in loopback: the guest writes THR, the byte loops to the receiver,
//! the guest reads RBR. Measured twice: calling the model directly (the register model's own
//! cost, FIFO and interrupt logic included) and through the bus (range lookup, lifecycle check
//! and per-device context added), with IER = RX data | THR empty so the interrupt logic drives
//! the line on every byte.
//!
//! The fake context's interrupt log fills after 4096 events and then only counts, so it adds
//! no allocation to the loop.
//!
//! Run: `cargo bench -p devices --bench uart`; the median is in
//! `target/criterion/uart_loopback_round_trip/*/new/estimates.json`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use devices::bus::Bus;
use devices::interface::Device;
use devices::testing::FakeContext;
use devices::uart16550::registers::{fcr, ier, mcr, offset};
use devices::uart16550::{BufferedBackend, Uart16550, UartConfig};

const BASE: u16 = UartConfig::COM1.base;
/// LCR: 8 data bits, no parity, 1 stop bit.
const EIGHT_N_ONE: u8 = 0x03;

/// The driver's set-up: 8N1, FIFOs on, loopback, RX and THR interrupts enabled.
fn program(write: &mut dyn FnMut(u16, u8)) {
    write(BASE + offset::LINE_CONTROL, EIGHT_N_ONE);
    write(BASE + offset::INTERRUPT_ID, fcr::ENABLE);
    write(BASE + offset::MODEM_CONTROL, mcr::LOOPBACK | mcr::OUT2);
    write(
        BASE + offset::INTERRUPT_ENABLE,
        ier::RECEIVED_DATA | ier::THR_EMPTY,
    );
}

fn uart_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("uart_loopback_round_trip");

    let mut ctx = FakeContext::new();
    let mut uart = Uart16550::new(UartConfig::COM1, BufferedBackend::new()).unwrap();
    uart.install(&mut ctx).unwrap();
    uart.power_on(&mut ctx).unwrap();
    program(&mut |port, value| uart.pio_write(&mut ctx, port, &[value]));
    let mut byte = 0u8;
    group.bench_function("direct", |b| {
        b.iter(|| {
            byte = byte.wrapping_add(1);
            uart.pio_write(&mut ctx, BASE + offset::DATA, &[black_box(byte)]);
            let mut received = [0u8];
            uart.pio_read(&mut ctx, BASE + offset::DATA, &mut received);
            black_box(received)
        })
    });
    assert_eq!(uart.overruns(), 0);

    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let uart = Uart16550::new(UartConfig::COM1, BufferedBackend::new()).unwrap();
    let id = bus.register(&mut vm, Box::new(uart)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    program(&mut |port, value| {
        bus.pio_write(&mut vm, port, &[value]);
    });
    group.bench_function("through_bus", |b| {
        b.iter(|| {
            byte = byte.wrapping_add(1);
            bus.pio_write(&mut vm, BASE + offset::DATA, &[black_box(byte)]);
            let mut received = [0u8];
            bus.pio_read(&mut vm, BASE + offset::DATA, &mut received);
            black_box(received)
        })
    });
    let mut received = [0u8];
    bus.pio_write(&mut vm, BASE + offset::DATA, &[0xA5]);
    bus.pio_read(&mut vm, BASE + offset::DATA, &mut received);
    assert_eq!(received, [0xA5]);
    group.finish();
}

criterion_group!(benches, uart_round_trip);
criterion_main!(benches);
