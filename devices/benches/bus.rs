//! Bus lookup + dispatch with 64 devices registered: one guest access routed to its owner
//! (BTreeMap range lookup, lifecycle check, per-device context, virtual call). Target: ≤ 25 ns
//! per hit.
//!
//! Run: `cargo bench -p devices --bench bus`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use devices::bus::{Access, Bus};
use devices::interface::{Device, DeviceContext, DeviceError, Gpa, MmioRange, PortRange, Region};
use devices::testing::FakeContext;

const DEVICES: u16 = 64;
const PORT_BASE: u16 = 0x1000;
const PORTS_PER_DEVICE: u16 = 8;
const MMIO_BASE: Gpa = 0xF000_0000;
const MMIO_PER_DEVICE: u64 = 0x1000;

/// A register file of one byte per device: reads return it, writes set it.
struct Register {
    ports: PortRange,
    memory: MmioRange,
    value: u8,
}

impl Device for Register {
    fn name(&self) -> &str {
        "register"
    }
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        ctx.claim(Region::Pio(self.ports))?;
        ctx.claim(Region::Mmio(self.memory))?;
        Ok(())
    }
    fn pio_read(&mut self, _ctx: &mut dyn DeviceContext, _port: u16, data: &mut [u8]) {
        data.fill(self.value);
    }
    fn mmio_write(&mut self, _ctx: &mut dyn DeviceContext, _addr: Gpa, data: &[u8]) {
        self.value = data[0];
    }
}

fn populated() -> (Bus, FakeContext) {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    for i in 0..DEVICES {
        let device = Register {
            ports: PortRange::new(PORT_BASE + i * PORTS_PER_DEVICE, PORTS_PER_DEVICE).unwrap(),
            memory: MmioRange::new(MMIO_BASE + u64::from(i) * MMIO_PER_DEVICE, MMIO_PER_DEVICE)
                .unwrap(),
            value: i as u8,
        };
        let id = bus.register(&mut vm, Box::new(device)).unwrap();
        bus.power_on(&mut vm, id).unwrap();
    }
    (bus, vm)
}

fn bus_dispatch(c: &mut Criterion) {
    let (mut bus, mut vm) = populated();
    let ports: Vec<u16> = (0..DEVICES)
        .map(|i| PORT_BASE + i * PORTS_PER_DEVICE + 3)
        .collect();
    let addrs: Vec<Gpa> = (0..DEVICES)
        .map(|i| MMIO_BASE + u64::from(i) * MMIO_PER_DEVICE + 0x10)
        .collect();

    let mut next = 0usize;
    c.bench_function("bus/pio_read_hit_64_devices", |b| {
        b.iter(|| {
            next = (next + 1) % ports.len();
            let mut byte = [0u8];
            let access = bus.pio_read(&mut vm, black_box(ports[next]), &mut byte);
            black_box((access, byte))
        })
    });
    c.bench_function("bus/mmio_write_hit_64_devices", |b| {
        b.iter(|| {
            next = (next + 1) % addrs.len();
            let access = bus.mmio_write(&mut vm, black_box(addrs[next]), &[0x5A, 0, 0, 0]);
            black_box(access)
        })
    });
    c.bench_function("bus/pio_read_unclaimed", |b| {
        b.iter(|| {
            let mut byte = [0u8];
            let access = bus.pio_read(&mut vm, black_box(0x80), &mut byte);
            black_box((access, byte))
        })
    });
    assert!(matches!(
        bus.pio_read(&mut vm, ports[0], &mut [0]),
        Access::Device(_)
    ));
}

criterion_group!(benches, bus_dispatch);
criterion_main!(benches);
