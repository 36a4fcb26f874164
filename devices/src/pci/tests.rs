//! PCI behaviour: mechanism #1 and ECAM reach the same functions, BAR sizing, command-register
//! enables adding and removing BAR claims, the i440FX host bridge's identity.

use alloc::boxed::Box;

use crate::bus::{
    Access, Bus, CONFIG_ADDRESS_ENABLE, CONFIG_ADDRESS_PORT, CONFIG_DATA_PORT, DeviceId,
};
use crate::interface::{
    Bdf, Device, DeviceContext, DeviceError, Gpa, MmioRange, PortRange, Region, VmRequest,
};
use crate::pci::bar::{Bar, BarError};
use crate::pci::config_space::{ConfigSpace, Header, InterruptPin};
use crate::pci::host_bridge::{DEVICE_I440FX, HostBridge, VENDOR_INTEL};
use crate::pci::regs::*;
use crate::testing::FakeContext;

const ECAM_BASE: Gpa = 0xB000_0000;

/// A PCI function with an I/O BAR (BAR0, 32 ports), a 32-bit memory BAR (BAR1, 4 KiB) and a
/// 64-bit prefetchable memory BAR (BAR2–3, 1 MiB). Reads of a BAR answer `tag ^ bar ^ offset`.
struct BarDevice {
    config: ConfigSpace,
    tag: u8,
}

const TEST_HEADER: Header = Header {
    vendor_id: 0x1AF4,
    device_id: 0x1000,
    revision: 0,
    class: (0x02, 0x00, 0x00),
    multi_function: false,
    subsystem_vendor_id: 0x1AF4,
    subsystem_id: 0x0001,
    interrupt_pin: InterruptPin::IntA,
    status: 0,
    command: 0,
};

impl BarDevice {
    fn new(bdf: Bdf, tag: u8) -> Self {
        let bars = [
            (0, Bar::io(32).unwrap()),
            (1, Bar::memory32(0x1000, false).unwrap()),
            (2, Bar::memory64(0x10_0000, true).unwrap()),
        ];
        BarDevice {
            config: ConfigSpace::new(bdf, &TEST_HEADER, &bars).unwrap(),
            tag,
        }
    }
    fn answer(&self, hit: Option<(usize, u64)>, data: &mut [u8]) {
        match hit {
            Some((bar, offset)) => data.fill(self.tag ^ bar as u8 ^ offset as u8),
            None => data.fill(0xFF),
        }
    }
}

impl Device for BarDevice {
    fn name(&self) -> &str {
        "bar-device"
    }
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.config.install(ctx)?;
        Ok(())
    }
    fn pio_read(&mut self, _ctx: &mut dyn DeviceContext, port: u16, data: &mut [u8]) {
        self.answer(self.config.find_io(port), data);
    }
    fn mmio_read(&mut self, _ctx: &mut dyn DeviceContext, addr: Gpa, data: &mut [u8]) {
        self.answer(self.config.find_memory(addr), data);
    }
    fn pci_config_read(&mut self, _ctx: &mut dyn DeviceContext, offset: u16, data: &mut [u8]) {
        self.config.read(offset, data);
    }
    fn pci_config_write(&mut self, ctx: &mut dyn DeviceContext, offset: u16, data: &[u8]) {
        self.config.write(ctx, offset, data);
    }
}

fn bdf(bus: u8, device: u8, function: u8) -> Bdf {
    Bdf::new(bus, device, function).unwrap()
}

/// A bus with both mechanisms, the host bridge at 00:00.0 and a BAR device at 00:03.0.
fn pci_bus() -> (Bus, FakeContext, DeviceId) {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    bus.enable_pci_mechanism1().unwrap();
    bus.enable_ecam(ECAM_BASE, 1).unwrap();
    let bridge = bus.register(&mut vm, Box::new(HostBridge::new())).unwrap();
    bus.power_on(&mut vm, bridge).unwrap();
    let device = bus
        .register(&mut vm, Box::new(BarDevice::new(bdf(0, 3, 0), 0x50)))
        .unwrap();
    bus.power_on(&mut vm, device).unwrap();
    (bus, vm, device)
}

fn config_address(bdf: Bdf, register: u8) -> u32 {
    CONFIG_ADDRESS_ENABLE
        | u32::from(bdf.bus()) << 16
        | u32::from(bdf.device()) << 11
        | u32::from(bdf.function()) << 8
        | u32::from(register)
}

fn cf8_read32(bus: &mut Bus, vm: &mut FakeContext, bdf: Bdf, register: u8) -> u32 {
    bus.pio_write(
        vm,
        CONFIG_ADDRESS_PORT,
        &config_address(bdf, register).to_le_bytes(),
    );
    let mut dword = [0; 4];
    bus.pio_read(vm, CONFIG_DATA_PORT, &mut dword);
    u32::from_le_bytes(dword)
}

fn cf8_write32(bus: &mut Bus, vm: &mut FakeContext, bdf: Bdf, register: u8, value: u32) {
    bus.pio_write(
        vm,
        CONFIG_ADDRESS_PORT,
        &config_address(bdf, register).to_le_bytes(),
    );
    bus.pio_write(vm, CONFIG_DATA_PORT, &value.to_le_bytes());
}

fn ecam_address(bdf: Bdf, register: u16) -> Gpa {
    ECAM_BASE
        | u64::from(bdf.bus()) << 20
        | u64::from(bdf.device()) << 15
        | u64::from(bdf.function()) << 12
        | u64::from(register)
}

fn ecam_read32(bus: &mut Bus, vm: &mut FakeContext, bdf: Bdf, register: u16) -> u32 {
    let mut dword = [0; 4];
    bus.mmio_read(vm, ecam_address(bdf, register), &mut dword);
    u32::from_le_bytes(dword)
}

#[test]
fn mechanism1_and_ecam_read_the_same_function() {
    let (mut bus, mut vm, _) = pci_bus();
    let host = bdf(0, 0, 0);
    let identity = u32::from(DEVICE_I440FX) << 16 | u32::from(VENDOR_INTEL);
    assert_eq!(cf8_read32(&mut bus, &mut vm, host, 0), identity);
    assert_eq!(ecam_read32(&mut bus, &mut vm, host, 0), identity);
    let nic = bdf(0, 3, 0);
    assert_eq!(cf8_read32(&mut bus, &mut vm, nic, 0), 0x1000_1AF4);
    assert_eq!(ecam_read32(&mut bus, &mut vm, nic, 0), 0x1000_1AF4);
    // A write through ECAM is read back through mechanism #1 and the other way round.
    bus.mmio_write(&mut vm, ecam_address(nic, INTERRUPT_LINE), &[11]);
    assert_eq!(cf8_read32(&mut bus, &mut vm, nic, 0x3C) & 0xFFFF, 0x010B);
    cf8_write32(&mut bus, &mut vm, nic, 0x0C, 0x0000_4010);
    assert_eq!(ecam_read32(&mut bus, &mut vm, nic, 0x0C) & 0xFFFF, 0x4010);
}

#[test]
fn mechanism1_byte_and_word_accesses_at_cfc_plus_n_reach_register_plus_n() {
    let (mut bus, mut vm, _) = pci_bus();
    bus.pio_write(
        &mut vm,
        CONFIG_ADDRESS_PORT,
        &config_address(bdf(0, 0, 0), 0x08).to_le_bytes(),
    );
    let mut byte = [0];
    // 0x0B: base class; 0x0A: sub-class.
    bus.pio_read(&mut vm, CONFIG_DATA_PORT + 3, &mut byte);
    assert_eq!(byte, [0x06]);
    let mut word = [0; 2];
    bus.pio_read(&mut vm, CONFIG_DATA_PORT + 2, &mut word);
    assert_eq!(u16::from_le_bytes(word), 0x0600);
    bus.pio_write(
        &mut vm,
        CONFIG_ADDRESS_PORT,
        &config_address(bdf(0, 0, 0), 0x00).to_le_bytes(),
    );
    bus.pio_read(&mut vm, CONFIG_DATA_PORT + 2, &mut word);
    assert_eq!(u16::from_le_bytes(word), DEVICE_I440FX);
    bus.pio_read(&mut vm, CONFIG_DATA_PORT + 1, &mut byte);
    assert_eq!(byte, [0x80]);
}

#[test]
fn mechanism1_address_register_keeps_only_its_fields_and_needs_a_dword() {
    let (mut bus, mut vm, _) = pci_bus();
    bus.pio_write(&mut vm, CONFIG_ADDRESS_PORT, &u32::MAX.to_le_bytes());
    assert_eq!(bus.config_address(), 0x80FF_FFFC);
    let mut dword = [0; 4];
    bus.pio_read(&mut vm, CONFIG_ADDRESS_PORT, &mut dword);
    assert_eq!(u32::from_le_bytes(dword), 0x80FF_FFFC);
    // A byte or word write does not touch the latch.
    bus.pio_write(&mut vm, CONFIG_ADDRESS_PORT, &[0]);
    bus.pio_write(&mut vm, CONFIG_ADDRESS_PORT + 2, &[0, 0]);
    assert_eq!(bus.config_address(), 0x80FF_FFFC);
}

#[test]
fn mechanism1_with_enable_bit_clear_reads_all_ones_and_drops_writes() {
    let (mut bus, mut vm, _) = pci_bus();
    let disabled = config_address(bdf(0, 3, 0), 0x3C) & !CONFIG_ADDRESS_ENABLE;
    bus.pio_write(&mut vm, CONFIG_ADDRESS_PORT, &disabled.to_le_bytes());
    let mut dword = [0; 4];
    bus.pio_read(&mut vm, CONFIG_DATA_PORT, &mut dword);
    assert_eq!(dword, [0xFF; 4]);
    bus.pio_write(&mut vm, CONFIG_DATA_PORT, &[9]);
    assert_eq!(ecam_read32(&mut bus, &mut vm, bdf(0, 3, 0), 0x3C) & 0xFF, 0);
}

#[test]
fn unknown_function_reads_all_ones_through_both_mechanisms() {
    let (mut bus, mut vm, _) = pci_bus();
    let absent = bdf(0, 7, 2);
    assert_eq!(cf8_read32(&mut bus, &mut vm, absent, 0), u32::MAX);
    assert_eq!(ecam_read32(&mut bus, &mut vm, absent, 0), u32::MAX);
    assert_eq!(cf8_read32(&mut bus, &mut vm, bdf(5, 0, 0), 0), u32::MAX);
}

#[test]
fn ecam_reaches_extended_space_which_reads_zero_and_end_crossing_reads_all_ones() {
    let (mut bus, mut vm, _) = pci_bus();
    let nic = bdf(0, 3, 0);
    assert_eq!(ecam_read32(&mut bus, &mut vm, nic, 0x100), 0);
    let mut qword = [0; 8];
    assert_eq!(
        bus.mmio_read(&mut vm, ecam_address(nic, 0xFFC), &mut qword),
        Access::BadSize
    );
    assert_eq!(qword, [0xFF; 8]);
}

#[test]
fn ecam_window_must_be_aligned_nonempty_and_single() {
    let mut bus = Bus::default();
    use crate::bus::BusError;
    assert_eq!(
        bus.enable_ecam(0xB000_1000, 1),
        Err(BusError::BadEcamWindow)
    );
    assert_eq!(
        bus.enable_ecam(0xB000_0000, 0),
        Err(BusError::BadEcamWindow)
    );
    assert_eq!(
        bus.enable_ecam(0xB000_0000, 257),
        Err(BusError::BadEcamWindow)
    );
    assert_eq!(
        bus.enable_ecam(u64::MAX - 0xF_FFFF, 2),
        Err(BusError::BadEcamWindow)
    );
    assert_eq!(
        bus.enable_ecam(0xB000_0000, 256),
        Ok(MmioRange::new(0xB000_0000, 0x1000_0000).unwrap())
    );
    assert_eq!(
        bus.enable_ecam(0xC000_0000, 1),
        Err(BusError::BadEcamWindow)
    );
}

#[test]
fn reset_control_register_cf9_requests_a_vm_reset() {
    let (mut bus, mut vm, _) = pci_bus();
    bus.pio_write(&mut vm, crate::bus::RESET_CONTROL_PORT, &[0x02]);
    assert!(vm.requests().is_empty());
    let mut byte = [0];
    bus.pio_read(&mut vm, crate::bus::RESET_CONTROL_PORT, &mut byte);
    assert_eq!(byte, [0x02]);
    bus.pio_write(&mut vm, crate::bus::RESET_CONTROL_PORT, &[0x06]);
    assert_eq!(vm.requests(), [VmRequest::Reset]);
}

#[test]
fn host_bridge_is_an_i440fx_at_00_00_0_with_read_only_identity() {
    let (mut bus, mut vm, _) = pci_bus();
    let host = bdf(0, 0, 0);
    assert_eq!(cf8_read32(&mut bus, &mut vm, host, 0x00), 0x1237_8086);
    assert_eq!(cf8_read32(&mut bus, &mut vm, host, 0x04), 0x0280_0006);
    assert_eq!(cf8_read32(&mut bus, &mut vm, host, 0x08), 0x0600_0002);
    assert_eq!(
        cf8_read32(&mut bus, &mut vm, host, 0x0C) >> 16 & 0xFF,
        u32::from(HEADER_TYPE_GENERAL)
    );
    cf8_write32(&mut bus, &mut vm, host, 0x00, 0);
    cf8_write32(&mut bus, &mut vm, host, 0x08, 0);
    assert_eq!(cf8_read32(&mut bus, &mut vm, host, 0x00), 0x1237_8086);
    assert_eq!(cf8_read32(&mut bus, &mut vm, host, 0x08), 0x0600_0002);
    // PAM registers are stored (masked); no BARs: all six read zero even after sizing.
    cf8_write32(&mut bus, &mut vm, host, 0x58, 0xFFFF_FFFF);
    assert_eq!(cf8_read32(&mut bus, &mut vm, host, 0x58), 0x3333_3300);
    cf8_write32(&mut bus, &mut vm, host, 0x10, u32::MAX);
    assert_eq!(cf8_read32(&mut bus, &mut vm, host, 0x10), 0);
}

#[test]
fn bar_sizing_returns_the_size_mask_with_the_kind_flags() {
    let (mut bus, mut vm, _) = pci_bus();
    let nic = bdf(0, 3, 0);
    assert_eq!(cf8_read32(&mut bus, &mut vm, nic, 0x10), BAR_IO_SPACE);
    assert_eq!(
        cf8_read32(&mut bus, &mut vm, nic, 0x18),
        BAR_MEMORY_64 | BAR_PREFETCHABLE
    );
    for register in [0x10, 0x14, 0x18, 0x1C, 0x20, 0x24] {
        cf8_write32(&mut bus, &mut vm, nic, register, u32::MAX);
    }
    // I/O, 32 ports: 16-bit address, size mask, bit 0 set.
    assert_eq!(cf8_read32(&mut bus, &mut vm, nic, 0x10), 0x0000_FFE1);
    // 32-bit memory, 4 KiB, not prefetchable.
    assert_eq!(cf8_read32(&mut bus, &mut vm, nic, 0x14), 0xFFFF_F000);
    // 64-bit prefetchable memory, 1 MiB: low dword with type and prefetch bits, high all ones.
    assert_eq!(cf8_read32(&mut bus, &mut vm, nic, 0x18), 0xFFF0_000C);
    assert_eq!(cf8_read32(&mut bus, &mut vm, nic, 0x1C), 0xFFFF_FFFF);
    // Unimplemented BARs read zero.
    assert_eq!(cf8_read32(&mut bus, &mut vm, nic, 0x20), 0);
    assert_eq!(cf8_read32(&mut bus, &mut vm, nic, 0x24), 0);
}

#[test]
fn bar_layouts_are_validated_at_construction() {
    assert_eq!(Bar::io(24), Err(BarError::BadSize(24)));
    assert_eq!(Bar::io(512), Err(BarError::BadSize(512)));
    assert_eq!(Bar::memory32(8, false), Err(BarError::BadSize(8)));
    assert_eq!(
        Bar::memory32(1 << 32, false),
        Err(BarError::BadSize(1 << 32))
    );
    let wide = Bar::memory64(1 << 40, false).unwrap();
    assert_eq!(wide.address_mask(), !((1u64 << 40) - 1));
    let small = Bar::io(4).unwrap();
    let host = bdf(0, 1, 0);
    assert_eq!(
        ConfigSpace::new(host, &TEST_HEADER, &[(5, wide)]).unwrap_err(),
        BarError::BadIndex(5)
    );
    assert_eq!(
        ConfigSpace::new(host, &TEST_HEADER, &[(6, small)]).unwrap_err(),
        BarError::BadIndex(6)
    );
    assert_eq!(
        ConfigSpace::new(host, &TEST_HEADER, &[(0, wide), (1, small)]).unwrap_err(),
        BarError::Taken(1)
    );
}

#[test]
fn command_register_enables_add_and_remove_bar_claims() {
    let (mut bus, mut vm, device) = pci_bus();
    let nic = bdf(0, 3, 0);
    cf8_write32(&mut bus, &mut vm, nic, 0x10, 0xC000);
    cf8_write32(&mut bus, &mut vm, nic, 0x14, 0xFEB0_0000);
    cf8_write32(&mut bus, &mut vm, nic, 0x18, 0x0000_0000);
    cf8_write32(&mut bus, &mut vm, nic, 0x1C, 0x0000_0008);
    let mut byte = [0];
    assert_eq!(bus.pio_read(&mut vm, 0xC004, &mut byte), Access::Unclaimed);
    // I/O space on: only the I/O BAR decodes.
    cf8_write32(&mut bus, &mut vm, nic, 0x04, u32::from(COMMAND_IO_SPACE));
    assert_eq!(
        bus.pio_read(&mut vm, 0xC004, &mut byte),
        Access::Device(device)
    );
    assert_eq!(byte, [0x50 ^ 4]);
    assert_eq!(
        bus.mmio_read(&mut vm, 0xFEB0_0010, &mut byte),
        Access::Unclaimed
    );
    // Memory space on too: both memory BARs decode, the 64-bit one above 4 GiB.
    cf8_write32(
        &mut bus,
        &mut vm,
        nic,
        0x04,
        u32::from(COMMAND_IO_SPACE | COMMAND_MEMORY_SPACE),
    );
    assert_eq!(
        bus.mmio_read(&mut vm, 0xFEB0_0010, &mut byte),
        Access::Device(device)
    );
    assert_eq!(byte, [0x50 ^ 1 ^ 0x10]);
    assert_eq!(
        bus.mmio_read(&mut vm, 0x8_0000_0020, &mut byte),
        Access::Device(device)
    );
    assert_eq!(byte, [0x50 ^ 2 ^ 0x20]);
    assert_eq!(
        bus.claims_of(device).unwrap(),
        [
            Region::Pci(nic),
            Region::Pio(PortRange::new(0xC000, 32).unwrap()),
            Region::Mmio(MmioRange::new(0xFEB0_0000, 0x1000).unwrap()),
            Region::Mmio(MmioRange::new(0x8_0000_0000, 0x10_0000).unwrap()),
        ]
    );
    // Both off: every BAR claim is gone, the function's own claim stays.
    cf8_write32(&mut bus, &mut vm, nic, 0x04, 0);
    assert_eq!(bus.pio_read(&mut vm, 0xC004, &mut byte), Access::Unclaimed);
    assert_eq!(
        bus.mmio_read(&mut vm, 0xFEB0_0010, &mut byte),
        Access::Unclaimed
    );
    assert_eq!(bus.claims_of(device).unwrap(), [Region::Pci(nic)]);
}

#[test]
fn moving_a_bar_while_enabled_moves_its_claim() {
    let (mut bus, mut vm, device) = pci_bus();
    let nic = bdf(0, 3, 0);
    cf8_write32(&mut bus, &mut vm, nic, 0x14, 0xFEB0_0000);
    cf8_write32(
        &mut bus,
        &mut vm,
        nic,
        0x04,
        u32::from(COMMAND_MEMORY_SPACE),
    );
    let mut byte = [0];
    assert_eq!(
        bus.mmio_read(&mut vm, 0xFEB0_0000, &mut byte),
        Access::Device(device)
    );
    // A word write to the BAR's upper half moves it to 0xFEC1_0000.
    bus.pio_write(
        &mut vm,
        CONFIG_ADDRESS_PORT,
        &config_address(nic, 0x14).to_le_bytes(),
    );
    bus.pio_write(&mut vm, CONFIG_DATA_PORT + 2, &0xFEC1u16.to_le_bytes());
    assert_eq!(
        bus.mmio_read(&mut vm, 0xFEB0_0000, &mut byte),
        Access::Unclaimed
    );
    assert_eq!(
        bus.mmio_read(&mut vm, 0xFEC1_0FFF, &mut byte),
        Access::Device(device)
    );
    assert_eq!(byte, [0x50 ^ 1 ^ 0xFF]);
}

#[test]
fn bar_overlapping_another_device_does_not_decode_and_is_counted() {
    let (mut bus, mut vm, device) = pci_bus();
    let second = bus
        .register(&mut vm, Box::new(BarDevice::new(bdf(0, 4, 0), 0x60)))
        .unwrap();
    bus.power_on(&mut vm, second).unwrap();
    let (a, b) = (bdf(0, 3, 0), bdf(0, 4, 0));
    for function in [a, b] {
        cf8_write32(&mut bus, &mut vm, function, 0x10, 0xD000);
        cf8_write32(
            &mut bus,
            &mut vm,
            function,
            0x04,
            u32::from(COMMAND_IO_SPACE),
        );
    }
    let mut byte = [0];
    assert_eq!(
        bus.pio_read(&mut vm, 0xD000, &mut byte),
        Access::Device(device)
    );
    // Moving the first away lets the second claim on its next relevant write.
    cf8_write32(&mut bus, &mut vm, a, 0x10, 0xD100);
    cf8_write32(&mut bus, &mut vm, b, 0x04, u32::from(COMMAND_IO_SPACE));
    assert_eq!(
        bus.pio_read(&mut vm, 0xD000, &mut byte),
        Access::Device(second)
    );
    assert_eq!(
        bus.pio_read(&mut vm, 0xD100, &mut byte),
        Access::Device(device)
    );
}

#[test]
fn interrupt_line_is_writable_pin_and_status_are_read_only() {
    let (mut bus, mut vm, _) = pci_bus();
    let nic = bdf(0, 3, 0);
    cf8_write32(&mut bus, &mut vm, nic, 0x3C, 0xFFFF_FF0A);
    assert_eq!(cf8_read32(&mut bus, &mut vm, nic, 0x3C), 0x0000_010A);
    cf8_write32(&mut bus, &mut vm, nic, 0x04, 0xFFFF_FFFF);
    // Command: only implemented bits; status: nothing set, error bits write-1-to-clear.
    let implemented = COMMAND_IO_SPACE
        | COMMAND_MEMORY_SPACE
        | COMMAND_BUS_MASTER
        | COMMAND_PARITY_ERROR_RESPONSE
        | COMMAND_SERR
        | COMMAND_INTERRUPT_DISABLE;
    assert_eq!(
        cf8_read32(&mut bus, &mut vm, nic, 0x04),
        u32::from(implemented)
    );
}

#[test]
fn power_on_resets_config_space_and_releases_bar_claims() {
    let (mut bus, mut vm, device) = pci_bus();
    let nic = bdf(0, 3, 0);
    cf8_write32(&mut bus, &mut vm, nic, 0x10, 0xC000);
    cf8_write32(&mut bus, &mut vm, nic, 0x04, u32::from(COMMAND_IO_SPACE));
    let mut host_bridge = HostBridge::new();
    let mut ctx = FakeContext::new();
    host_bridge.install(&mut ctx).unwrap();
    assert_eq!(ctx.claims(), [Region::Pci(bdf(0, 0, 0))]);
    // Reset through the device's own power cycle.
    bus.power_off(&mut vm, device).unwrap();
    bus.power_on(&mut vm, device).unwrap();
    let mut byte = [0];
    assert_eq!(
        bus.pio_read(&mut vm, 0xC000, &mut byte),
        Access::Device(device)
    );
    // BarDevice keeps its state over power cycles (no reset in its power_on), so use the
    // helper directly to check `reset`.
    let mut config = BarDevice::new(nic, 0).config;
    let mut ctx = FakeContext::new();
    config.write(&mut ctx, 0x10, &0xC000u32.to_le_bytes());
    config.write(&mut ctx, 0x04, &COMMAND_IO_SPACE.to_le_bytes());
    assert_eq!(
        ctx.claims(),
        [Region::Pio(PortRange::new(0xC000, 32).unwrap())]
    );
    config.reset(&mut ctx);
    assert_eq!(ctx.claims(), []);
    assert_eq!(config.bar_address(0), Some(0));
}

#[test]
fn random_guest_accesses_never_panic_and_claims_stay_bounded() {
    let (mut bus, mut vm, device) = pci_bus();
    let mut random = crate::test_random::XorShift64::new(0x9E37_79B9_7F4A_7C15);
    let mut next = || random.next_u64();
    for _ in 0..200_000 {
        let r = next();
        let len = [1, 2, 3, 4, 8, 0, 16][(r % 7) as usize];
        let mut data = [0u8; 16];
        data.iter_mut().for_each(|b| *b = next() as u8);
        let data = &mut data[..len];
        let port = CONFIG_ADDRESS_PORT.wrapping_add((r >> 8) as u16 % 12);
        let addr = ECAM_BASE + (next() % (2 << 20));
        match (r >> 40) % 6 {
            0 => {
                bus.pio_write(&mut vm, port, data);
            }
            1 => {
                bus.pio_read(&mut vm, port, data);
            }
            2 => {
                bus.mmio_write(&mut vm, addr, data);
            }
            3 => {
                bus.mmio_read(&mut vm, addr, data);
            }
            4 => {
                // Hit BAR registers and the command register of the BAR device directly.
                let register = [0x04, 0x10, 0x14, 0x18, 0x1C][(r >> 20) as usize % 5];
                cf8_write32(&mut bus, &mut vm, bdf(0, 3, 0), register, next() as u32);
            }
            _ => {
                bus.pio_read(&mut vm, next() as u16, data);
            }
        }
    }
    // The function's own claim plus at most one per BAR.
    assert!(bus.claims_of(device).unwrap().len() <= 4);
    assert!(bus.total_holdings().claims <= 5);
}
