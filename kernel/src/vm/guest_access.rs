//! Guest memory as the guest's instructions see it: segment bases from the VMCS, linear
//! addresses through the guest's page tables, and guest-physical addresses that are either
//! RAM or device memory on the bus.

use devices::bus::Bus;
use devices::insn::Segment;

use super::guest_paging::{self, PagingMode, WalkError};
use super::platform::Platform;
use super::vcpu::read;
use crate::vmx::fields::VmcsField as F;

const PAGE: u64 = 4096;

/// Why guest memory could not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessError {
    /// The guest's page tables do not map the linear address.
    Walk(WalkError),
    /// The guest-physical address is neither RAM nor a device.
    NotMemory { gpa: u64 },
}

/// The base of a segment register, from the VMCS.
pub fn segment_base(segment: Segment) -> u64 {
    read(match segment {
        Segment::Es => F::GuestEsBase,
        Segment::Cs => F::GuestCsBase,
        Segment::Ss => F::GuestSsBase,
        Segment::Ds => F::GuestDsBase,
        Segment::Fs => F::GuestFsBase,
        Segment::Gs => F::GuestGsBase,
    })
}

/// The segment register numbered as VM-exit instruction information encodes it (0 = ES … 5 = GS).
pub fn segment_from_number(number: u64) -> Option<Segment> {
    Some(match number {
        0 => Segment::Es,
        1 => Segment::Cs,
        2 => Segment::Ss,
        3 => Segment::Ds,
        4 => Segment::Fs,
        5 => Segment::Gs,
        _ => return None,
    })
}

/// Translate a guest-linear address with the guest's current paging mode.
pub fn linear_to_physical(platform: &Platform, linear: u64) -> Result<u64, AccessError> {
    let mode =
        PagingMode::from_registers(read(F::GuestCr0), read(F::GuestCr4), read(F::GuestIa32Efer));
    guest_paging::translate(mode, read(F::GuestCr3), read(F::GuestCr4), linear, |gpa| {
        platform.memory.read_u64(gpa).ok()
    })
    .map_err(AccessError::Walk)
}

/// Copy guest memory at `linear` into `buf`, page by page; device memory goes through the bus.
pub fn read_linear(
    bus: &mut Bus,
    platform: &mut Platform,
    linear: u64,
    buf: &mut [u8],
) -> Result<(), AccessError> {
    let mut done = 0;
    while done < buf.len() {
        let address = linear.wrapping_add(done as u64);
        let chunk = ((PAGE - address % PAGE) as usize).min(buf.len() - done);
        let gpa = linear_to_physical(platform, address)?;
        let part = &mut buf[done..done + chunk];
        if platform.memory.read(gpa, part).is_err() {
            read_device(bus, platform, gpa, part)?;
        }
        done += chunk;
    }
    Ok(())
}

/// Copy `data` into guest memory at `linear`, page by page; device memory goes through the bus.
pub fn write_linear(
    bus: &mut Bus,
    platform: &mut Platform,
    linear: u64,
    data: &[u8],
) -> Result<(), AccessError> {
    let mut done = 0;
    while done < data.len() {
        let address = linear.wrapping_add(done as u64);
        let chunk = ((PAGE - address % PAGE) as usize).min(data.len() - done);
        let gpa = linear_to_physical(platform, address)?;
        let part = &data[done..done + chunk];
        if platform.memory.write(gpa, part).is_err() {
            write_device(bus, platform, gpa, part)?;
        }
        done += chunk;
    }
    Ok(())
}

/// Whether a device (or the ECAM window) claims `gpa`.
pub fn is_device_memory(bus: &Bus, gpa: u64) -> bool {
    bus.claims_mmio(gpa)
}

fn read_device(
    bus: &mut Bus,
    platform: &mut Platform,
    gpa: u64,
    buf: &mut [u8],
) -> Result<(), AccessError> {
    if !is_device_memory(bus, gpa) {
        return Err(AccessError::NotMemory { gpa });
    }
    for (index, chunk) in buf.chunks_mut(8).enumerate() {
        bus.mmio_read(platform, gpa + index as u64 * 8, chunk);
    }
    Ok(())
}

fn write_device(
    bus: &mut Bus,
    platform: &mut Platform,
    gpa: u64,
    data: &[u8],
) -> Result<(), AccessError> {
    if !is_device_memory(bus, gpa) {
        return Err(AccessError::NotMemory { gpa });
    }
    for (index, chunk) in data.chunks(8).enumerate() {
        bus.mmio_write(platform, gpa + index as u64 * 8, chunk);
    }
    Ok(())
}
