//! Bus behaviour: claims, routing (operations 1–4, 8–9), access rules, lifecycle (11–14),
//! timer callbacks (10).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use crate::bus::probe::{Call, Probe, backend_error, calls, pattern};
use crate::bus::{Access, Bus, BusError, DeviceState, Limits, Transition};
use crate::interface::{
    Bdf, ClaimError, DeviceContext, MmioRange, PortRange, RangeError, Region, TimerId,
};
use crate::testing::FakeContext;

fn pio(start: u16, len: u16) -> Region {
    Region::Pio(PortRange::new(start, len).unwrap())
}
fn mmio(start: u64, len: u64) -> Region {
    Region::Mmio(MmioRange::new(start, len).unwrap())
}

#[test]
fn empty_or_overflowing_ranges_cannot_be_built() {
    assert_eq!(PortRange::new(0x3F8, 0), Err(RangeError::Empty));
    assert_eq!(PortRange::new(0xFFFF, 2), Err(RangeError::Overflow));
    assert_eq!(PortRange::new(0xFFFF, 1).map(|r| r.len()), Ok(1));
    assert_eq!(MmioRange::new(0xFEE0_0000, 0), Err(RangeError::Empty));
    assert_eq!(MmioRange::new(u64::MAX, 2), Err(RangeError::Overflow));
    assert_eq!(Bdf::new(0, 32, 0), Err(RangeError::BadBdf));
    assert_eq!(Bdf::new(0, 0, 8), Err(RangeError::BadBdf));
}

#[test]
fn install_claims_regions_and_device_starts_installed() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (probe, log) = Probe::new(0, &[pio(0x3F8, 8), mmio(0xFED0_0000, 0x400)]);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    assert_eq!(calls(&log), vec![Call::Install]);
    assert_eq!(bus.state(id), Ok(DeviceState::Installed));
    assert_eq!(
        bus.claims_of(id).unwrap(),
        &[pio(0x3F8, 8), mmio(0xFED0_0000, 0x400)]
    );
    assert_eq!(bus.owner_of(&pio(0x3F8, 8)), Some(id));
    assert_eq!(bus.name(id), Ok("probe"));
}

#[test]
fn overlapping_claim_is_refused_with_the_existing_region() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (first, _) = Probe::new(0, &[pio(0x60, 1), pio(0x64, 1)]);
    let a = bus.register(&mut vm, Box::new(first)).unwrap();
    let (second, _) = Probe::new(0, &[pio(0x62, 4)]);
    assert_eq!(
        bus.register(&mut vm, Box::new(second)).unwrap_err(),
        BusError::Device(ClaimError::Overlap(pio(0x64, 1)).into())
    );
    // The failed device left nothing behind.
    assert_eq!(bus.device_count(), 1);
    assert_eq!(
        bus.claim(a, pio(0x5F, 2)),
        Err(BusError::Claim(ClaimError::Overlap(pio(0x60, 1))))
    );
    assert_eq!(bus.claim(a, mmio(0, 0x1000)), Ok(()));
    assert_eq!(
        bus.claim(a, mmio(0xFFF, 1)),
        Err(BusError::Claim(ClaimError::Overlap(mmio(0, 0x1000))))
    );
    // Adjacent is fine.
    assert_eq!(bus.claim(a, mmio(0x1000, 1)), Ok(()));
}

#[test]
fn pio_access_reaches_owner_with_absolute_port() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (probe, log) = Probe::new(0x40, &[pio(0x20, 2), pio(0xA0, 2)]);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    let mut byte = [0];
    assert_eq!(bus.pio_read(&mut vm, 0xA1, &mut byte), Access::Device(id));
    assert_eq!(byte, [0x40 ^ 0xA1]);
    assert_eq!(bus.pio_write(&mut vm, 0x21, &[0xFB]), Access::Device(id));
    assert_eq!(
        calls(&log)[2..],
        [Call::PioRead(0xA1, 1), Call::PioWrite(0x21, vec![0xFB])]
    );
}

#[test]
fn mmio_access_reaches_owner_with_absolute_address() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (probe, log) = Probe::new(0, &[mmio(0xFEC0_0000, 0x1000)]);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    let mut dword = [0; 4];
    assert_eq!(
        bus.mmio_read(&mut vm, 0xFEC0_0010, &mut dword),
        Access::Device(id)
    );
    assert_eq!(dword, [0x10, 0x11, 0x12, 0x13]);
    assert_eq!(
        bus.mmio_write(&mut vm, 0xFEC0_0FF8, &[1, 2, 3, 4, 5, 6, 7, 8]),
        Access::Device(id)
    );
    assert_eq!(
        calls(&log)[2..],
        [
            Call::MmioRead(0xFEC0_0010, 4),
            Call::MmioWrite(0xFEC0_0FF8, vec![1, 2, 3, 4, 5, 6, 7, 8])
        ]
    );
}

#[test]
fn unclaimed_read_returns_all_ones_and_write_is_dropped_and_counted() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let mut word = [0; 2];
    assert_eq!(bus.pio_read(&mut vm, 0x80, &mut word), Access::Unclaimed);
    assert_eq!(word, [0xFF, 0xFF]);
    let mut qword = [0; 8];
    assert_eq!(
        bus.mmio_read(&mut vm, 0xE000_0000, &mut qword),
        Access::Unclaimed
    );
    assert_eq!(qword, [0xFF; 8]);
    assert_eq!(bus.pio_write(&mut vm, 0x80, &[0x55]), Access::Unclaimed);
    assert_eq!(bus.counters().unclaimed_reads, 2);
    assert_eq!(bus.counters().unclaimed_writes, 1);
}

#[test]
fn access_sizes_other_than_1_2_4_8_are_refused() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (probe, log) = Probe::new(0, &[pio(0x70, 16), mmio(0x1000, 16)]);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    let mut three = [0; 3];
    assert_eq!(bus.pio_read(&mut vm, 0x70, &mut three), Access::BadSize);
    assert_eq!(three, [0xFF; 3]);
    assert_eq!(bus.mmio_write(&mut vm, 0x1000, &[0; 16]), Access::BadSize);
    assert_eq!(bus.mmio_read(&mut vm, 0x1000, &mut []), Access::BadSize);
    assert_eq!(bus.counters().bad_size, 3);
    assert_eq!(calls(&log), vec![Call::Install, Call::PowerOn]);
}

#[test]
fn access_straddling_two_owners_is_split_bytewise() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (low, low_log) = Probe::new(0x10, &[pio(0x100, 2)]);
    let (high, high_log) = Probe::new(0x20, &[pio(0x102, 2)]);
    let a = bus.register(&mut vm, Box::new(low)).unwrap();
    let b = bus.register(&mut vm, Box::new(high)).unwrap();
    bus.power_on(&mut vm, a).unwrap();
    bus.power_on(&mut vm, b).unwrap();
    let mut dword = [0; 4];
    assert_eq!(bus.pio_read(&mut vm, 0x101, &mut dword), Access::Split);
    // 0x101 from `low`, 0x102 and 0x103 from `high`, 0x104 unclaimed.
    assert_eq!(dword, [0x10 ^ 0x01, 0x20 ^ 0x02, 0x20 ^ 0x03, 0xFF]);
    assert_eq!(calls(&low_log)[2..], [Call::PioRead(0x101, 1)]);
    assert_eq!(
        calls(&high_log)[2..],
        [Call::PioRead(0x102, 1), Call::PioRead(0x103, 1)]
    );
    assert_eq!(bus.pio_write(&mut vm, 0xFF, &[9, 8]), Access::Split);
    assert_eq!(calls(&low_log)[3..], [Call::PioWrite(0x100, vec![8])]);
    assert_eq!(bus.counters().split, 2);
    assert_eq!(bus.counters().unclaimed_reads, 1);
    assert_eq!(bus.counters().unclaimed_writes, 1);
}

#[test]
fn access_past_top_of_address_space_is_split_and_the_excess_unclaimed() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (probe, _) = Probe::new(0, &[pio(0xFFFE, 2), mmio(u64::MAX - 1, 2)]);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    let mut dword = [0; 4];
    assert_eq!(bus.pio_read(&mut vm, 0xFFFE, &mut dword), Access::Split);
    assert_eq!(dword, [0xFE, 0xFF, 0xFF, 0xFF]);
    let mut qword = [0; 8];
    assert_eq!(bus.mmio_read(&mut vm, u64::MAX, &mut qword), Access::Split);
    assert_eq!(qword, [0xFF; 8]);
    assert_eq!(bus.counters().unclaimed_reads, 2 + 7);
}

#[test]
fn lookup_finds_each_owner_among_64_devices() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let mut ids = Vec::new();
    for i in 0..64u16 {
        let (probe, _) = Probe::new(
            i as u8,
            &[
                pio(0x1000 + i * 8, 8),
                mmio(0x1_0000_0000 + u64::from(i) * 0x1000, 0x1000),
            ],
        );
        let id = bus.register(&mut vm, Box::new(probe)).unwrap();
        bus.power_on(&mut vm, id).unwrap();
        ids.push(id);
    }
    for (i, id) in ids.iter().enumerate() {
        let port = 0x1000 + i as u16 * 8 + 7;
        let mut byte = [0];
        assert_eq!(bus.pio_read(&mut vm, port, &mut byte), Access::Device(*id));
        assert_eq!(byte, pattern(i as u8, u64::from(port), 1)[..]);
        let addr = 0x1_0000_0000 + i as u64 * 0x1000;
        assert_eq!(bus.mmio_write(&mut vm, addr, &[0; 4]), Access::Device(*id));
    }
    let mut byte = [0];
    assert_eq!(
        bus.pio_read(&mut vm, 0x1000 + 64 * 8, &mut byte),
        Access::Unclaimed
    );
}

#[test]
fn pci_config_access_reaches_the_claimed_function_at_its_offset() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let bdf = Bdf::new(0, 3, 1).unwrap();
    let (probe, log) = Probe::new(0, &[Region::Pci(bdf)]);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    let mut word = [0; 2];
    assert_eq!(
        bus.pci_config_read(&mut vm, bdf, 0x0E, &mut word),
        Access::Device(id)
    );
    assert_eq!(word, [0x0E, 0x0F]);
    assert_eq!(
        bus.pci_config_write(&mut vm, bdf, 0x3C, &[0x0B]),
        Access::Device(id)
    );
    assert_eq!(
        calls(&log)[2..],
        [
            Call::ConfigRead(0x0E, 2),
            Call::ConfigWrite(0x3C, vec![0x0B])
        ]
    );
}

#[test]
fn pci_config_unknown_function_reads_all_ones_and_end_crossing_is_refused() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let bdf = Bdf::new(0, 1, 0).unwrap();
    let (probe, log) = Probe::new(0, &[Region::Pci(bdf)]);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    let mut dword = [0; 4];
    let other = Bdf::new(0, 2, 0).unwrap();
    assert_eq!(
        bus.pci_config_read(&mut vm, other, 0, &mut dword),
        Access::Unclaimed
    );
    assert_eq!(dword, [0xFF; 4]);
    assert_eq!(
        bus.pci_config_read(&mut vm, bdf, 0xFFE, &mut dword),
        Access::BadSize
    );
    assert_eq!(dword, [0xFF; 4]);
    assert_eq!(
        bus.pci_config_write(&mut vm, bdf, u16::MAX, &[0; 2]),
        Access::BadSize
    );
    assert_eq!(calls(&log), vec![Call::Install, Call::PowerOn]);
}

#[test]
fn power_on_makes_accesses_reach_the_device() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (probe, log) = Probe::new(0, &[pio(0x40, 4)]);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    let mut byte = [0];
    // Installed but not powered: floats.
    assert_eq!(
        bus.pio_read(&mut vm, 0x40, &mut byte),
        Access::PoweredOff(id)
    );
    assert_eq!(byte, [0xFF]);
    bus.power_on(&mut vm, id).unwrap();
    assert_eq!(bus.state(id), Ok(DeviceState::PoweredOn));
    assert_eq!(bus.pio_read(&mut vm, 0x40, &mut byte), Access::Device(id));
    assert_eq!(byte, [0x40]);
    assert_eq!(
        calls(&log),
        vec![Call::Install, Call::PowerOn, Call::PioRead(0x40, 1)]
    );
}

#[test]
fn powered_off_device_reads_all_ones_and_drops_writes() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (probe, log) = Probe::new(0, &[pio(0x40, 4), mmio(0x2000, 8)]);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    bus.power_off(&mut vm, id).unwrap();
    assert_eq!(bus.state(id), Ok(DeviceState::PoweredOff));
    let mut word = [0; 2];
    assert_eq!(
        bus.pio_read(&mut vm, 0x42, &mut word),
        Access::PoweredOff(id)
    );
    assert_eq!(word, [0xFF; 2]);
    assert_eq!(
        bus.mmio_write(&mut vm, 0x2000, &[1]),
        Access::PoweredOff(id)
    );
    assert_eq!(bus.counters().powered_off, 2);
    assert_eq!(
        calls(&log),
        vec![Call::Install, Call::PowerOn, Call::PowerOff]
    );
    // And back on.
    bus.power_on(&mut vm, id).unwrap();
    assert_eq!(bus.pio_read(&mut vm, 0x42, &mut word), Access::Device(id));
}

#[test]
fn invalid_lifecycle_transitions_are_typed_errors() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (probe, _) = Probe::new(0, &[]);
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    assert_eq!(
        bus.power_off(&mut vm, id),
        Err(BusError::InvalidTransition {
            from: DeviceState::Installed,
            requested: Transition::PowerOff
        })
    );
    bus.power_on(&mut vm, id).unwrap();
    assert_eq!(
        bus.power_on(&mut vm, id),
        Err(BusError::InvalidTransition {
            from: DeviceState::PoweredOn,
            requested: Transition::PowerOn
        })
    );
    assert_eq!(
        bus.remove(&mut vm, id).unwrap_err(),
        BusError::InvalidTransition {
            from: DeviceState::PoweredOn,
            requested: Transition::Remove
        }
    );
    bus.power_off(&mut vm, id).unwrap();
    assert_eq!(
        bus.power_off(&mut vm, id),
        Err(BusError::InvalidTransition {
            from: DeviceState::PoweredOff,
            requested: Transition::PowerOff
        })
    );
    bus.remove(&mut vm, id).unwrap();
    assert_eq!(bus.power_on(&mut vm, id), Err(BusError::UnknownDevice(id)));
    assert_eq!(
        bus.remove(&mut vm, id).unwrap_err(),
        BusError::UnknownDevice(id)
    );
}

#[test]
fn remove_takes_device_off_the_bus_and_releases_its_claims() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let bdf = Bdf::new(0, 5, 0).unwrap();
    let (probe, log) = Probe::new(
        0,
        &[pio(0x3F8, 8), mmio(0xA0000, 0x20000), Region::Pci(bdf)],
    );
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    let removed = bus.remove(&mut vm, id).unwrap();
    assert_eq!(removed.device.name(), "probe");
    assert_eq!(removed.device_error, None);
    assert_eq!(removed.leaked.claims, 3);
    assert_eq!(calls(&log), vec![Call::Install, Call::Remove]);
    assert_eq!(bus.device_count(), 0);
    assert_eq!(bus.state(id), Err(BusError::UnknownDevice(id)));
    assert!(bus.total_holdings().is_empty());
    let mut byte = [0];
    assert_eq!(bus.pio_read(&mut vm, 0x3F8, &mut byte), Access::Unclaimed);
    assert_eq!(
        bus.pci_config_read(&mut vm, bdf, 0, &mut byte),
        Access::Unclaimed
    );
    // The regions are free for a successor, which gets a fresh id.
    let (next, _) = Probe::new(0, &[pio(0x3F8, 8)]);
    let successor = bus.register(&mut vm, Box::new(next)).unwrap();
    assert_ne!(successor, id);
    assert_eq!(bus.state(id), Err(BusError::UnknownDevice(id)));
    assert_eq!(bus.state(successor), Ok(DeviceState::Installed));
}

#[test]
fn failed_install_releases_what_it_obtained() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (mut probe, _) = Probe::new(0, &[pio(0x60, 1)]);
    probe.on_install = Some(Box::new(|ctx: &mut dyn DeviceContext| {
        ctx.connect_timer(1_000_000)?;
        ctx.create_critical_section()?;
        Err(backend_error("no host device"))
    }));
    assert_eq!(
        bus.register(&mut vm, Box::new(probe)).unwrap_err(),
        BusError::Device(backend_error("no host device"))
    );
    assert_eq!(bus.device_count(), 0);
    assert!(bus.total_holdings().is_empty());
    assert_eq!(bus.next_timer_deadline(), None);
    assert!(vm.critical_sections().is_empty());
    let mut byte = [0];
    assert_eq!(bus.pio_read(&mut vm, 0x60, &mut byte), Access::Unclaimed);
}

#[test]
fn device_count_is_capped_by_limits() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::new(Limits {
        max_devices: 2,
        ..Limits::DEFAULT
    });
    for _ in 0..2 {
        let (probe, _) = Probe::new(0, &[]);
        bus.register(&mut vm, Box::new(probe)).unwrap();
    }
    let (probe, _) = Probe::new(0, &[]);
    assert_eq!(
        bus.register(&mut vm, Box::new(probe)).unwrap_err(),
        BusError::TooManyDevices
    );
}

#[test]
fn run_timers_calls_each_due_timer_back_once_per_period() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (mut probe, log) = Probe::new(0, &[]);
    probe.on_power_on = Some(Box::new(|ctx: &mut dyn DeviceContext| {
        ctx.connect_timer(10_000)?;
        Ok(())
    }));
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    assert_eq!(bus.next_timer_deadline(), Some(10_000));
    assert_eq!(bus.timer_info(TimerId(0)), Some((id, 10_000)));
    assert_eq!(bus.run_timers(&mut vm, 9_999), 0);
    assert_eq!(bus.run_timers(&mut vm, 10_000), 1);
    assert_eq!(bus.run_timers(&mut vm, 20_500), 1);
    assert_eq!(bus.next_timer_deadline(), Some(30_000));
    assert_eq!(
        calls(&log)[2..],
        [
            Call::Timer(TimerId(0), 10_000),
            Call::Timer(TimerId(0), 20_500)
        ]
    );
}

#[test]
fn late_timer_tick_calls_once_with_now_and_reschedules_past_it() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (mut probe, log) = Probe::new(0, &[]);
    probe.on_power_on = Some(Box::new(|ctx: &mut dyn DeviceContext| {
        ctx.connect_timer(1_000)?;
        Ok(())
    }));
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    // Five periods late: one call, with `now`; the next is due at the following boundary.
    assert_eq!(bus.run_timers(&mut vm, 5_500), 1);
    assert_eq!(calls(&log)[2..], [Call::Timer(TimerId(0), 5_500)]);
    assert_eq!(bus.next_timer_deadline(), Some(6_000));
}

#[test]
fn timers_of_a_powered_off_device_are_not_called() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let (mut probe, log) = Probe::new(0, &[]);
    probe.on_power_on = Some(Box::new(|ctx: &mut dyn DeviceContext| {
        ctx.connect_timer(1_000)?;
        Ok(())
    }));
    let id = bus.register(&mut vm, Box::new(probe)).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    bus.power_off(&mut vm, id).unwrap();
    assert_eq!(bus.run_timers(&mut vm, 10_000), 0);
    assert_eq!(
        calls(&log),
        vec![Call::Install, Call::PowerOn, Call::PowerOff]
    );
}
