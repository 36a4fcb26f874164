//! The MMIO test device: 4 KiB of byte-addressable scratch registers that behave like RAM, at
//! guest-physical 0xFEB0_0000 by default (platform contract, "Devices every VM has": "reads
//! return what was written, initially 0, for any access width").
//!
//! It exists to test the hypervisor's MMIO path end to end: a test guest runs every decoded
//! instruction form once against a RAM buffer and once against this device and compares the
//! results, so any difference is an emulation bug, not a device quirk. It is no hardware's
//! datasheet; its only rule is "be RAM".
//!
//! # Behaviour
//! - **Install** claims its [`MmioRange`] ([`SIZE`] bytes from the base) through the context;
//!   **remove** releases it.
//! - **Power-on** is the reset state: every byte 0, both access counters 0.
//! - **Reads** copy the addressed bytes (little-endian by construction: byte `addr + i` is
//!   `data[i]`); **writes** store them. Any width the bus passes (1, 2, 4, 8 bytes) and any
//!   alignment inside the window work alike. Each access counts once in [`TestDevice::reads`]
//!   or [`TestDevice::writes`] (saturating).
//! - An access that crosses the end of the window is split byte-wise by the bus (its bytes past
//!   the end are unclaimed). Called directly with bytes outside its window, the device reads
//!   them as all-ones and drops their writes, like the bus would.
//!
//! # Threat note
//! The guest controls the address, width and data of every access. The address is turned into
//! an offset with `checked_sub` against the base and every byte index is bounds-checked
//! against the fixed [`SIZE`]-byte array, so no access can reach outside it; the state is
//! fixed-size (no allocation after construction) and the counters saturate.

use alloc::boxed::Box;

use crate::interface::{Device, DeviceContext, DeviceError, Gpa, MmioRange, RangeError, Region};

/// Where the platform contract puts the device.
pub const DEFAULT_BASE: Gpa = 0xFEB0_0000;
/// Bytes of scratch registers (one 4 KiB page).
pub const SIZE: usize = 4096;
/// What a byte outside the window reads as when the device is called with it directly.
const OPEN_BUS: u8 = 0xFF;

/// The MMIO test device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDevice {
    range: MmioRange,
    bytes: Box<[u8; SIZE]>,
    reads: u64,
    writes: u64,
}

impl TestDevice {
    /// The device at `base`; refuses a window that would run past the top of the address space.
    pub fn new(base: Gpa) -> Result<Self, RangeError> {
        Ok(TestDevice {
            range: MmioRange::new(base, SIZE as u64)?,
            bytes: Box::new([0; SIZE]),
            reads: 0,
            writes: 0,
        })
    }

    /// The device at [`DEFAULT_BASE`].
    pub fn at_default_base() -> Self {
        match Self::new(DEFAULT_BASE) {
            Ok(device) => device,
            Err(_) => unreachable!("0xFEB0_0000 + 4 KiB fits the address space"),
        }
    }

    /// The window it claims.
    pub const fn range(&self) -> MmioRange {
        self.range
    }

    /// The scratch registers' contents.
    pub fn bytes(&self) -> &[u8; SIZE] {
        &self.bytes
    }

    /// Read accesses since power-on (saturating).
    pub const fn reads(&self) -> u64 {
        self.reads
    }

    /// Write accesses since power-on (saturating).
    pub const fn writes(&self) -> u64 {
        self.writes
    }

    /// The window offset of `addr + index`, if that byte lies inside the window.
    fn offset(&self, addr: Gpa, index: usize) -> Option<usize> {
        let byte = addr.checked_add(u64::try_from(index).ok()?)?;
        let offset = usize::try_from(byte.checked_sub(self.range.first())?).ok()?;
        (offset < SIZE).then_some(offset)
    }
}

impl Default for TestDevice {
    fn default() -> Self {
        Self::at_default_base()
    }
}

impl Device for TestDevice {
    fn name(&self) -> &str {
        "mmio-test"
    }

    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        ctx.claim(Region::Mmio(self.range))?;
        Ok(())
    }

    fn power_on(&mut self, _ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.bytes.fill(0);
        self.reads = 0;
        self.writes = 0;
        Ok(())
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        ctx.release(Region::Mmio(self.range))?;
        Ok(())
    }

    fn mmio_read(&mut self, _ctx: &mut dyn DeviceContext, addr: Gpa, data: &mut [u8]) {
        self.reads = self.reads.saturating_add(1);
        for (index, byte) in data.iter_mut().enumerate() {
            *byte = match self.offset(addr, index) {
                Some(offset) => self.bytes[offset],
                None => OPEN_BUS,
            };
        }
    }

    fn mmio_write(&mut self, _ctx: &mut dyn DeviceContext, addr: Gpa, data: &[u8]) {
        self.writes = self.writes.saturating_add(1);
        for (index, byte) in data.iter().enumerate() {
            if let Some(offset) = self.offset(addr, index) {
                self.bytes[offset] = *byte;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;

    use super::*;
    use crate::bus::{Access, Bus};
    use crate::interface::ClaimError;
    use crate::testing::FakeContext;

    const LAST_QWORD: Gpa = DEFAULT_BASE + SIZE as u64 - 8;

    fn powered() -> (TestDevice, FakeContext) {
        let mut ctx = FakeContext::new();
        let mut device = TestDevice::default();
        device.install(&mut ctx).unwrap();
        device.power_on(&mut ctx).unwrap();
        (device, ctx)
    }

    fn read<const N: usize>(device: &mut TestDevice, ctx: &mut FakeContext, addr: Gpa) -> [u8; N] {
        let mut data = [0u8; N];
        device.mmio_read(ctx, addr, &mut data);
        data
    }

    #[test]
    fn install_claims_4k_at_0xfeb00000_and_remove_releases_it() {
        let (mut device, mut ctx) = powered();
        let range = MmioRange::new(0xFEB0_0000, 0x1000).unwrap();
        assert_eq!(ctx.claims(), [Region::Mmio(range)]);
        assert_eq!(device.range(), range);
        device.remove(&mut ctx).unwrap();
        assert!(ctx.claims().is_empty());
    }

    #[test]
    fn install_fails_when_the_window_is_taken() {
        let mut ctx = FakeContext::new();
        TestDevice::default().install(&mut ctx).unwrap();
        let overlapping = TestDevice::new(DEFAULT_BASE + 0x800)
            .unwrap()
            .install(&mut ctx);
        assert!(matches!(
            overlapping,
            Err(DeviceError::Claim(ClaimError::Overlap(_)))
        ));
    }

    #[test]
    fn window_past_the_address_space_is_refused() {
        assert_eq!(TestDevice::new(u64::MAX - 0xFFE), Err(RangeError::Overflow));
        assert!(TestDevice::new(u64::MAX - 0xFFF).is_ok());
    }

    #[test]
    fn registers_read_zero_after_power_on() {
        let (mut device, mut ctx) = powered();
        assert_eq!(read::<8>(&mut device, &mut ctx, DEFAULT_BASE), [0; 8]);
        assert_eq!(read::<8>(&mut device, &mut ctx, LAST_QWORD), [0; 8]);
        assert!(device.bytes().iter().all(|&b| b == 0));
    }

    #[test]
    fn every_width_reads_back_what_was_written_little_endian() {
        let (mut device, mut ctx) = powered();
        device.mmio_write(&mut ctx, DEFAULT_BASE + 0x10, &[0xA5]);
        device.mmio_write(&mut ctx, DEFAULT_BASE + 0x12, &0xBEEFu16.to_le_bytes());
        device.mmio_write(&mut ctx, DEFAULT_BASE + 0x14, &0xDEAD_BEEFu32.to_le_bytes());
        device.mmio_write(
            &mut ctx,
            DEFAULT_BASE + 0x18,
            &0x0123_4567_89AB_CDEFu64.to_le_bytes(),
        );
        assert_eq!(
            read::<1>(&mut device, &mut ctx, DEFAULT_BASE + 0x10),
            [0xA5]
        );
        assert_eq!(
            read::<2>(&mut device, &mut ctx, DEFAULT_BASE + 0x12),
            0xBEEFu16.to_le_bytes()
        );
        assert_eq!(
            read::<4>(&mut device, &mut ctx, DEFAULT_BASE + 0x14),
            0xDEAD_BEEFu32.to_le_bytes()
        );
        assert_eq!(
            u64::from_le_bytes(read::<8>(&mut device, &mut ctx, DEFAULT_BASE + 0x18)),
            0x0123_4567_89AB_CDEF
        );
        // A wide read sees the narrow writes as RAM would.
        assert_eq!(
            u64::from_le_bytes(read::<8>(&mut device, &mut ctx, DEFAULT_BASE + 0x10)),
            0xDEAD_BEEF_BEEF_00A5
        );
    }

    #[test]
    fn unaligned_accesses_behave_like_ram() {
        let (mut device, mut ctx) = powered();
        device.mmio_write(
            &mut ctx,
            DEFAULT_BASE + 0x103,
            &0x1122_3344_5566_7788u64.to_le_bytes(),
        );
        assert_eq!(
            read::<2>(&mut device, &mut ctx, DEFAULT_BASE + 0x105),
            [0x66, 0x55]
        );
        assert_eq!(
            read::<4>(&mut device, &mut ctx, DEFAULT_BASE + 0x107),
            [0x44, 0x33, 0x22, 0x11]
        );
        assert_eq!(
            &device.bytes()[0x103..0x10B],
            &0x1122_3344_5566_7788u64.to_le_bytes()
        );
    }

    #[test]
    fn last_qword_of_the_window_is_usable() {
        let (mut device, mut ctx) = powered();
        device.mmio_write(&mut ctx, LAST_QWORD, &u64::MAX.to_le_bytes());
        assert_eq!(read::<8>(&mut device, &mut ctx, LAST_QWORD), [0xFF; 8]);
        assert_eq!(device.bytes()[SIZE - 1], 0xFF);
    }

    #[test]
    fn bytes_outside_the_window_read_all_ones_and_drop_writes() {
        let (mut device, mut ctx) = powered();
        let straddling = DEFAULT_BASE + SIZE as u64 - 4;
        device.mmio_write(&mut ctx, straddling, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            read::<8>(&mut device, &mut ctx, straddling),
            [1, 2, 3, 4, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            read::<4>(&mut device, &mut ctx, DEFAULT_BASE - 2),
            [0xFF, 0xFF, 0, 0]
        );
        assert_eq!(read::<1>(&mut device, &mut ctx, u64::MAX), [0xFF]);
        assert_eq!(read::<8>(&mut device, &mut ctx, 0), [0xFF; 8]);
    }

    #[test]
    fn reads_and_writes_are_counted_per_access() {
        let (mut device, mut ctx) = powered();
        device.mmio_write(&mut ctx, DEFAULT_BASE, &[0; 8]);
        device.mmio_write(&mut ctx, DEFAULT_BASE + 8, &[0]);
        read::<4>(&mut device, &mut ctx, DEFAULT_BASE);
        assert_eq!((device.reads(), device.writes()), (1, 2));
    }

    #[test]
    fn power_on_resets_contents_and_counters() {
        let (mut device, mut ctx) = powered();
        device.mmio_write(&mut ctx, DEFAULT_BASE + 0x40, &[0x5A; 8]);
        read::<8>(&mut device, &mut ctx, DEFAULT_BASE + 0x40);
        device.power_off(&mut ctx).unwrap();
        device.power_on(&mut ctx).unwrap();
        assert_eq!((device.reads(), device.writes()), (0, 0));
        assert_eq!(
            read::<8>(&mut device, &mut ctx, DEFAULT_BASE + 0x40),
            [0; 8]
        );
    }

    #[test]
    fn on_the_bus_accesses_route_to_it_and_the_end_is_split() {
        let mut vm = FakeContext::new();
        let mut bus = Bus::default();
        let id = bus
            .register(&mut vm, Box::new(TestDevice::default()))
            .unwrap();
        bus.power_on(&mut vm, id).unwrap();
        let value = 0x0102_0304_0506_0708u64.to_le_bytes();
        assert_eq!(
            bus.mmio_write(&mut vm, DEFAULT_BASE + 0x20, &value),
            Access::Device(id)
        );
        let mut data = [0u8; 8];
        assert_eq!(
            bus.mmio_read(&mut vm, DEFAULT_BASE + 0x20, &mut data),
            Access::Device(id)
        );
        assert_eq!(data, value);
        // Crossing the end: the four bytes inside reach the device, the rest are unclaimed.
        let straddling = DEFAULT_BASE + SIZE as u64 - 4;
        assert_eq!(bus.mmio_write(&mut vm, straddling, &[9; 8]), Access::Split);
        assert_eq!(bus.mmio_read(&mut vm, straddling, &mut data), Access::Split);
        assert_eq!(data, [9, 9, 9, 9, 0xFF, 0xFF, 0xFF, 0xFF]);
        let mut after = [0u8; 1];
        assert_eq!(
            bus.mmio_read(&mut vm, DEFAULT_BASE + SIZE as u64, &mut after),
            Access::Unclaimed
        );
    }

    #[test]
    fn removal_from_the_bus_leaves_nothing_held() {
        let mut vm = FakeContext::new();
        let mut bus = Bus::default();
        let id = bus
            .register(&mut vm, Box::new(TestDevice::default()))
            .unwrap();
        assert_eq!(bus.holdings(id).unwrap().claims, 1);
        let removed = bus.remove(&mut vm, id).unwrap();
        assert!(removed.leaked.is_empty());
        assert!(removed.device_error.is_none());
        assert!(bus.total_holdings().is_empty());
    }
}
