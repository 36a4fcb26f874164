//! The device→VMM operations (5–7, 10, 15–21, claims, requests) through the context the bus
//! hands a device, with per-device accounting; and removal releasing what a device forgot.

extern crate std;

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use std::sync::{Arc, Mutex};

use crate::bus::probe::{Hook, Probe};
use crate::bus::{Access, Bus, DeviceId, Holdings, Limits};
use crate::interface::{
    AllocError, CriticalSectionError, CriticalSectionId, DeviceContext, DeviceMemory, DmaError,
    IrqError, IrqLine, MsiMessage, PortRange, Region, TimerError, VmRequest,
};
use crate::testing::{FakeContext, IrqEvent};

/// The port whose writes run the probe's hook.
const DOORBELL: u16 = 0x500;

fn doorbell() -> Region {
    Region::Pio(PortRange::single(DOORBELL))
}

/// A powered-on probe whose hook runs, with the bus-provided context, on each doorbell write.
fn bus_with(limits: Limits, hook: Hook) -> (Bus, FakeContext, DeviceId) {
    let mut vm = FakeContext::new();
    let mut bus = Bus::new(limits);
    let (mut probe, _) = Probe::new(0, &[doorbell()]);
    probe.on_write = Some(hook);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    (bus, vm, id)
}

fn ring(bus: &mut Bus, vm: &mut FakeContext) {
    assert!(matches!(
        bus.pio_write(vm, DOORBELL, &[1]),
        Access::Device(_)
    ));
}

/// Results a hook records for the test to read.
type Shared<T> = Arc<Mutex<Vec<T>>>;

/// A shared slot a hook writes its results into (one handle for the hook, one for the test).
fn slot<T>() -> (Shared<T>, Shared<T>) {
    let s = Arc::new(Mutex::new(Vec::new()));
    (s.clone(), s)
}

#[test]
fn dma_read_and_write_through_bus_context_reach_guest_ram() {
    let (out, seen) = slot();
    let (mut bus, mut vm, _) = bus_with(
        Limits::DEFAULT,
        Box::new(move |ctx: &mut dyn DeviceContext| {
            let mut buf = [0; 4];
            let read = ctx.dma_read(0x1000, &mut buf);
            let write = ctx.dma_write(0x2000, &[0xDE, 0xAD]);
            let outside = ctx.dma_write(0xFFFF, &[0, 0]);
            out.lock().unwrap().push((read, buf, write, outside));
            Ok(())
        }),
    );
    vm.ram[0x1000..0x1004].copy_from_slice(&[1, 2, 3, 4]);
    ring(&mut bus, &mut vm);
    assert_eq!(
        seen.lock().unwrap()[0],
        (
            Ok(()),
            [1, 2, 3, 4],
            Ok(()),
            Err(DmaError::OutOfRange {
                gpa: 0xFFFF,
                len: 2
            })
        )
    );
    assert_eq!(vm.ram[0x2000..0x2002], [0xDE, 0xAD]);
}

#[test]
fn set_irq_pulse_and_msi_through_bus_context_reach_the_vm() {
    let (out, seen) = slot();
    let (mut bus, mut vm, _) = bus_with(
        Limits::DEFAULT,
        Box::new(move |ctx: &mut dyn DeviceContext| {
            let level = ctx.set_irq(IrqLine(4), true);
            let pulse = ctx.pulse_irq(IrqLine(0));
            let msi = ctx.signal_msi(MsiMessage {
                address: 0xFEE0_0000,
                data: 0x41,
            });
            let missing = ctx.set_irq(IrqLine(200), true);
            out.lock().unwrap().push((level, pulse, msi, missing));
            Ok(())
        }),
    );
    ring(&mut bus, &mut vm);
    assert_eq!(
        seen.lock().unwrap()[0],
        (
            Ok(()),
            Ok(()),
            Ok(()),
            Err(IrqError::NoSuchLine(IrqLine(200)))
        )
    );
    assert_eq!(
        vm.irq_events(),
        [
            IrqEvent::Line {
                line: IrqLine(4),
                level: true
            },
            IrqEvent::Line {
                line: IrqLine(0),
                level: true
            },
            IrqEvent::Line {
                line: IrqLine(0),
                level: false
            },
            IrqEvent::Msi(MsiMessage {
                address: 0xFEE0_0000,
                data: 0x41
            }),
        ]
    );
    assert!(vm.irq_level(IrqLine(4)));
}

#[test]
fn connect_timer_through_bus_context_is_accounted_and_limited() {
    let (out, seen) = slot();
    let limits = Limits {
        timers_per_device: 2,
        min_timer_period: 500,
        ..Limits::DEFAULT
    };
    let (mut bus, mut vm, id) = bus_with(
        limits,
        Box::new(move |ctx: &mut dyn DeviceContext| {
            let short = ctx.connect_timer(499);
            let zero = ctx.connect_timer(0);
            let a = ctx.connect_timer(1_000);
            let b = ctx.connect_timer(2_000);
            let third = ctx.connect_timer(3_000);
            let gone = a.map(|a| ctx.disconnect_timer(a));
            let again = a.map(|a| ctx.disconnect_timer(a));
            out.lock()
                .unwrap()
                .push((short, zero, b.is_ok(), third, gone, again));
            Ok(())
        }),
    );
    vm.set_now(7);
    ring(&mut bus, &mut vm);
    let a = crate::interface::TimerId(0);
    assert_eq!(
        seen.lock().unwrap()[0],
        (
            Err(TimerError::BadPeriod(499)),
            Err(TimerError::BadPeriod(0)),
            true,
            Err(TimerError::TooMany),
            Ok(Ok(())),
            Ok(Err(TimerError::Unknown(a)))
        )
    );
    assert_eq!(bus.holdings(id).unwrap().timers, 1);
    // The remaining timer was connected at now = 7.
    assert_eq!(bus.next_timer_deadline(), Some(2_007));
}

#[test]
fn vm_config_through_bus_context_is_the_vms() {
    let (out, seen) = slot();
    let (mut bus, mut vm, _) = bus_with(
        Limits::DEFAULT,
        Box::new(move |ctx: &mut dyn DeviceContext| {
            out.lock().unwrap().push(ctx.vm_config().clone());
            Ok(())
        }),
    );
    vm.config.vcpus = 2;
    ring(&mut bus, &mut vm);
    let config = seen.lock().unwrap()[0].clone();
    assert_eq!(
        (config.name.as_str(), config.ram_bytes, config.vcpus),
        ("test", 64 * 1024, 2)
    );
}

#[test]
fn alloc_and_free_through_bus_context_are_accounted_per_device() {
    let (out, seen) = slot();
    let kept: Arc<Mutex<Vec<DeviceMemory>>> = Arc::default();
    let keep = kept.clone();
    let (mut bus, mut vm, id) = bus_with(
        Limits {
            alloc_bytes_per_device: 256,
            ..Limits::DEFAULT
        },
        Box::new(move |ctx: &mut dyn DeviceContext| {
            let mut held = keep.lock().unwrap();
            if held.is_empty() {
                let a = ctx.alloc(100)?;
                let b = ctx.alloc(100)?;
                let zeroed = a.bytes.iter().all(|b| *b == 0);
                let over = ctx.alloc(57).map(|_| ());
                held.push(a);
                held.push(b);
                out.lock().unwrap().push((zeroed, over, Ok(())));
            } else {
                let forged = DeviceMemory {
                    id: 999,
                    bytes: vec![0; 100].into_boxed_slice(),
                };
                let foreign = ctx.free(forged);
                let first = held.remove(0);
                out.lock().unwrap().push((true, foreign, ctx.free(first)));
            }
            Ok(())
        }),
    );
    ring(&mut bus, &mut vm);
    assert_eq!(
        seen.lock().unwrap()[0],
        (true, Err(AllocError::OutOfMemory { requested: 57 }), Ok(()))
    );
    assert_eq!(
        bus.holdings(id).unwrap(),
        Holdings {
            allocations: 2,
            bytes: 200,
            claims: 1,
            ..Holdings::default()
        }
    );
    ring(&mut bus, &mut vm);
    assert_eq!(
        seen.lock().unwrap()[1],
        (true, Err(AllocError::Foreign), Ok(()))
    );
    assert_eq!(bus.holdings(id).unwrap().allocations, 1);
    assert_eq!(bus.holdings(id).unwrap().bytes, 100);
}

#[test]
fn critical_section_create_enter_exit_remove_through_bus_context() {
    let (out, seen) = slot();
    let (mut bus, mut vm, id) = bus_with(
        Limits {
            critical_sections_per_device: 1,
            ..Limits::DEFAULT
        },
        Box::new(move |ctx: &mut dyn DeviceContext| {
            let cs = ctx.create_critical_section()?;
            let results = vec![
                ctx.create_critical_section().map(|_| ()),
                ctx.exit_critical_section(cs),
                ctx.enter_critical_section(cs),
                ctx.enter_critical_section(cs),
                ctx.remove_critical_section(cs),
                ctx.exit_critical_section(cs),
                ctx.remove_critical_section(cs),
                ctx.enter_critical_section(cs),
            ];
            out.lock().unwrap().push((cs, results));
            Ok(())
        }),
    );
    ring(&mut bus, &mut vm);
    let (cs, results) = seen.lock().unwrap()[0].clone();
    assert_eq!(
        results,
        [
            Err(CriticalSectionError::TooMany),
            Err(CriticalSectionError::NotEntered(cs)),
            Ok(()),
            Err(CriticalSectionError::AlreadyEntered(cs)),
            Err(CriticalSectionError::NotEntered(cs)),
            Ok(()),
            Ok(()),
            Err(CriticalSectionError::Unknown(cs)),
        ]
    );
    assert_eq!(bus.holdings(id).unwrap().critical_sections, 0);
    assert!(vm.critical_sections().is_empty());
}

#[test]
fn claim_and_release_through_bus_context_route_accesses() {
    let extra = Region::Pio(PortRange::new(0x600, 4).unwrap());
    let (out, seen) = slot();
    let (mut bus, mut vm, id) = bus_with(
        Limits::DEFAULT,
        Box::new(move |ctx: &mut dyn DeviceContext| {
            let mut results = out.lock().unwrap();
            if results.is_empty() {
                results.push(ctx.claim(extra));
                results.push(ctx.claim(doorbell()));
            } else {
                results.push(ctx.release(extra));
                results.push(ctx.release(extra));
            }
            Ok(())
        }),
    );
    ring(&mut bus, &mut vm);
    let mut byte = [0];
    assert_eq!(bus.pio_read(&mut vm, 0x603, &mut byte), Access::Device(id));
    ring(&mut bus, &mut vm);
    assert_eq!(bus.pio_read(&mut vm, 0x603, &mut byte), Access::Unclaimed);
    use crate::interface::ClaimError;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Ok(()),
            Err(ClaimError::Overlap(doorbell())),
            Ok(()),
            Err(ClaimError::NotClaimed(extra))
        ]
    );
}

#[test]
fn request_through_bus_context_reaches_the_vm() {
    let (mut bus, mut vm, _) = bus_with(
        Limits::DEFAULT,
        Box::new(|ctx: &mut dyn DeviceContext| {
            ctx.request(VmRequest::Shutdown { status: 3 });
            Ok(())
        }),
    );
    ring(&mut bus, &mut vm);
    assert_eq!(vm.requests(), [VmRequest::Shutdown { status: 3 }]);
}

#[test]
fn removal_releases_everything_a_forgetful_device_held() {
    let kept: Arc<Mutex<Vec<DeviceMemory>>> = Arc::default();
    let keep = kept.clone();
    let (mut bus, mut vm, id) = bus_with(
        Limits::DEFAULT,
        Box::new(move |ctx: &mut dyn DeviceContext| {
            // Obtains one of everything and frees nothing.
            keep.lock().unwrap().push(ctx.alloc(4096)?);
            keep.lock().unwrap().push(ctx.alloc(10)?);
            ctx.connect_timer(1_000_000)?;
            let entered = ctx.create_critical_section()?;
            ctx.enter_critical_section(entered)?;
            ctx.create_critical_section()?;
            ctx.claim(Region::Pio(PortRange::new(0x700, 8).unwrap()))?;
            Ok(())
        }),
    );
    ring(&mut bus, &mut vm);
    let held = Holdings {
        allocations: 2,
        bytes: 4106,
        timers: 1,
        critical_sections: 2,
        entered_critical_sections: 1,
        claims: 2,
    };
    assert_eq!(bus.holdings(id).unwrap(), held);
    assert_eq!(bus.total_holdings(), held);
    assert_eq!(vm.critical_sections().len(), 2);
    bus.power_off(&mut vm, id).unwrap();
    let removed = bus.remove(&mut vm, id).unwrap();
    assert_eq!(removed.leaked, held);
    assert!(bus.total_holdings().is_empty());
    assert_eq!(bus.next_timer_deadline(), None);
    assert!(vm.critical_sections().is_empty());
    assert_eq!(bus.pio_write(&mut vm, 0x700, &[0]), Access::Unclaimed);
    assert!(!vm.is_entered(CriticalSectionId(0)));
}

#[test]
fn a_device_that_frees_everything_leaves_a_zero_ledger_on_removal() {
    let kept: Arc<Mutex<Vec<DeviceMemory>>> = Arc::default();
    let keep = kept.clone();
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (mut probe, _) = Probe::new(0, &[]);
    probe.on_install = Some(Box::new(move |ctx: &mut dyn DeviceContext| {
        keep.lock().unwrap().push(ctx.alloc(64)?);
        Ok(())
    }));
    let give_back = kept.clone();
    probe.on_remove = Some(Box::new(move |ctx: &mut dyn DeviceContext| {
        for memory in give_back.lock().unwrap().drain(..) {
            ctx.free(memory)?;
        }
        Ok(())
    }));
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    assert_eq!(bus.holdings(id).unwrap().bytes, 64);
    let removed = bus.remove(&mut vm, id).unwrap();
    assert!(removed.leaked.is_empty());
    assert!(bus.total_holdings().is_empty());
}

/// Two devices on one line: the line is their wired OR, and powering a device off releases
/// what it still drove.
#[test]
fn a_shared_line_is_the_or_of_its_drivers_and_power_off_releases_it() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::new(Limits::DEFAULT);
    let mut ids = Vec::new();
    for (index, port) in [(0u8, 0x500u16), (1, 0x501)] {
        let (mut probe, _) = Probe::new(index, &[Region::Pio(PortRange::single(port))]);
        probe.on_write = Some(Box::new(move |ctx: &mut dyn DeviceContext| {
            // Odd ports assert, even ports deassert.
            ctx.set_irq(IrqLine(11), port % 2 == 1)
                .map_err(|error| crate::interface::DeviceError::Config(alloc::format!("{error:?}")))
        }));
        let id = bus.register(&mut vm, Box::new(probe)).unwrap();
        bus.power_on(&mut vm, id).unwrap();
        ids.push(id);
    }
    let (first, second) = (ids[0], ids[1]);
    let line = |level| IrqEvent::Line {
        line: IrqLine(11),
        level,
    };
    // The second device (port 0x501) asserts; the first (0x500) deasserts: the line stays high.
    bus.pio_write(&mut vm, 0x501, &[1]);
    bus.pio_write(&mut vm, 0x500, &[1]);
    assert_eq!(vm.irq_events(), [line(true), line(true)]);
    // Powering the asserting device off releases the line.
    bus.power_off(&mut vm, second).unwrap();
    assert_eq!(vm.irq_events().last(), Some(&line(false)));
    bus.remove(&mut vm, second).unwrap();
    assert!(bus.state(first).is_ok());
}
