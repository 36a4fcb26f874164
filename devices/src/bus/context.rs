//! The per-device [`DeviceContext`] the bus hands a device on every call: it forwards to the
//! VM's [`VmServices`] and books everything the device obtains against that device's
//! [`Ledger`], enforcing the per-device [`Limits`].

use crate::bus::accounting::{Ledger, Limits};
use crate::bus::claims::{ClaimMaps, Owner};
use crate::bus::irq_lines::IrqLines;
use crate::bus::services::VmServices;
use crate::bus::timers::TimerTable;
use crate::interface::{
    AllocError, ClaimError, CriticalSectionError, CriticalSectionId, DeviceContext, DeviceMemory,
    DmaError, Gpa, IrqError, IrqLine, MsiMessage, Nanos, Region, TimerError, TimerId, VmConfig,
    VmRequest,
};

/// The borrowed pieces of the bus that one device call may touch.
pub(crate) struct BusContext<'a> {
    pub(crate) services: &'a mut dyn VmServices,
    pub(crate) slot: u32,
    pub(crate) ledger: &'a mut Ledger,
    pub(crate) claims: &'a mut ClaimMaps,
    pub(crate) timers: &'a mut TimerTable,
    pub(crate) irq_lines: &'a mut IrqLines,
    pub(crate) limits: &'a Limits,
    pub(crate) next_allocation: &'a mut u64,
}

impl BusContext<'_> {
    fn owner(&self) -> Owner {
        Owner::Device(self.slot)
    }
}

impl DeviceContext for BusContext<'_> {
    fn dma_read(&mut self, gpa: Gpa, buf: &mut [u8]) -> Result<(), DmaError> {
        self.services.dma_read(gpa, buf)
    }

    fn dma_write(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), DmaError> {
        self.services.dma_write(gpa, data)
    }

    /// The line is the wired OR of every device driving it ([`IrqLines`]).
    fn set_irq(&mut self, line: IrqLine, level: bool) -> Result<(), IrqError> {
        let combined = self.irq_lines.drive(self.slot, line, level);
        let result = self.services.set_irq(line, combined);
        if result.is_err() {
            // A line the VM does not have: nothing is driven.
            self.irq_lines.drive(self.slot, line, false);
        }
        result
    }

    fn signal_msi(&mut self, msg: MsiMessage) -> Result<(), IrqError> {
        self.services.signal_msi(msg)
    }

    fn connect_timer(&mut self, period: Nanos) -> Result<TimerId, TimerError> {
        if period == 0 || period < self.limits.min_timer_period {
            return Err(TimerError::BadPeriod(period));
        }
        if self.ledger.timers >= self.limits.timers_per_device {
            return Err(TimerError::TooMany);
        }
        let id = self.timers.connect(self.slot, period, self.services.now());
        self.ledger.timers += 1;
        Ok(id)
    }

    fn disconnect_timer(&mut self, id: TimerId) -> Result<(), TimerError> {
        if !self.timers.disconnect(self.slot, id) {
            return Err(TimerError::Unknown(id));
        }
        self.ledger.timers = self.ledger.timers.saturating_sub(1);
        Ok(())
    }

    fn now(&self) -> Nanos {
        self.services.now()
    }

    fn vm_config(&self) -> &VmConfig {
        self.services.vm_config()
    }

    fn alloc(&mut self, size: usize) -> Result<DeviceMemory, AllocError> {
        let out_of_memory = AllocError::OutOfMemory { requested: size };
        let total = self.ledger.bytes.checked_add(size).ok_or(out_of_memory)?;
        if total > self.limits.alloc_bytes_per_device
            || self.ledger.allocations.len() >= self.limits.allocations_per_device
        {
            return Err(out_of_memory);
        }
        let bytes = self.services.alloc_zeroed(size)?;
        let id = *self.next_allocation;
        *self.next_allocation = id.wrapping_add(1);
        self.ledger.allocations.insert(id, size);
        self.ledger.bytes = total;
        Ok(DeviceMemory { id, bytes })
    }

    fn free(&mut self, memory: DeviceMemory) -> Result<(), AllocError> {
        match self.ledger.allocations.get(&memory.id) {
            Some(&size) if size == memory.bytes.len() => {
                self.ledger.allocations.remove(&memory.id);
                self.ledger.bytes = self.ledger.bytes.saturating_sub(size);
                self.services.free_bytes(memory.bytes);
                Ok(())
            }
            _ => Err(AllocError::Foreign),
        }
    }

    fn create_critical_section(&mut self) -> Result<CriticalSectionId, CriticalSectionError> {
        if self.ledger.sections.len() >= self.limits.critical_sections_per_device {
            return Err(CriticalSectionError::TooMany);
        }
        let id = self.services.create_critical_section()?;
        self.ledger.sections.insert(id, false);
        Ok(id)
    }

    fn enter_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError> {
        match self.ledger.sections.get(&id) {
            None => Err(CriticalSectionError::Unknown(id)),
            Some(true) => Err(CriticalSectionError::AlreadyEntered(id)),
            Some(false) => {
                self.services.enter_critical_section(id)?;
                self.ledger.sections.insert(id, true);
                Ok(())
            }
        }
    }

    fn exit_critical_section(&mut self, id: CriticalSectionId) -> Result<(), CriticalSectionError> {
        match self.ledger.sections.get(&id) {
            None => Err(CriticalSectionError::Unknown(id)),
            Some(false) => Err(CriticalSectionError::NotEntered(id)),
            Some(true) => {
                self.services.exit_critical_section(id)?;
                self.ledger.sections.insert(id, false);
                Ok(())
            }
        }
    }

    /// Removing a section the device is inside is refused with `NotEntered` (the interface's
    /// error for a section whose state does not allow the operation).
    fn remove_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError> {
        match self.ledger.sections.get(&id) {
            None => Err(CriticalSectionError::Unknown(id)),
            Some(true) => Err(CriticalSectionError::NotEntered(id)),
            Some(false) => {
                self.services.remove_critical_section(id)?;
                self.ledger.sections.remove(&id);
                Ok(())
            }
        }
    }

    fn request(&mut self, request: VmRequest) {
        self.services.request(request);
    }

    fn claim(&mut self, region: Region) -> Result<(), ClaimError> {
        if self.ledger.claims.len() >= self.limits.claims_per_device {
            return Err(ClaimError::TooMany);
        }
        self.claims.insert(region, self.owner())?;
        self.ledger.claims.push(region);
        Ok(())
    }

    fn release(&mut self, region: Region) -> Result<(), ClaimError> {
        let index = self
            .ledger
            .claims
            .iter()
            .position(|c| *c == region)
            .ok_or(ClaimError::NotClaimed(region))?;
        self.claims.remove(region, self.owner())?;
        self.ledger.claims.swap_remove(index);
        Ok(())
    }
}
