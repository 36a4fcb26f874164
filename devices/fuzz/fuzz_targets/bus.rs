//! The bus with the PC models registered (i440FX host bridge, COM1, PIC pair, PIT, RTC/CMOS,
//! i8042, debug exit), driven by arbitrary port, MMIO (ECAM) and PCI-configuration accesses of
//! any size, timer runs and power cycles: no panic, holdings stay bounded, and removing every
//! device leaves the bus holding nothing.
#![no_main]

use arbitrary::Arbitrary;
use devices::bus::{Bus, DeviceId};
use devices::debug_exit::DebugExit;
use devices::i8042::I8042;
use devices::interface::{Bdf, Device, DeviceContext, Gpa};
use devices::pci::HostBridge;
use devices::pic8259::PicPair;
use devices::pit8254::Pit8254;
use devices::rtc_cmos::RtcCmos;
use devices::testing::FakeContext;
use devices::uart16550::{BufferedBackend, Uart16550, UartConfig};
use libfuzzer_sys::fuzz_target;

/// Where the ECAM window sits, and its size in buses.
const ECAM_BASE: Gpa = 0xB000_0000;
const ECAM_BUSES: u16 = 2;
/// Ports worth hitting: every model's, the PCI mechanism's and a few unclaimed ones.
const PORTS: [u16; 16] = [
    0x20, 0x21, 0x40, 0x43, 0x60, 0x61, 0x64, 0x70, 0x71, 0xA0, 0xA1, 0xF4, 0x3F8, 0x4D0, 0xCF8,
    0xCFC,
];
/// Steps played per input.
const MAX_STEPS: usize = 512;
/// Timers the models hold together at most (UART, PIT, RTC: one each).
const MAX_TIMERS: usize = 3;

#[derive(Arbitrary, Debug)]
enum Step {
    PioRead {
        port: u8,
        offset: u8,
        size: u8,
    },
    PioWrite {
        port: u8,
        offset: u8,
        size: u8,
        value: u64,
    },
    RawPioWrite {
        port: u16,
        size: u8,
        value: u64,
    },
    MmioRead {
        offset: u32,
        size: u8,
    },
    MmioWrite {
        offset: u32,
        size: u8,
        value: u64,
    },
    ConfigRead {
        device: u8,
        function: u8,
        offset: u16,
        size: u8,
    },
    ConfigWrite {
        device: u8,
        function: u8,
        offset: u16,
        size: u8,
        value: u64,
    },
    RunTimers {
        micros: u32,
    },
    PowerCycle {
        device: u8,
    },
}

/// Sizes 0–8: the valid 1, 2, 4, 8 and the invalid ones the bus must refuse.
fn sized(size: u8) -> usize {
    usize::from(size % 9)
}

fn port(select: u8, offset: u8) -> u16 {
    PORTS[usize::from(select) % PORTS.len()].wrapping_add(u16::from(offset % 4))
}

fn bdf(device: u8, function: u8) -> Bdf {
    Bdf::new(0, device % 32, function % 8).expect("masked into range")
}

fuzz_target!(|steps: Vec<Step>| {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    bus.enable_pci_mechanism1().expect("0xCF8 free");
    bus.enable_ecam(ECAM_BASE, ECAM_BUSES).expect("window free");
    let devices: Vec<Box<dyn Device>> = vec![
        Box::new(HostBridge::new()),
        Box::new(
            Uart16550::new(UartConfig::COM1, BufferedBackend::with_capacity(256)).expect("COM1"),
        ),
        Box::new(PicPair::new()),
        Box::new(Pit8254::new()),
        Box::new(RtcCmos::new(1_700_000_000).expect("in range")),
        Box::new(I8042::new()),
        Box::new(DebugExit::default_ports()),
    ];
    let ids: Vec<DeviceId> = devices
        .into_iter()
        .map(|device| {
            let id = bus.register(&mut vm, device).expect("register");
            bus.power_on(&mut vm, id).expect("power on");
            id
        })
        .collect();
    let claims = bus.total_holdings().claims;

    let mut buffer = [0u8; 8];
    for step in steps.iter().take(MAX_STEPS) {
        match *step {
            Step::PioRead {
                port: select,
                offset,
                size,
            } => {
                bus.pio_read(&mut vm, port(select, offset), &mut buffer[..sized(size)]);
            }
            Step::PioWrite {
                port: select,
                offset,
                size,
                value,
            } => {
                bus.pio_write(
                    &mut vm,
                    port(select, offset),
                    &value.to_le_bytes()[..sized(size)],
                );
            }
            Step::RawPioWrite { port, size, value } => {
                bus.pio_write(&mut vm, port, &value.to_le_bytes()[..sized(size)]);
            }
            Step::MmioRead { offset, size } => {
                bus.mmio_read(
                    &mut vm,
                    ECAM_BASE + u64::from(offset >> 11),
                    &mut buffer[..sized(size)],
                );
            }
            Step::MmioWrite {
                offset,
                size,
                value,
            } => {
                let addr = ECAM_BASE + u64::from(offset >> 11);
                bus.mmio_write(&mut vm, addr, &value.to_le_bytes()[..sized(size)]);
            }
            Step::ConfigRead {
                device,
                function,
                offset,
                size,
            } => {
                bus.pci_config_read(
                    &mut vm,
                    bdf(device, function),
                    offset,
                    &mut buffer[..sized(size)],
                );
            }
            Step::ConfigWrite {
                device,
                function,
                offset,
                size,
                value,
            } => {
                bus.pci_config_write(
                    &mut vm,
                    bdf(device, function),
                    offset,
                    &value.to_le_bytes()[..sized(size)],
                );
            }
            Step::RunTimers { micros } => {
                vm.advance(u64::from(micros) * 1_000);
                let now = vm.now();
                bus.run_timers(&mut vm, now);
            }
            Step::PowerCycle { device } => {
                let id = ids[usize::from(device) % ids.len()];
                bus.power_off(&mut vm, id).expect("power off");
                bus.power_on(&mut vm, id).expect("power on");
            }
        }
        let holdings = bus.total_holdings();
        assert!(holdings.timers <= MAX_TIMERS, "{holdings:?}");
        assert_eq!(holdings.claims, claims, "claims changed: {holdings:?}");
        assert_eq!(holdings.allocations, 0);
        if vm.irq_events().len() > 1024 {
            vm.take_irq_events();
        }
    }
    for id in ids {
        bus.power_off(&mut vm, id).expect("power off");
        let removed = bus.remove(&mut vm, id).expect("remove");
        assert!(removed.device_error.is_none(), "{:?}", removed.device_error);
    }
    assert!(
        bus.total_holdings().is_empty(),
        "{:?}",
        bus.total_holdings()
    );
});
