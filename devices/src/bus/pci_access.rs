//! The two ways a guest reaches PCI configuration space, both built into the bus and both
//! ending in [`Bus::pci_config_read`] / [`Bus::pci_config_write`] for the addressed function:
//!
//! - **Configuration mechanism #1** (PCI Local Bus Specification 3.0, §3.2.2.3.2; i440FX
//!   datasheet §3.1: CONFADD at 0xCF8, CONFDATA at 0xCFC). A dword write to 0xCF8 latches
//!   `enable | bus | device | function | register`; byte, word or dword accesses at
//!   0xCFC + n then reach register + n of that function while the enable bit is set. Accesses
//!   with the enable bit clear read all-ones and are dropped. Non-dword accesses to 0xCF8 do not
//!   touch the address latch, except a byte at 0xCF9, the PIIX3 Reset Control register (PIIX3
//!   datasheet, Reset Control Register): writing it with bit 2 set asks the VMM to reset the VM.
//! - **ECAM**, the PCI Express enhanced configuration access mechanism (PCI Express Base
//!   Specification, §7.2.2): a memory window, 1 MiB per bus, 4 KiB per function, offset
//!   `bus << 20 | device << 15 | function << 12 | register`.
//!
//! # Threat note
//! The guest controls the latched address (all 32 bits; reserved bits are masked on write),
//! the data port offset and size, and any ECAM address in the window. Every field is extracted
//! with a mask, so no value selects anything but a valid bus/device/function and a register in
//! 0..4096; a config access crossing the end of the function's space reads all-ones.

use crate::bus::claims::Owner;
use crate::bus::dispatch::{Access, Data};
use crate::bus::{Bus, BusError, VmServices};
use crate::interface::{Bdf, Gpa, MmioRange, PortRange, Region, VmRequest};

/// CONFIG_ADDRESS, mechanism #1's address latch (a dword register).
pub const CONFIG_ADDRESS_PORT: u16 = 0xCF8;
/// CONFIG_DATA, mechanism #1's data window (0xCFC–0xCFF).
pub const CONFIG_DATA_PORT: u16 = 0xCFC;
/// PIIX3 Reset Control register, a byte inside the CONFIG_ADDRESS dword.
pub const RESET_CONTROL_PORT: u16 = 0xCF9;
/// Width of the CONFIG_ADDRESS and CONFIG_DATA registers, in ports.
const CONFIG_REGISTER_PORTS: u16 = 4;

/// The CONFIG_ADDRESS dword's ports.
const CONFIG_ADDRESS_RANGE: PortRange =
    match PortRange::new(CONFIG_ADDRESS_PORT, CONFIG_REGISTER_PORTS) {
        Ok(range) => range,
        Err(_) => panic!("CONFIG_ADDRESS fits the port space"),
    };
/// The CONFIG_DATA dword's ports.
const CONFIG_DATA_RANGE: PortRange = match PortRange::new(CONFIG_DATA_PORT, CONFIG_REGISTER_PORTS) {
    Ok(range) => range,
    Err(_) => panic!("CONFIG_DATA fits the port space"),
};

/// CONFIG_ADDRESS bit 31: configuration cycles enabled.
pub const CONFIG_ADDRESS_ENABLE: u32 = 1 << 31;
/// CONFIG_ADDRESS bits that hold a value: enable, bus, device, function, dword register.
/// Bits 30:24 are reserved and bits 1:0 are hard-wired to zero.
pub const CONFIG_ADDRESS_WRITABLE: u32 = CONFIG_ADDRESS_ENABLE | 0x00FF_FFFC;
const CONFIG_ADDRESS_BUS_SHIFT: u32 = 16;
const CONFIG_ADDRESS_DEVICE_SHIFT: u32 = 11;
const CONFIG_ADDRESS_FUNCTION_SHIFT: u32 = 8;
const CONFIG_ADDRESS_REGISTER_MASK: u32 = 0xFC;

/// Reset Control bit 1: the reset is a full system reset (kept, readable).
pub const RESET_CONTROL_SYSTEM_RESET: u8 = 1 << 1;
/// Reset Control bit 2: reset the CPU now.
pub const RESET_CONTROL_RESET_CPU: u8 = 1 << 2;

/// Bytes of ECAM window per bus.
pub const ECAM_BYTES_PER_BUS: u64 = 1 << ECAM_BUS_SHIFT;
/// Bytes of ECAM window per function (its whole configuration space).
pub const ECAM_BYTES_PER_FUNCTION: u64 = 1 << ECAM_FUNCTION_SHIFT;
const ECAM_BUS_SHIFT: u32 = 20;
const ECAM_DEVICE_SHIFT: u32 = 15;
const ECAM_FUNCTION_SHIFT: u32 = 12;
const ECAM_REGISTER_MASK: u64 = ECAM_BYTES_PER_FUNCTION - 1;
/// Buses one ECAM window can cover.
pub const ECAM_MAX_BUSES: u16 = 256;

const DEVICE_MASK: u32 = Bdf::MAX_DEVICE as u32;
const FUNCTION_MASK: u32 = Bdf::MAX_FUNCTION as u32;
const BYTE_MASK: u32 = 0xFF;

/// Decodes a bus/device/function from masked fields (always valid).
fn bdf_from(bus: u32, device: u32, function: u32) -> Option<Bdf> {
    let bus = u8::try_from(bus & BYTE_MASK).ok()?;
    let device = u8::try_from(device & DEVICE_MASK).ok()?;
    let function = u8::try_from(function & FUNCTION_MASK).ok()?;
    Bdf::new(bus, device, function).ok()
}

impl Bus {
    /// Claims ports 0xCF8–0xCFB and 0xCFC–0xCFF for configuration mechanism #1.
    pub fn enable_pci_mechanism1(&mut self) -> Result<(), BusError> {
        self.claims
            .insert(Region::Pio(CONFIG_ADDRESS_RANGE), Owner::ConfigIo)?;
        if let Err(e) = self
            .claims
            .insert(Region::Pio(CONFIG_DATA_RANGE), Owner::ConfigIo)
        {
            // Leave nothing half-claimed.
            let _ = self
                .claims
                .remove(Region::Pio(CONFIG_ADDRESS_RANGE), Owner::ConfigIo);
            return Err(e.into());
        }
        Ok(())
    }

    /// Claims an ECAM window at `base` (1 MiB aligned) covering buses `0..buses`.
    pub fn enable_ecam(&mut self, base: Gpa, buses: u16) -> Result<MmioRange, BusError> {
        if buses == 0
            || buses > ECAM_MAX_BUSES
            || !base.is_multiple_of(ECAM_BYTES_PER_BUS)
            || self.pci.ecam.is_some()
        {
            return Err(BusError::BadEcamWindow);
        }
        let len = u64::from(buses) * ECAM_BYTES_PER_BUS;
        let window = MmioRange::new(base, len).map_err(|_| BusError::BadEcamWindow)?;
        self.claims.insert(Region::Mmio(window), Owner::Ecam)?;
        self.pci.ecam = Some(window);
        Ok(window)
    }

    /// The value latched in CONFIG_ADDRESS.
    pub fn config_address(&self) -> u32 {
        self.pci.config_address
    }

    /// An access to ports 0xCF8–0xCFF (wholly inside one of the two dword registers).
    pub(crate) fn config_io(
        &mut self,
        services: &mut dyn VmServices,
        port: u16,
        mut data: Data<'_>,
    ) -> Access {
        let dword = core::mem::size_of::<u32>();
        if port >= CONFIG_DATA_PORT {
            let address = self.pci.config_address;
            let bdf = bdf_from(
                address >> CONFIG_ADDRESS_BUS_SHIFT,
                address >> CONFIG_ADDRESS_DEVICE_SHIFT,
                address >> CONFIG_ADDRESS_FUNCTION_SHIFT,
            );
            return match bdf {
                Some(bdf) if address & CONFIG_ADDRESS_ENABLE != 0 => {
                    let register = (address & CONFIG_ADDRESS_REGISTER_MASK) as u16;
                    let offset = register + (port - CONFIG_DATA_PORT);
                    self.config_access(services, bdf, offset, data)
                }
                _ => self.count_unclaimed(data),
            };
        }
        match &mut data {
            Data::Write(bytes) if port == CONFIG_ADDRESS_PORT && bytes.len() == dword => {
                let mut value = [0; 4];
                value.copy_from_slice(bytes);
                self.pci.config_address = u32::from_le_bytes(value) & CONFIG_ADDRESS_WRITABLE;
                Access::Bus
            }
            Data::Read(bytes) if port == CONFIG_ADDRESS_PORT && bytes.len() == dword => {
                bytes.copy_from_slice(&self.pci.config_address.to_le_bytes());
                Access::Bus
            }
            Data::Write([value]) if port == RESET_CONTROL_PORT => {
                self.pci.reset_control = *value & RESET_CONTROL_SYSTEM_RESET;
                if *value & RESET_CONTROL_RESET_CPU != 0 {
                    services.request(VmRequest::Reset);
                }
                Access::Bus
            }
            Data::Read([value]) if port == RESET_CONTROL_PORT => {
                *value = self.pci.reset_control;
                Access::Bus
            }
            _ => self.count_unclaimed(data),
        }
    }

    /// An access inside the ECAM window (wholly inside it).
    pub(crate) fn ecam(
        &mut self,
        services: &mut dyn VmServices,
        addr: Gpa,
        data: Data<'_>,
    ) -> Access {
        let Some(window) = self.pci.ecam else {
            return self.count_unclaimed(data);
        };
        let offset = addr.wrapping_sub(window.first());
        let field =
            |shift: u32| u32::try_from((offset >> shift) & u64::from(BYTE_MASK)).unwrap_or(0);
        let bdf = bdf_from(
            field(ECAM_BUS_SHIFT),
            field(ECAM_DEVICE_SHIFT),
            field(ECAM_FUNCTION_SHIFT),
        );
        let register = u16::try_from(offset & ECAM_REGISTER_MASK);
        match (bdf, register) {
            (Some(bdf), Ok(register)) => self.config_access(services, bdf, register, data),
            _ => self.count_unclaimed(data),
        }
    }
}
