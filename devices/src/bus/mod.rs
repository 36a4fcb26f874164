//! The per-VM device bus: registers devices, routes the guest's port, memory and PCI
//! configuration accesses to their owners, drives the device lifecycle and keeps per-device
//! accounting (the paper's operations 1–4, 8–14 from the VMM side).
//!
//! # Model
//! - **Devices** are `Box<dyn Device>` in slots; a [`DeviceId`] names a slot and its generation,
//!   so the id of a removed device never reaches its successor in the slot.
//! - **Claims**: a device owns non-overlapping port ranges, MMIO ranges and PCI functions
//!   ([`Region`]). It claims them through its context (in `install`, or when the guest enables
//!   a PCI BAR) or the VMM claims for it with [`Bus::claim`]. Empty ranges cannot be built;
//!   overlapping claims are refused with [`ClaimError::Overlap`]. Lookup is O(log n).
//! - **Lifecycle**: installed → powered on ⇄ powered off → removed (see [`DeviceState`]). A
//!   device that is not powered on reads as all-ones and drops writes. Removal is allowed from
//!   installed or powered off, never from powered on.
//! - **Accounting**: each call into a device gets a context that books the device's timers,
//!   allocations, critical sections and claims in its ledger; [`Bus::remove`] releases whatever
//!   is left and reports it, so the bus's [`Holdings`] return to zero even for a device that
//!   forgets to free.
//! - **Timers** (operation 10) are kept by the bus; the VMM calls [`Bus::run_timers`].
//!
//! # Access rules (see `dispatch`)
//! Sizes other than 1, 2, 4 or 8 bytes are refused: reads return all-ones, writes are
//! dropped, and [`Counters::bad_size`] counts them. Unclaimed reads return all-ones, unclaimed
//! writes are dropped; both are counted. An access whose first and last byte have different
//! owners (or fall partly outside any claim) is split byte-wise: each byte goes, as a 1-byte
//! access, to the owner of that address (or is unclaimed), as an ISA bus splits a wide cycle.
//!
//! # Threat note
//! The guest controls every address, size and data byte of an access and, through the PCI
//! configuration mechanisms, the latched config address and BAR values. Sizes are checked
//! before any use; address arithmetic is checked (port + size past 0xFFFF or a GPA past
//! 2^64 falls into the unclaimed path); a split access makes at most 8 one-byte calls. The bus
//! allocates nothing on the access path; what devices obtain is capped per device by
//! [`Limits`], and every counter saturates.

mod accounting;
mod claims;
mod context;
mod dispatch;
mod irq_lines;
mod pci_access;
mod services;
mod timers;

#[cfg(test)]
mod probe;
#[cfg(test)]
mod tests_context;
#[cfg(test)]
mod tests_routing;

use alloc::boxed::Box;
use alloc::vec::Vec;

pub use accounting::{Holdings, Limits};
pub use dispatch::CONFIG_SPACE_BYTES;
pub use dispatch::{Access, Counters};
pub use pci_access::{
    CONFIG_ADDRESS_ENABLE, CONFIG_ADDRESS_PORT, CONFIG_DATA_PORT, ECAM_BYTES_PER_BUS,
    ECAM_BYTES_PER_FUNCTION, ECAM_MAX_BUSES, RESET_CONTROL_PORT, RESET_CONTROL_RESET_CPU,
};
pub use services::VmServices;

use accounting::Ledger;
use claims::{ClaimMaps, Owner};
use context::BusContext;
use irq_lines::IrqLines;
use timers::TimerTable;

use crate::interface::{
    ClaimError, Device, DeviceContext, DeviceError, MmioRange, Nanos, Region, TimerId,
};

/// A device on the bus: its slot and the slot's generation when it was registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId {
    slot: u32,
    generation: u32,
}

/// Where a device is in its lifecycle (operations 11–14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// `install` succeeded; not yet powered on. Accesses read all-ones.
    Installed,
    /// Powered on: accesses and timers reach the device.
    PoweredOn,
    /// Powered off: accesses read all-ones, writes are dropped, timers are not called.
    PoweredOff,
}

/// A lifecycle step the VMM asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    PowerOn,
    PowerOff,
    Remove,
}

/// Why a bus operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusError {
    /// The bus already holds [`Limits::max_devices`] devices.
    TooManyDevices,
    /// The id names no device on this bus (never registered, or removed).
    UnknownDevice(DeviceId),
    /// The step is not allowed from the device's state.
    InvalidTransition {
        from: DeviceState,
        requested: Transition,
    },
    /// A claim or release was refused.
    Claim(ClaimError),
    /// The device's own lifecycle method failed.
    Device(DeviceError),
    /// The ECAM window is misplaced: not 1 MiB aligned, no buses, or past the address space.
    BadEcamWindow,
}

impl From<ClaimError> for BusError {
    fn from(e: ClaimError) -> Self {
        BusError::Claim(e)
    }
}

/// A removed device, handed back with what the bus released on its behalf.
pub struct Removed {
    /// The device itself (drop it to free what it still owns).
    pub device: Box<dyn Device>,
    /// What the device still held when its `remove` returned; the bus released all of it.
    /// Non-zero `allocations`/`bytes` mean it forgot to free (a leak the ledger caught).
    pub leaked: Holdings,
    /// The error the device's own `remove` returned, if any (removal happens regardless).
    pub device_error: Option<DeviceError>,
}

impl core::fmt::Debug for Removed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Removed")
            .field("device", &self.device.name())
            .field("leaked", &self.leaked)
            .field("device_error", &self.device_error)
            .finish()
    }
}

struct Occupant {
    device: Box<dyn Device>,
    state: DeviceState,
    ledger: Ledger,
}

struct Slot {
    generation: u32,
    occupant: Option<Occupant>,
}

/// The state of PCI configuration mechanism #1 and the ECAM window.
#[derive(Debug, Default)]
pub(crate) struct PciMechanisms {
    /// The last dword written to 0xCF8.
    config_address: u32,
    /// The ECAM window, if enabled.
    ecam: Option<MmioRange>,
    /// The PIIX3 Reset Control register's kept bits.
    reset_control: u8,
}

/// One VM's device bus.
pub struct Bus {
    slots: Vec<Slot>,
    claims: ClaimMaps,
    timers: TimerTable,
    irq_lines: IrqLines,
    limits: Limits,
    next_allocation: u64,
    counters: Counters,
    pci: PciMechanisms,
}

impl core::fmt::Debug for Bus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Bus")
            .field("devices", &self.device_count())
            .field("claims", &self.claims.len())
            .field("counters", &self.counters)
            .finish()
    }
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new(Limits::DEFAULT)
    }
}

impl Bus {
    /// An empty bus with the given limits (no PCI mechanisms until enabled).
    pub fn new(limits: Limits) -> Self {
        Bus {
            slots: Vec::new(),
            claims: ClaimMaps::new(),
            timers: TimerTable::new(),
            irq_lines: IrqLines::default(),
            limits,
            next_allocation: 0,
            counters: Counters::default(),
            pci: PciMechanisms::default(),
        }
    }

    /// The limits this bus enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Number of devices on the bus.
    pub fn device_count(&self) -> usize {
        self.slots.iter().filter(|s| s.occupant.is_some()).count()
    }

    /// The access counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    // ---- lifecycle (operations 11–14) ----

    /// Operation 11: puts `device` on the bus and calls its `install`. If `install` fails, all
    /// it obtained is released and the device is dropped.
    pub fn register(
        &mut self,
        services: &mut dyn VmServices,
        device: Box<dyn Device>,
    ) -> Result<DeviceId, BusError> {
        let index = match self.slots.iter().position(|s| s.occupant.is_none()) {
            Some(free) => free,
            None if self.slots.len() < self.limits.max_devices => {
                self.slots.push(Slot {
                    generation: 0,
                    occupant: None,
                });
                self.slots.len() - 1
            }
            None => return Err(BusError::TooManyDevices),
        };
        let slot = u32::try_from(index).map_err(|_| BusError::TooManyDevices)?;
        let entry = &mut self.slots[index];
        entry.occupant = Some(Occupant {
            device,
            state: DeviceState::Installed,
            ledger: Ledger::default(),
        });
        let id = DeviceId {
            slot,
            generation: entry.generation,
        };
        match self.call(services, slot, |device, ctx| device.install(ctx)) {
            Some(Ok(())) => Ok(id),
            Some(Err(error)) => {
                self.evict(services, slot);
                Err(BusError::Device(error))
            }
            None => Err(BusError::UnknownDevice(id)),
        }
    }

    /// Operation 12: powers the device on (from installed or powered off).
    pub fn power_on(
        &mut self,
        services: &mut dyn VmServices,
        id: DeviceId,
    ) -> Result<(), BusError> {
        let state = self.state(id)?;
        if state == DeviceState::PoweredOn {
            return Err(BusError::InvalidTransition {
                from: state,
                requested: Transition::PowerOn,
            });
        }
        match self.call(services, id.slot, |device, ctx| device.power_on(ctx)) {
            Some(Ok(())) => self.set_state(id, DeviceState::PoweredOn),
            Some(Err(error)) => Err(BusError::Device(error)),
            None => Err(BusError::UnknownDevice(id)),
        }
    }

    /// Operation 13: powers the device off (from powered on). The device is off afterwards even
    /// if its `power_off` reports an error (which is returned).
    pub fn power_off(
        &mut self,
        services: &mut dyn VmServices,
        id: DeviceId,
    ) -> Result<(), BusError> {
        let state = self.state(id)?;
        if state != DeviceState::PoweredOn {
            return Err(BusError::InvalidTransition {
                from: state,
                requested: Transition::PowerOff,
            });
        }
        let result = self.call(services, id.slot, |device, ctx| device.power_off(ctx));
        self.set_state(id, DeviceState::PoweredOff)?;
        // A powered-off device drives nothing: what it left asserted is released.
        for line in self.irq_lines.release(id.slot) {
            let _ = services.set_irq(line, false);
        }
        match result {
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => Err(BusError::Device(error)),
            None => Err(BusError::UnknownDevice(id)),
        }
    }

    /// Operation 14: calls the device's `remove`, then releases everything it still holds
    /// (claims, timers, critical sections, allocation ledger entries) and takes it off the bus.
    /// Refused while the device is powered on.
    pub fn remove(
        &mut self,
        services: &mut dyn VmServices,
        id: DeviceId,
    ) -> Result<Removed, BusError> {
        let state = self.state(id)?;
        if state == DeviceState::PoweredOn {
            return Err(BusError::InvalidTransition {
                from: state,
                requested: Transition::Remove,
            });
        }
        let result = self.call(services, id.slot, |device, ctx| device.remove(ctx));
        let (device, leaked) = self
            .evict(services, id.slot)
            .ok_or(BusError::UnknownDevice(id))?;
        Ok(Removed {
            device,
            leaked,
            device_error: result.and_then(Result::err),
        })
    }

    /// The device's lifecycle state.
    pub fn state(&self, id: DeviceId) -> Result<DeviceState, BusError> {
        self.occupant(id)
            .map(|o| o.state)
            .ok_or(BusError::UnknownDevice(id))
    }

    /// The device's name.
    pub fn name(&self, id: DeviceId) -> Result<&str, BusError> {
        self.occupant(id)
            .map(|o| o.device.name())
            .ok_or(BusError::UnknownDevice(id))
    }

    /// What the device holds now.
    pub fn holdings(&self, id: DeviceId) -> Result<Holdings, BusError> {
        self.occupant(id)
            .map(|o| o.ledger.snapshot())
            .ok_or(BusError::UnknownDevice(id))
    }

    /// What all devices hold together.
    pub fn total_holdings(&self) -> Holdings {
        let mut total = Holdings::default();
        for occupant in self.slots.iter().filter_map(|s| s.occupant.as_ref()) {
            total.add(&occupant.ledger.snapshot());
        }
        total
    }

    /// The regions the device holds, in claim order.
    pub fn claims_of(&self, id: DeviceId) -> Result<&[Region], BusError> {
        self.occupant(id)
            .map(|o| o.ledger.claims.as_slice())
            .ok_or(BusError::UnknownDevice(id))
    }

    // ---- claims made by the VMM on a device's behalf ----

    /// Claims `region` for the device (what a device does itself with `DeviceContext::claim`).
    pub fn claim(&mut self, id: DeviceId, region: Region) -> Result<(), BusError> {
        let occupant = self.occupant_mut(id)?;
        if occupant.ledger.claims.len() >= self.limits.claims_per_device {
            return Err(BusError::Claim(ClaimError::TooMany));
        }
        self.claims.insert(region, Owner::Device(id.slot))?;
        if let Some(occupant) = self.slots[id.slot as usize].occupant.as_mut() {
            occupant.ledger.claims.push(region);
        }
        Ok(())
    }

    /// Releases a region the device holds.
    pub fn release(&mut self, id: DeviceId, region: Region) -> Result<(), BusError> {
        let occupant = self.occupant_mut(id)?;
        let index = occupant
            .ledger
            .claims
            .iter()
            .position(|c| *c == region)
            .ok_or(ClaimError::NotClaimed(region))?;
        occupant.ledger.claims.swap_remove(index);
        self.claims.remove(region, Owner::Device(id.slot))?;
        Ok(())
    }

    /// Whether a guest access at `gpa` has a handler on this bus (a device's MMIO claim or the
    /// ECAM window): the VMM emulates such accesses and treats any other non-RAM address as an
    /// access outside the VM.
    pub fn claims_mmio(&self, gpa: crate::interface::Gpa) -> bool {
        self.claims.mmio.lookup(gpa).is_some()
    }

    /// The device that owns `region` exactly as claimed.
    pub fn owner_of(&self, region: &Region) -> Option<DeviceId> {
        match self.claims.owner_of(region)? {
            Owner::Device(slot) => self.id_of(slot),
            Owner::ConfigIo | Owner::Ecam => None,
        }
    }

    // ---- timers (operation 10, callback side) ----

    /// Calls back every timer due at or before `now` once (with `now`; a late call covers the
    /// missed periods), in due order, and reschedules it. Timers of devices that are not
    /// powered on are rescheduled without a call. Returns the number of callbacks made.
    pub fn run_timers(&mut self, services: &mut dyn VmServices, now: Nanos) -> usize {
        let mut calls = 0;
        // Each timer is due at most once per run (it is rescheduled past `now`), and timers
        // connected during a callback are first due after `now`: the table's size bounds this.
        let mut budget = self
            .limits
            .max_devices
            .saturating_mul(self.limits.timers_per_device);
        while budget > 0 {
            budget -= 1;
            let Some((id, slot)) = self.timers.take_due(now) else {
                break;
            };
            let powered = self
                .slots
                .get(slot as usize)
                .and_then(|s| s.occupant.as_ref())
                .map(|o| o.state)
                == Some(DeviceState::PoweredOn);
            if powered
                && self
                    .call(services, slot, |device, ctx| device.timer(ctx, id, now))
                    .is_some()
            {
                calls += 1;
            }
        }
        calls
    }

    /// When the next timer falls due (for programming the host timer).
    pub fn next_timer_deadline(&self) -> Option<Nanos> {
        self.timers.next_deadline()
    }

    /// The period of a connected timer and the device that holds it.
    pub fn timer_info(&self, timer: TimerId) -> Option<(DeviceId, Nanos)> {
        let t = self.timers.get(timer)?;
        Some((self.id_of(t.owner)?, t.period))
    }

    // ---- internals ----

    fn occupant(&self, id: DeviceId) -> Option<&Occupant> {
        let slot = self.slots.get(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.occupant.as_ref()
    }

    fn occupant_mut(&mut self, id: DeviceId) -> Result<&mut Occupant, BusError> {
        let slot = self
            .slots
            .get_mut(id.slot as usize)
            .ok_or(BusError::UnknownDevice(id))?;
        if slot.generation != id.generation {
            return Err(BusError::UnknownDevice(id));
        }
        slot.occupant.as_mut().ok_or(BusError::UnknownDevice(id))
    }

    fn set_state(&mut self, id: DeviceId, state: DeviceState) -> Result<(), BusError> {
        self.occupant_mut(id)?.state = state;
        Ok(())
    }

    fn id_of(&self, slot: u32) -> Option<DeviceId> {
        let entry = self.slots.get(slot as usize)?;
        entry.occupant.as_ref()?;
        Some(DeviceId {
            slot,
            generation: entry.generation,
        })
    }

    /// Run `f` with the context of device `id`, for the VMM's direct calls into a model it
    /// shares with the bus (`crate::shared::Shared`): what the model obtains then (a timer, a
    /// claim) is accounted to it exactly as during a guest access.
    pub fn with_context<R>(
        &mut self,
        services: &mut dyn VmServices,
        id: DeviceId,
        f: impl FnOnce(&mut dyn DeviceContext) -> R,
    ) -> Result<R, BusError> {
        if self.id_of(id.slot) != Some(id) {
            return Err(BusError::UnknownDevice(id));
        }
        self.call(services, id.slot, |_, ctx| f(ctx))
            .ok_or(BusError::UnknownDevice(id))
    }

    /// Calls `f` on the device in `slot` with a context accounting to it. `None` if the slot is
    /// empty.
    #[inline]
    fn call<R>(
        &mut self,
        services: &mut dyn VmServices,
        slot: u32,
        f: impl FnOnce(&mut dyn Device, &mut dyn DeviceContext) -> R,
    ) -> Option<R> {
        let Bus {
            slots,
            claims,
            timers,
            irq_lines,
            limits,
            next_allocation,
            ..
        } = self;
        let occupant = slots.get_mut(slot as usize)?.occupant.as_mut()?;
        let mut ctx = BusContext {
            services,
            slot,
            ledger: &mut occupant.ledger,
            claims,
            timers,
            irq_lines,
            limits,
            next_allocation,
        };
        Some(f(occupant.device.as_mut(), &mut ctx))
    }

    /// Takes the device out of `slot`, releasing everything its ledger still holds. Returns the
    /// device and what was released.
    fn evict(
        &mut self,
        services: &mut dyn VmServices,
        slot: u32,
    ) -> Option<(Box<dyn Device>, Holdings)> {
        let entry = self.slots.get_mut(slot as usize)?;
        let occupant = entry.occupant.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        let leaked = occupant.ledger.snapshot();
        let owner = Owner::Device(slot);
        for region in &occupant.ledger.claims {
            // The ledger and the maps change together (context and `Bus::claim`/`release`),
            // so every ledger claim is in the maps under this owner.
            let _ = self.claims.remove(*region, owner);
        }
        self.timers.disconnect_all(slot);
        for line in self.irq_lines.release(slot) {
            // The line exists: the device drove it through `set_irq`, which checked it.
            let _ = services.set_irq(line, false);
        }
        for (&section, &entered) in &occupant.ledger.sections {
            // Errors here mean the VMM already dropped the section; nothing is left to release.
            if entered {
                let _ = services.exit_critical_section(section);
            }
            let _ = services.remove_critical_section(section);
        }
        Some((occupant.device, leaked))
    }
}
