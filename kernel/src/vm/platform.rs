//! The VM-wide services the device bus hands its devices (the VMM side of the paper's
//! interface): DMA into this VM's RAM only, interrupt lines, the guest clock, the VM
//! configuration, heap memory, critical sections, and stop/reset requests.

use alloc::vec::Vec;

use devices::bus::VmServices;
use devices::interface::{
    CriticalSectionError, CriticalSectionId, DmaError, Gpa, IrqError, IrqLine, MsiMessage, Nanos,
    VmConfig, VmRequest,
};

use super::critical_sections;
use super::interrupts::Controllers;
use super::memory::GuestMemory;
use crate::arch::x86_64::tsc;

/// Interrupt lines a VM has (ISA 0–15, then I/O APIC pins up to 23).
pub const IRQ_LINES: u8 = 24;

/// One VM's services.
pub struct Platform {
    pub memory: GuestMemory,
    config: VmConfig,
    created_tsc: u64,
    /// Current level of each interrupt line.
    irq_levels: u32,
    /// Low→high transitions per line not yet taken by an interrupt controller.
    irq_edges: u32,
    /// The first stop/reset request since the last exit was handled.
    request: Option<VmRequest>,
    /// Critical sections this VM's devices created.
    sections: Vec<CriticalSectionId>,
    /// The interrupt controllers lines are routed to (set once the devices are installed).
    pub controllers: Option<Controllers>,
}

impl Platform {
    /// Services for a VM with `memory` and `config`.
    pub fn new(memory: GuestMemory, config: VmConfig) -> Self {
        Platform {
            memory,
            config,
            created_tsc: tsc::now(),
            irq_levels: 0,
            irq_edges: 0,
            request: None,
            sections: Vec::new(),
            controllers: None,
        }
    }

    /// Take the pending stop/reset request, if any.
    pub fn take_request(&mut self) -> Option<VmRequest> {
        self.request.take()
    }

    /// Lines asserted now (bit n = line n).
    pub fn irq_levels(&self) -> u32 {
        self.irq_levels
    }

    /// Take the rising edges seen since the last call (bit n = line n).
    pub fn take_irq_edges(&mut self) -> u32 {
        core::mem::take(&mut self.irq_edges)
    }

    /// The VM's configuration.
    pub fn config(&self) -> &VmConfig {
        &self.config
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        for id in self.sections.drain(..) {
            let _ = critical_sections::remove(id);
        }
    }
}

impl VmServices for Platform {
    fn dma_read(&mut self, gpa: Gpa, buf: &mut [u8]) -> Result<(), DmaError> {
        self.memory.read(gpa, buf)
    }

    fn dma_write(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), DmaError> {
        self.memory.write(gpa, data)
    }

    fn set_irq(&mut self, line: IrqLine, level: bool) -> Result<(), IrqError> {
        if line.0 >= IRQ_LINES {
            return Err(IrqError::NoSuchLine(line));
        }
        let bit = 1u32 << line.0;
        if level && self.irq_levels & bit == 0 {
            self.irq_edges |= bit;
        }
        if level {
            self.irq_levels |= bit;
        } else {
            self.irq_levels &= !bit;
        }
        if let Some(controllers) = &self.controllers {
            controllers.set_line(line.0, level);
        }
        Ok(())
    }

    fn signal_msi(&mut self, msg: MsiMessage) -> Result<(), IrqError> {
        let accepted = self
            .controllers
            .as_ref()
            .is_some_and(|controllers| controllers.deliver_msi(msg));
        if accepted {
            Ok(())
        } else {
            Err(IrqError::BadMsi(msg))
        }
    }

    fn now(&self) -> Nanos {
        tsc::ticks_to_nanos(tsc::now().wrapping_sub(self.created_tsc))
    }

    fn vm_config(&self) -> &VmConfig {
        &self.config
    }

    fn create_critical_section(&mut self) -> Result<CriticalSectionId, CriticalSectionError> {
        let id = critical_sections::create()?;
        self.sections.push(id);
        Ok(id)
    }

    fn enter_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError> {
        critical_sections::enter(id)
    }

    fn exit_critical_section(&mut self, id: CriticalSectionId) -> Result<(), CriticalSectionError> {
        critical_sections::exit(id)
    }

    fn remove_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError> {
        critical_sections::remove(id)?;
        self.sections.retain(|&held| held != id);
        Ok(())
    }

    fn request(&mut self, request: VmRequest) {
        self.request.get_or_insert(request);
    }
}
