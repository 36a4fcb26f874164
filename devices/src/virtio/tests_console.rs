//! virtio-console behaviour: identity, transmitted bytes reach the sink, queued input fills the
//! driver's receive buffers (on notification, on poll and from the poll timer), input is
//! bounded.

use alloc::vec::Vec;

use crate::interface::{Device, Gpa};
use crate::testing::FakeContext;
use crate::virtio::console::*;
use crate::virtio::regs::*;
use crate::virtio::test_driver::*;
use crate::virtio::transport::VirtioPci;

/// A sink that also offers input, as a host terminal would.
#[derive(Debug, Default)]
struct Terminal {
    output: Vec<u8>,
    typed: Vec<u8>,
}

impl ConsoleSink for Terminal {
    fn write(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }
    fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.typed.len());
        buf[..n].copy_from_slice(&self.typed[..n]);
        self.typed.drain(..n);
        n
    }
}

type Console = VirtioPci<VirtioConsole<Terminal>>;

const RX_AT: Gpa = BUFFERS;
const TX_AT: Gpa = BUFFERS + 0x1000;

fn console_up() -> (FakeContext, Console, DriverQueue, DriverQueue) {
    let mut ctx = context();
    let mut dev = VirtioPci::new(bdf(), IRQ, VirtioConsole::new(Terminal::default())).unwrap();
    let mut queues = bring_up(&mut ctx, &mut dev, true);
    assert_eq!(queues.len(), 2);
    let transmit = queues.remove(1);
    let receive = queues.remove(0);
    (ctx, dev, receive, transmit)
}

#[test]
fn console_pci_identity_and_config() {
    let (mut ctx, mut dev, receive, _) = console_up();
    let mut id = [0u8; 4];
    dev.pci_config_read(&mut ctx, 0x00, &mut id);
    assert_eq!(id, [0xF4, 0x1A, 0x03, 0x10]);
    let mut class = [0u8; 4];
    dev.pci_config_read(&mut ctx, 0x08, &mut class);
    assert_eq!(class, [0x00, 0x00, SUBCLASS_OTHER, CLASS_COMMUNICATION]);
    let mut subsystem = [0u8; 2];
    dev.pci_config_read(&mut ctx, 0x2E, &mut subsystem);
    assert_eq!(u16::from_le_bytes(subsystem), VIRTIO_ID_CONSOLE);
    let ports = read_reg(
        &mut ctx,
        &mut dev,
        REG_DEVICE_CONFIG + CONFIG_MAX_NR_PORTS as u64,
        4,
    );
    assert_eq!(ports, 1);
    assert_eq!(
        read_reg(&mut ctx, &mut dev, REG_DEVICE_FEATURES, WIDTH_32),
        0
    );
    assert_eq!(receive.size, QUEUE_SIZE);
}

#[test]
fn console_transmit_reaches_the_sink() {
    let (mut ctx, mut dev, _, mut transmit) = console_up();
    put_ram(&mut ctx, TX_AT, b"hello ");
    put_ram(&mut ctx, TX_AT + 0x100, b"world\n");
    let head = transmit.submit(&mut ctx, &[(TX_AT, 6, false), (TX_AT + 0x100, 6, false)]);
    transmit.notify(&mut ctx, &mut dev);
    assert_eq!(dev.device().sink().output, b"hello world\n");
    assert_eq!(transmit.take_used(&ctx), [(u32::from(head), 0)]);
    assert_eq!(read_isr(&mut ctx, &mut dev), ISR_QUEUE);
}

#[test]
fn console_input_fills_receive_buffers_when_the_driver_posts_them() {
    let (mut ctx, mut dev, mut receive, _) = console_up();
    assert_eq!(dev.device_mut().push_input(b"ls\n"), 3);
    let head = receive.submit(&mut ctx, &[(RX_AT, 16, true)]);
    receive.notify(&mut ctx, &mut dev);
    assert_eq!(receive.take_used(&ctx), [(u32::from(head), 3)]);
    assert_eq!(ram(&ctx, RX_AT, 3), b"ls\n");
    assert_eq!(dev.device().pending_input(), 0);
    assert!(ctx.irq_level(IRQ));
}

#[test]
fn console_input_longer_than_a_buffer_spans_buffers() {
    let (mut ctx, mut dev, mut receive, _) = console_up();
    receive.submit(&mut ctx, &[(RX_AT, 4, true)]);
    receive.submit(&mut ctx, &[(RX_AT + 0x10, 4, true)]);
    receive.notify(&mut ctx, &mut dev);
    assert!(receive.take_used(&ctx).is_empty(), "no input, buffers kept");
    dev.device_mut().push_input(b"abcdef");
    dev.poll(&mut ctx);
    assert_eq!(receive.take_used(&ctx), [(0, 4), (1, 2)]);
    assert_eq!(ram(&ctx, RX_AT, 4), b"abcd");
    assert_eq!(ram(&ctx, RX_AT + 0x10, 2), b"ef");
}

#[test]
fn console_poll_timer_pulls_input_from_the_sink() {
    let (mut ctx, mut dev, mut receive, _) = console_up();
    receive.submit(&mut ctx, &[(RX_AT, 16, true)]);
    receive.notify(&mut ctx, &mut dev);
    dev.device_mut().sink_mut().typed.extend_from_slice(b"y\n");
    assert_eq!(ctx.fire_due(&mut dev, POLL_PERIOD_NS), 1);
    assert_eq!(receive.take_used(&ctx), [(0, 2)]);
    assert_eq!(ram(&ctx, RX_AT, 2), b"y\n");
}

#[test]
fn console_input_is_bounded() {
    let mut console = VirtioConsole::new(BufferedSink::new());
    assert_eq!(
        console.push_input(&[b'x'; INPUT_CAPACITY + 100]),
        INPUT_CAPACITY
    );
    assert_eq!(console.push_input(b"more"), 0);
    assert_eq!(console.pending_input(), INPUT_CAPACITY);
}

#[test]
fn buffered_sink_keeps_output_up_to_its_capacity() {
    let mut sink = BufferedSink::new();
    sink.write(&[1; BUFFERED_SINK_CAPACITY - 1]);
    sink.write(&[2, 3, 4]);
    assert_eq!(sink.output().len(), BUFFERED_SINK_CAPACITY);
    assert_eq!(sink.output()[BUFFERED_SINK_CAPACITY - 1], 2);
    assert_eq!(sink.dropped(), 2);
}
