//! Firmware ACPI tables through the `acpi` crate: the MADT (local APIC IDs, I/O APICs,
//! interrupt source overrides) and the HPET, summarised for the log and the self-tests.

use alloc::vec::Vec;
use core::ptr::NonNull;

use ::acpi::{AcpiHandler, AcpiTables, HpetInfo, InterruptModel, PhysicalMapping};

use crate::mm::physical;

/// Maps ACPI tables through the bootloader's physical-memory window.
#[derive(Debug, Clone, Copy)]
struct WindowHandler;

impl AcpiHandler for WindowHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let virtual_address = physical::to_virtual(physical_address as u64);
        let pointer =
            NonNull::new(virtual_address as *mut T).expect("physical window is never at 0");
        // SAFETY: the bootloader maps all physical memory at the window, so `size` bytes from
        // `pointer` are mapped; the caller vouches that a `T` lives there.
        unsafe { PhysicalMapping::new(physical_address, pointer, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// One I/O APIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoApicInfo {
    pub id: u8,
    pub address: u32,
    pub gsi_base: u32,
}

/// One ISA interrupt source override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceOverride {
    pub isa_irq: u8,
    pub gsi: u32,
}

/// What the firmware told us about the platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformSummary {
    pub local_apic_ids: Vec<u32>,
    pub local_apic_address: u64,
    pub io_apics: Vec<IoApicInfo>,
    pub overrides: Vec<SourceOverride>,
    pub hpet_address: Option<u64>,
}

/// Why the tables could not be read.
#[derive(Debug)]
pub enum AcpiReadError {
    /// The bootloader found no RSDP.
    NoRsdp,
    /// The `acpi` crate refused the tables.
    Tables(::acpi::AcpiError),
}

/// Read the MADT and HPET tables from the RSDP at physical `rsdp`.
pub fn read(rsdp: Option<u64>) -> Result<PlatformSummary, AcpiReadError> {
    let rsdp = rsdp.ok_or(AcpiReadError::NoRsdp)?;
    // SAFETY: the address comes from the bootloader, which found a valid RSDP there; the
    // handler maps through the physical-memory window.
    let tables = unsafe { AcpiTables::from_rsdp(WindowHandler, rsdp as usize) }
        .map_err(AcpiReadError::Tables)?;
    let platform = tables.platform_info().map_err(AcpiReadError::Tables)?;
    let mut summary = PlatformSummary::default();
    if let Some(processors) = &platform.processor_info {
        summary
            .local_apic_ids
            .push(processors.boot_processor.local_apic_id);
        summary.local_apic_ids.extend(
            processors
                .application_processors
                .iter()
                .map(|p| p.local_apic_id),
        );
    }
    if let InterruptModel::Apic(apic) = &platform.interrupt_model {
        summary.local_apic_address = apic.local_apic_address;
        summary.io_apics = apic
            .io_apics
            .iter()
            .map(|io| IoApicInfo {
                id: io.id,
                address: io.address,
                gsi_base: io.global_system_interrupt_base,
            })
            .collect();
        summary.overrides = apic
            .interrupt_source_overrides
            .iter()
            .map(|o| SourceOverride {
                isa_irq: o.isa_source,
                gsi: o.global_system_interrupt,
            })
            .collect();
    }
    summary.hpet_address = HpetInfo::new(&tables)
        .ok()
        .map(|hpet| hpet.base_address as u64);
    Ok(summary)
}

/// Log the summary, one line per item.
pub fn log_summary(summary: &PlatformSummary) {
    log::info!(
        "ACPI MADT: {} CPU(s), local APIC IDs {:?}, local APIC at {:#x}",
        summary.local_apic_ids.len(),
        summary.local_apic_ids,
        summary.local_apic_address
    );
    for io in &summary.io_apics {
        log::info!(
            "ACPI MADT: I/O APIC id {} at {:#x}, GSI base {}",
            io.id,
            io.address,
            io.gsi_base
        );
    }
    for o in &summary.overrides {
        log::info!("ACPI MADT: ISA IRQ {} -> GSI {}", o.isa_irq, o.gsi);
    }
    match summary.hpet_address {
        Some(address) => log::info!("ACPI HPET at {address:#x}"),
        None => log::info!("ACPI HPET: none"),
    }
}
