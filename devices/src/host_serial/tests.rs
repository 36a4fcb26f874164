//! The shared host serial: whole tagged lines from several VMs' real 16550 models, input routed
//! to the selected VM, the critical section around every touch of the host port, bounded
//! buffers.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use spin::Mutex;

use super::*;
use crate::interface::{
    AllocError, CriticalSectionError, CriticalSectionId, Device, DeviceContext, DeviceMemory,
    DmaError, Gpa, IrqError, IrqLine, MsiMessage, Nanos, TimerError, TimerId, VmConfig, VmRequest,
};
use crate::testing::{FakeContext, MAX_CRITICAL_SECTIONS};
use crate::uart16550::registers::{lcr, lsr, offset};
use crate::uart16550::{Uart16550, UartConfig};

/// LCR for 8 data bits, no parity, one stop bit.
const EIGHT_N_ONE: u8 = lcr::WORD_LENGTH_MASK;
const BASE: u16 = UartConfig::COM1.base;

/// What happened, in order, across the fake host port and every VM's context.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Create(&'static str),
    Enter(&'static str),
    Exit(&'static str),
    HostWrite(Vec<u8>),
    /// A byte read from the host port (reads that find nothing are not logged).
    HostRead(u8),
}

#[derive(Default)]
struct World {
    events: Vec<Event>,
    host_input: VecDeque<u8>,
}

type SharedWorld = Arc<Mutex<World>>;

impl World {
    /// Everything written to the host port, concatenated.
    fn host_output(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            if let Event::HostWrite(bytes) = event {
                out.push_str(core::str::from_utf8(bytes).unwrap());
            }
        }
        out
    }

    fn host_writes(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::HostWrite(_)))
            .count()
    }
}

/// The host port: writes go to the event log, reads come from `host_input`.
struct FakeSerial(SharedWorld);

impl HostSerial for FakeSerial {
    fn write_bytes(&mut self, bytes: &[u8]) {
        self.0.lock().events.push(Event::HostWrite(bytes.to_vec()));
    }
    fn read_byte(&mut self) -> Option<u8> {
        let mut world = self.0.lock();
        let byte = world.host_input.pop_front()?;
        world.events.push(Event::HostRead(byte));
        Some(byte)
    }
}

/// A [`FakeContext`] that also logs critical-section operations into the shared event log.
struct TracingContext {
    fake: FakeContext,
    world: SharedWorld,
    vm: &'static str,
}

impl DeviceContext for TracingContext {
    fn dma_read(&mut self, gpa: Gpa, buf: &mut [u8]) -> Result<(), DmaError> {
        DeviceContext::dma_read(&mut self.fake, gpa, buf)
    }
    fn dma_write(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), DmaError> {
        DeviceContext::dma_write(&mut self.fake, gpa, data)
    }
    fn set_irq(&mut self, line: IrqLine, level: bool) -> Result<(), IrqError> {
        DeviceContext::set_irq(&mut self.fake, line, level)
    }
    fn signal_msi(&mut self, msg: MsiMessage) -> Result<(), IrqError> {
        DeviceContext::signal_msi(&mut self.fake, msg)
    }
    fn connect_timer(&mut self, period: Nanos) -> Result<TimerId, TimerError> {
        DeviceContext::connect_timer(&mut self.fake, period)
    }
    fn disconnect_timer(&mut self, id: TimerId) -> Result<(), TimerError> {
        DeviceContext::disconnect_timer(&mut self.fake, id)
    }
    fn now(&self) -> Nanos {
        DeviceContext::now(&self.fake)
    }
    fn vm_config(&self) -> &VmConfig {
        DeviceContext::vm_config(&self.fake)
    }
    fn alloc(&mut self, size: usize) -> Result<DeviceMemory, AllocError> {
        DeviceContext::alloc(&mut self.fake, size)
    }
    fn free(&mut self, memory: DeviceMemory) -> Result<(), AllocError> {
        DeviceContext::free(&mut self.fake, memory)
    }
    fn create_critical_section(&mut self) -> Result<CriticalSectionId, CriticalSectionError> {
        let id = DeviceContext::create_critical_section(&mut self.fake)?;
        self.world.lock().events.push(Event::Create(self.vm));
        Ok(id)
    }
    fn enter_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError> {
        DeviceContext::enter_critical_section(&mut self.fake, id)?;
        self.world.lock().events.push(Event::Enter(self.vm));
        Ok(())
    }
    fn exit_critical_section(&mut self, id: CriticalSectionId) -> Result<(), CriticalSectionError> {
        DeviceContext::exit_critical_section(&mut self.fake, id)?;
        self.world.lock().events.push(Event::Exit(self.vm));
        Ok(())
    }
    fn remove_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError> {
        DeviceContext::remove_critical_section(&mut self.fake, id)
    }
    fn request(&mut self, request: VmRequest) {
        DeviceContext::request(&mut self.fake, request);
    }
}

/// One VM: its UART on the shared port and its context.
struct Vm {
    uart: Uart16550<HostBackedUart>,
    ctx: TracingContext,
}

impl Vm {
    /// Attached to `hub`, installed, powered on and programmed 8N1.
    fn new(hub: &SharedHostSerial, world: &SharedWorld, name: &'static str) -> Self {
        let backend = hub.attach(name).unwrap();
        let mut vm = Vm {
            uart: Uart16550::new(UartConfig::COM1, backend).unwrap(),
            ctx: TracingContext {
                fake: FakeContext::new(),
                world: Arc::clone(world),
                vm: name,
            },
        };
        vm.uart.install(&mut vm.ctx).unwrap();
        vm.uart.power_on(&mut vm.ctx).unwrap();
        vm.write(offset::LINE_CONTROL, EIGHT_N_ONE);
        vm
    }

    fn write(&mut self, register: u16, value: u8) {
        self.uart
            .pio_write(&mut self.ctx, BASE + register, &[value]);
    }

    fn read(&mut self, register: u16) -> u8 {
        let mut data = [0];
        self.uart
            .pio_read(&mut self.ctx, BASE + register, &mut data);
        data[0]
    }

    /// The guest prints `text` through THR.
    fn print(&mut self, text: &[u8]) {
        for byte in text {
            self.write(offset::DATA, *byte);
        }
    }

    /// Polls the back end and reads the receiver (one byte deep: FIFOs off) until it stays
    /// empty.
    fn receive_all(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        loop {
            self.uart.poll(&mut self.ctx);
            if self.read(offset::LINE_STATUS) & lsr::DATA_READY == 0 {
                return bytes;
            }
            bytes.push(self.read(offset::DATA));
        }
    }
}

fn setup() -> (SharedHostSerial, SharedWorld) {
    let world = SharedWorld::default();
    let hub = SharedHostSerial::new(FakeSerial(Arc::clone(&world)));
    (hub, world)
}

#[test]
fn two_vms_interleaved_bytes_arrive_as_whole_tagged_lines() {
    let (hub, world) = setup();
    let mut alpha = Vm::new(&hub, &world, "alpha");
    let mut beta = Vm::new(&hub, &world, "beta");
    let alpha_text = b"hello from alpha\n";
    let beta_text = b"beta says hi\r\nbye\n";
    for index in 0..alpha_text.len().max(beta_text.len()) {
        if let Some(byte) = alpha_text.get(index) {
            alpha.print(&[*byte]);
        }
        if let Some(byte) = beta_text.get(index) {
            beta.print(&[*byte]);
        }
    }
    let world = world.lock();
    assert_eq!(
        world.host_output(),
        "[beta] beta says hi\n[alpha] hello from alpha\n[beta] bye\n"
    );
    assert_eq!(world.host_writes(), 3);
    let alpha_stats = hub.stats("alpha").unwrap();
    assert_eq!(
        (alpha_stats.lines_written, alpha_stats.bytes_written),
        (1, 25)
    );
    assert_eq!(hub.stats("beta").unwrap().lines_written, 2);
}

#[test]
fn each_line_is_written_inside_the_vms_critical_section() {
    let (hub, world) = setup();
    let mut alpha = Vm::new(&hub, &world, "alpha");
    alpha.print(b"one\ntwo\n");
    assert_eq!(
        world.lock().events,
        [
            Event::Create("alpha"),
            Event::Enter("alpha"),
            Event::HostWrite(b"[alpha] one\n".to_vec()),
            Event::Exit("alpha"),
            Event::Enter("alpha"),
            Event::HostWrite(b"[alpha] two\n".to_vec()),
            Event::Exit("alpha"),
        ]
    );
    let section = alpha.uart.backend().critical_section().unwrap();
    assert_eq!(
        alpha.ctx.fake.critical_sections().get(&section),
        Some(&false)
    );
    assert_eq!(alpha.ctx.fake.critical_sections().len(), 1);
}

#[test]
fn host_input_goes_only_to_the_selected_vm() {
    let (hub, world) = setup();
    let mut alpha = Vm::new(&hub, &world, "alpha");
    let mut beta = Vm::new(&hub, &world, "beta");
    hub.select("beta").unwrap();
    world.lock().host_input.extend(b"ls\r");
    assert_eq!(alpha.receive_all(), b"");
    assert_eq!(beta.receive_all(), b"ls\r");
    assert_eq!(hub.stats("beta").unwrap().input_delivered, 3);
    assert_eq!(hub.stats("alpha").unwrap().input_delivered, 0);
    // Switching routes later bytes to the other VM; what was queued stays.
    hub.select("alpha").unwrap();
    world.lock().host_input.extend(b"x");
    assert_eq!(beta.receive_all(), b"");
    assert_eq!(alpha.receive_all(), b"x");
}

#[test]
fn pumping_the_host_port_happens_inside_the_critical_section() {
    let (hub, world) = setup();
    let mut alpha = Vm::new(&hub, &world, "alpha");
    world.lock().host_input.extend(b"k");
    assert_eq!(alpha.receive_all(), b"k");
    let events = world.lock().events.clone();
    assert_eq!(
        events[..4],
        [
            Event::Create("alpha"),
            Event::Enter("alpha"),
            Event::HostRead(b'k'),
            Event::Exit("alpha")
        ]
    );
    // Later polls with the queue dry pump again, each inside the section.
    assert!(
        events[4..]
            .chunks(2)
            .all(|pair| pair == [Event::Enter("alpha"), Event::Exit("alpha")])
    );
}

#[test]
fn first_attached_vm_starts_selected_and_select_next_cycles() {
    let (hub, world) = setup();
    assert_eq!(hub.select_next(), None);
    let _alpha = Vm::new(&hub, &world, "alpha");
    let _beta = Vm::new(&hub, &world, "beta");
    assert_eq!(hub.selected().as_deref(), Some("alpha"));
    assert_eq!(hub.select_next().as_deref(), Some("beta"));
    assert_eq!(hub.select_next().as_deref(), Some("alpha"));
    hub.deselect();
    assert_eq!(hub.selected(), None);
    assert_eq!(hub.select_next().as_deref(), Some("alpha"));
    assert_eq!(hub.vm_names(), ["alpha", "beta"]);
}

#[test]
fn host_input_with_no_vm_selected_is_dropped_and_counted() {
    let (hub, world) = setup();
    let mut alpha = Vm::new(&hub, &world, "alpha");
    hub.deselect();
    world.lock().host_input.extend(b"lost");
    assert_eq!(alpha.receive_all(), b"");
    assert_eq!(hub.unrouted_input(), 4);
}

#[test]
fn input_queue_overflow_is_dropped_and_counted() {
    let (hub, world) = setup();
    let _alpha = hub.attach("alpha").unwrap();
    let extra = 10;
    world
        .lock()
        .host_input
        .extend(core::iter::repeat_n(b'z', INPUT_QUEUE_CAPACITY + extra));
    while hub.pump() > 0 {}
    assert_eq!(hub.pending_input("alpha"), Some(INPUT_QUEUE_CAPACITY));
    assert_eq!(hub.stats("alpha").unwrap().input_dropped, extra as u64);
}

#[test]
fn one_pump_reads_at_most_a_burst() {
    let (hub, world) = setup();
    let _alpha = hub.attach("alpha").unwrap();
    world
        .lock()
        .host_input
        .extend(core::iter::repeat_n(b'p', PUMP_BURST + 1));
    assert_eq!(hub.pump(), PUMP_BURST);
    assert_eq!(hub.pump(), 1);
    assert_eq!(hub.pump(), 0);
}

#[test]
fn full_line_is_cut_at_capacity_and_continued_on_a_new_tagged_line() {
    let (hub, world) = setup();
    let mut alpha = Vm::new(&hub, &world, "a");
    let text: Vec<u8> = core::iter::repeat_n(b'x', LINE_CAPACITY + 3).collect();
    alpha.print(&text);
    let mut expected = String::from("[a] ");
    expected.extend(core::iter::repeat_n('x', LINE_CAPACITY));
    expected.push('\n');
    assert_eq!(world.lock().host_output(), expected);
    assert_eq!(alpha.uart.backend().pending_line(), b"xxx");
    alpha.print(b"\n");
    assert!(world.lock().host_output().ends_with("\n[a] xxx\n"));
    let stats = hub.stats("a").unwrap();
    assert_eq!((stats.lines_written, stats.lines_split), (2, 1));
}

#[test]
fn control_bytes_are_replaced_and_carriage_returns_dropped() {
    let (hub, world) = setup();
    let mut alpha = Vm::new(&hub, &world, "alpha");
    alpha.print(b"\x1b[2J\tok\r\x7f\n");
    assert_eq!(world.lock().host_output(), "[alpha] .[2J\tok.\n");
}

#[test]
fn flush_writes_a_partial_line_and_nothing_when_empty() {
    let (hub, world) = setup();
    let mut alpha = Vm::new(&hub, &world, "alpha");
    alpha.print(b"no newline");
    assert_eq!(world.lock().host_writes(), 0);
    alpha.uart.backend_mut().flush(&mut alpha.ctx);
    alpha.uart.backend_mut().flush(&mut alpha.ctx);
    assert_eq!(world.lock().host_output(), "[alpha] no newline\n");
    alpha.uart.backend_mut().finish(&mut alpha.ctx).unwrap();
    assert!(alpha.ctx.fake.critical_sections().is_empty());
}

#[test]
fn line_is_written_under_the_hub_lock_when_no_section_can_be_created() {
    let (hub, world) = setup();
    let mut alpha = Vm::new(&hub, &world, "alpha");
    for _ in 0..MAX_CRITICAL_SECTIONS {
        DeviceContext::create_critical_section(&mut alpha.ctx.fake).unwrap();
    }
    alpha.print(b"still here\n");
    assert_eq!(world.lock().host_output(), "[alpha] still here\n");
    assert_eq!(hub.stats("alpha").unwrap().section_failures, 1);
    assert_eq!(alpha.uart.backend().critical_section(), None);
}

#[test]
fn attach_refuses_bad_and_duplicate_names_and_too_many_vms() {
    let (hub, _world) = setup();
    let long = "n".repeat(MAX_NAME_BYTES + 1);
    for bad in ["", "two words", "[x]", "tab\t", long.as_str()] {
        assert_eq!(
            hub.attach(bad).map(|_| ()),
            Err(HostSerialError::BadName(String::from(bad)))
        );
    }
    let _first = hub.attach("vm0").unwrap();
    assert_eq!(
        hub.attach("vm0").map(|_| ()),
        Err(HostSerialError::DuplicateName(String::from("vm0")))
    );
    let mut kept = Vec::new();
    for index in 1..MAX_VMS {
        kept.push(hub.attach(&alloc::format!("vm{index}")).unwrap());
    }
    assert_eq!(
        hub.attach("one-more").map(|_| ()),
        Err(HostSerialError::TooManyVms)
    );
    assert_eq!(
        hub.select("nobody"),
        Err(HostSerialError::UnknownVm(String::from("nobody")))
    );
}
