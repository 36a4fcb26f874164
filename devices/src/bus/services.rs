//! The VMM side of the device interface: the VM-wide services the kernel implements once per VM.
//!
//! The bus wraps a `&mut dyn VmServices` into a per-device [`DeviceContext`] for every call it
//! makes into a device (see `bus::context`), adding what the VM as a whole does not know: which
//! device holds which allocation, timer, critical section and claim, so that removing a device
//! releases all of it (operation 14). Timers are the bus's own (it knows the owners); the VMM
//! supplies only the clock and calls [`crate::bus::Bus::run_timers`] on each host tick.
//!
//! [`DeviceContext`]: crate::interface::DeviceContext

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::interface::{
    AllocError, CriticalSectionError, CriticalSectionId, DmaError, Gpa, IrqError, IrqLine,
    MsiMessage, Nanos, VmConfig, VmRequest,
};

/// What one VM offers all its devices. Implemented by the kernel's VM; by
/// [`crate::testing::FakeContext`] in tests.
pub trait VmServices {
    /// Operation 5: copy guest RAM at `gpa` into `buf`.
    fn dma_read(&mut self, gpa: Gpa, buf: &mut [u8]) -> Result<(), DmaError>;
    /// Operation 6: copy `data` into guest RAM at `gpa`.
    fn dma_write(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), DmaError>;
    /// Operation 7: drive an interrupt line of the VM's interrupt controllers.
    fn set_irq(&mut self, line: IrqLine, level: bool) -> Result<(), IrqError>;
    /// Operation 7: deliver a message-signalled interrupt.
    fn signal_msi(&mut self, msg: MsiMessage) -> Result<(), IrqError>;
    /// Guest-visible time, nanoseconds since the VM was created.
    fn now(&self) -> Nanos;
    /// Operation 15: the VM configuration.
    fn vm_config(&self) -> &VmConfig;

    /// Operation 16: `size` zeroed bytes from the VMM heap, or `OutOfMemory`. The default asks
    /// the global allocator fallibly (the kernel's global allocator is its slab heap).
    fn alloc_zeroed(&mut self, size: usize) -> Result<Box<[u8]>, AllocError> {
        let mut bytes: Vec<u8> = Vec::new();
        bytes
            .try_reserve_exact(size)
            .map_err(|_| AllocError::OutOfMemory { requested: size })?;
        bytes.resize(size, 0);
        Ok(bytes.into_boxed_slice())
    }
    /// Operation 17: give bytes from [`VmServices::alloc_zeroed`] back. The default drops them.
    fn free_bytes(&mut self, bytes: Box<[u8]>) {
        drop(bytes);
    }

    /// Operation 18: create a critical section (a lock shared across VMs).
    fn create_critical_section(&mut self) -> Result<CriticalSectionId, CriticalSectionError>;
    /// Operation 19: enter it, spinning until it is free.
    fn enter_critical_section(&mut self, id: CriticalSectionId)
    -> Result<(), CriticalSectionError>;
    /// Operation 20: leave it.
    fn exit_critical_section(&mut self, id: CriticalSectionId) -> Result<(), CriticalSectionError>;
    /// Operation 21: destroy it (the bus only calls this for a section not entered).
    fn remove_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError>;

    /// Stop or reset the VM once the current access completes.
    fn request(&mut self, request: VmRequest);
}
