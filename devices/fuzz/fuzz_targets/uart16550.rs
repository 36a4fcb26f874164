//! The 16550A under arbitrary register traffic, received bytes, back-end input and time:
//! no panic, the receiver never holds more than its FIFO, the back end stays within its cap.
#![no_main]

use devices::uart16550::registers::PORT_COUNT;
use devices::uart16550::{BufferedBackend, FIFO_CAPACITY, Uart16550, UartBackend, UartConfig};
use devices_fuzz::{Step, installed, play};
use libfuzzer_sys::fuzz_target;

/// A small back end, so that filling it is reachable.
const BACKEND_CAPACITY: usize = 64;

fuzz_target!(|steps: Vec<Step>| {
    let backend = BufferedBackend::with_capacity(BACKEND_CAPACITY);
    let mut uart = Uart16550::new(UartConfig::COM1, backend).expect("COM1 fits");
    let mut ctx = installed(&mut uart);
    let ports: Vec<u16> = (0..PORT_COUNT)
        .map(|offset| UartConfig::COM1.base + offset)
        .collect();
    play(
        &mut uart,
        &mut ctx,
        &ports,
        &steps,
        |uart, ctx, line, value| match line % 3 {
            0 => {
                let _ = uart.receive(ctx, value);
            }
            1 => {
                uart.backend_mut().push_input(&[value; 8]);
            }
            _ => {
                // The VMM drains the console now and then.
                uart.backend_mut().take_output();
                let _ = uart.backend_mut().poll_receive(ctx);
            }
        },
        |uart, _ctx| {
            assert!(uart.receiver_len() <= FIFO_CAPACITY);
            assert!(uart.backend().output().len() <= BACKEND_CAPACITY);
            assert!(uart.backend().pending_input() <= BACKEND_CAPACITY);
        },
    );
});
