//! A VM's RAM: one contiguous run of host frames, 2 MiB aligned, mapped by EPT at
//! guest-physical 0. Every guest-physical access the hypervisor makes on the guest's behalf
//! (DMA, loaders, hypercall buffers, page walks) goes through [`GuestMemory`], which refuses
//! anything outside `[0, size)`: a device or a guest can never name host memory or another VM.

use core::ops::Range;

use devices::interface::DmaError;
use x86_64::PhysAddr;
use x86_64::structures::paging::PhysFrame;

use crate::mm::frames::{FRAME_SIZE, FrameError};
use crate::mm::physical;
use crate::vmx::ept::PAGE_2M;

/// One VM's RAM.
#[derive(Debug)]
pub struct GuestMemory {
    host_base: u64,
    size: u64,
}

impl GuestMemory {
    /// Allocate `size` bytes (a multiple of 2 MiB) of zeroed RAM.
    pub fn allocate(size: u64) -> Result<Self, FrameError> {
        if size == 0 || !size.is_multiple_of(PAGE_2M) {
            return Err(FrameError::ZeroCount);
        }
        let run = physical::allocate_zeroed(size / FRAME_SIZE, PAGE_2M)?;
        Ok(GuestMemory {
            host_base: run.start.start_address().as_u64(),
            size,
        })
    }

    /// Bytes of RAM.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The host-physical address of guest-physical 0.
    pub fn host_base(&self) -> u64 {
        self.host_base
    }

    /// Whether `[gpa, gpa + len)` is RAM.
    pub fn contains(&self, gpa: u64, len: usize) -> bool {
        self.checked_range(gpa, len).is_some()
    }

    fn checked_range(&self, gpa: u64, len: usize) -> Option<Range<usize>> {
        let end = gpa.checked_add(len as u64)?;
        (end <= self.size).then_some(gpa as usize..end as usize)
    }

    /// Copy guest RAM at `gpa` into `buf`.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        let range = self
            .checked_range(gpa, buf.len())
            .ok_or(DmaError::OutOfRange {
                gpa,
                len: buf.len(),
            })?;
        let source = (physical::to_virtual(self.host_base) as *const u8).wrapping_add(range.start);
        // SAFETY: `range` lies inside this VM's RAM run, which stays allocated and mapped by
        // the window while `self` lives; the guest writes it only while its vCPU runs, never
        // during an exit, so the bytes are stable while copied.
        unsafe { core::ptr::copy_nonoverlapping(source, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copy `data` into guest RAM at `gpa`.
    pub fn write(&self, gpa: u64, data: &[u8]) -> Result<(), DmaError> {
        let range = self
            .checked_range(gpa, data.len())
            .ok_or(DmaError::OutOfRange {
                gpa,
                len: data.len(),
            })?;
        let target = (physical::to_virtual(self.host_base) as *mut u8).wrapping_add(range.start);
        // SAFETY: as in `read`; guest RAM is never borrowed as a Rust reference, only copied
        // through raw pointers, so a write through `&self` aliases nothing.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), target, data.len()) };
        Ok(())
    }

    /// Read a little-endian u64.
    pub fn read_u64(&self, gpa: u64) -> Result<u64, DmaError> {
        let mut bytes = [0; 8];
        self.read(gpa, &mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// Write a little-endian u64.
    pub fn write_u64(&self, gpa: u64, value: u64) -> Result<(), DmaError> {
        self.write(gpa, &value.to_le_bytes())
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        let first = PhysFrame::containing_address(PhysAddr::new(self.host_base));
        let frames = PhysFrame::range(first, first + self.size / FRAME_SIZE);
        let _ = physical::with_frames(|allocator| allocator.free_contiguous(frames));
    }
}
