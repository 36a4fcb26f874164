//! Routing one guest access to its owner (operations 1–4, 8–9 from the VMM side).
//!
//! The rules, in order:
//! 1. A size other than 1, 2, 4 or 8 bytes is refused: a read returns all-ones, a write is
//!    dropped ([`Counters::bad_size`]).
//! 2. If one claim holds every byte of the access, its owner gets the whole access, with the
//!    absolute address. A device that is not powered on reads as all-ones and drops writes
//!    ([`Counters::powered_off`]).
//! 3. If no byte is claimed: all-ones / dropped ([`Counters::unclaimed_reads`] /
//!    [`Counters::unclaimed_writes`]).
//! 4. Otherwise the access straddles a claim's end: it is split into 1-byte accesses, each routed
//!    by rules 2–3 on its own address ([`Counters::split`]). Bytes past the top of the address
//!    space are unclaimed.

use crate::bus::claims::{Owner, RangeMap, Span};
use crate::bus::context::BusContext;
use crate::bus::{Bus, DeviceId, DeviceState, VmServices};
use crate::interface::{Bdf, Device, DeviceContext, Gpa, MmioRange, PortRange};

/// Byte value of a read that nothing answers (the bus floats high).
pub(crate) const FLOAT: u8 = 0xFF;

/// Size of a PCI function's configuration space (PCI Express: 4 KiB; conventional PCI uses the
/// first 256 bytes).
pub const CONFIG_SPACE_BYTES: u16 = 4096;

/// Whether the interface allows an access of `len` bytes.
#[inline]
pub(crate) const fn valid_size(len: usize) -> bool {
    matches!(len, 1 | 2 | 4 | 8)
}

/// Who answered an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// This device handled it.
    Device(DeviceId),
    /// The bus's own PCI configuration mechanism handled it (the address latch or the reset
    /// control register; a configuration data access reports the function's outcome).
    Bus,
    /// The owner is not powered on: all-ones / dropped.
    PoweredOff(DeviceId),
    /// No owner: all-ones / dropped.
    Unclaimed,
    /// Refused for its size: all-ones / dropped.
    BadSize,
    /// Split byte-wise across owners (rule 4).
    Split,
}

/// What the bus dropped or reshaped, for diagnostics. Every counter saturates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Reads nothing answered (port, MMIO, or PCI configuration of an unknown function).
    pub unclaimed_reads: u64,
    /// Writes nothing took.
    pub unclaimed_writes: u64,
    /// Accesses to a device that is not powered on.
    pub powered_off: u64,
    /// Accesses refused for their size (or for crossing the end of configuration space).
    pub bad_size: u64,
    /// Accesses split byte-wise because they straddled a claim's end.
    pub split: u64,
}

/// One access's data: filled by a read, consumed by a write.
pub(crate) enum Data<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
}

impl Data<'_> {
    fn len(&self) -> usize {
        match self {
            Data::Read(b) => b.len(),
            Data::Write(b) => b.len(),
        }
    }

    /// Fills a read with all-ones; a write is dropped.
    fn float(&mut self) {
        if let Data::Read(b) = self {
            b.fill(FLOAT);
        }
    }
}

/// An address space the guest reaches with plain loads/stores or port I/O.
pub(crate) trait Space {
    type Range: Span<Addr = Self::Addr>;
    type Addr: Copy + Ord;
    fn map(bus: &Bus) -> &RangeMap<Self::Range>;
    /// `addr + offset`, or `None` past the top of the space.
    fn offset(addr: Self::Addr, offset: usize) -> Option<Self::Addr>;
    /// A range covering `[addr, addr + len)`, if it fits in the space.
    fn span(addr: Self::Addr, len: usize) -> Option<Self::Range>;
    fn access(
        device: &mut dyn Device,
        ctx: &mut dyn DeviceContext,
        addr: Self::Addr,
        data: Data<'_>,
    );
    /// An access to one of the bus's own claims.
    fn builtin(
        bus: &mut Bus,
        services: &mut dyn VmServices,
        owner: Owner,
        addr: Self::Addr,
        data: Data<'_>,
    ) -> Access;
}

pub(crate) struct Pio;
pub(crate) struct Mmio;

impl Space for Pio {
    type Range = PortRange;
    type Addr = u16;
    fn map(bus: &Bus) -> &RangeMap<PortRange> {
        &bus.claims.pio
    }
    fn offset(addr: u16, offset: usize) -> Option<u16> {
        addr.checked_add(u16::try_from(offset).ok()?)
    }
    fn span(addr: u16, len: usize) -> Option<PortRange> {
        PortRange::new(addr, u16::try_from(len).ok()?).ok()
    }
    fn access(device: &mut dyn Device, ctx: &mut dyn DeviceContext, port: u16, data: Data<'_>) {
        match data {
            Data::Read(b) => device.pio_read(ctx, port, b),
            Data::Write(b) => device.pio_write(ctx, port, b),
        }
    }
    fn builtin(
        bus: &mut Bus,
        services: &mut dyn VmServices,
        owner: Owner,
        port: u16,
        data: Data<'_>,
    ) -> Access {
        match owner {
            Owner::ConfigIo => bus.config_io(services, port, data),
            Owner::Device(_) | Owner::Ecam => bus.count_unclaimed(data),
        }
    }
}

impl Space for Mmio {
    type Range = MmioRange;
    type Addr = Gpa;
    fn map(bus: &Bus) -> &RangeMap<MmioRange> {
        &bus.claims.mmio
    }
    fn offset(addr: Gpa, offset: usize) -> Option<Gpa> {
        addr.checked_add(u64::try_from(offset).ok()?)
    }
    fn span(addr: Gpa, len: usize) -> Option<MmioRange> {
        MmioRange::new(addr, u64::try_from(len).ok()?).ok()
    }
    fn access(device: &mut dyn Device, ctx: &mut dyn DeviceContext, addr: Gpa, data: Data<'_>) {
        match data {
            Data::Read(b) => device.mmio_read(ctx, addr, b),
            Data::Write(b) => device.mmio_write(ctx, addr, b),
        }
    }
    fn builtin(
        bus: &mut Bus,
        services: &mut dyn VmServices,
        owner: Owner,
        addr: Gpa,
        data: Data<'_>,
    ) -> Access {
        match owner {
            Owner::Ecam => bus.ecam(services, addr, data),
            Owner::Device(_) | Owner::ConfigIo => bus.count_unclaimed(data),
        }
    }
}

impl Bus {
    /// Operation 3: the guest reads `data.len()` bytes from port `port`.
    #[inline]
    pub fn pio_read(
        &mut self,
        services: &mut dyn VmServices,
        port: u16,
        data: &mut [u8],
    ) -> Access {
        self.route::<Pio>(services, port, Data::Read(data))
    }

    /// Operation 4: the guest writes `data` to port `port`.
    #[inline]
    pub fn pio_write(&mut self, services: &mut dyn VmServices, port: u16, data: &[u8]) -> Access {
        self.route::<Pio>(services, port, Data::Write(data))
    }

    /// Operation 1: the guest reads `data.len()` bytes at guest-physical `addr`.
    #[inline]
    pub fn mmio_read(
        &mut self,
        services: &mut dyn VmServices,
        addr: Gpa,
        data: &mut [u8],
    ) -> Access {
        self.route::<Mmio>(services, addr, Data::Read(data))
    }

    /// Operation 2: the guest writes `data` at guest-physical `addr`.
    #[inline]
    pub fn mmio_write(&mut self, services: &mut dyn VmServices, addr: Gpa, data: &[u8]) -> Access {
        self.route::<Mmio>(services, addr, Data::Write(data))
    }

    /// Operation 8: reads PCI function `bdf`'s configuration space at `offset`. Accesses past
    /// the end of the 4 KiB space, or of a bad size, read all-ones; an unknown function reads
    /// all-ones.
    pub fn pci_config_read(
        &mut self,
        services: &mut dyn VmServices,
        bdf: Bdf,
        offset: u16,
        data: &mut [u8],
    ) -> Access {
        self.config_access(services, bdf, offset, Data::Read(data))
    }

    /// Operation 9: writes PCI function `bdf`'s configuration space at `offset`.
    pub fn pci_config_write(
        &mut self,
        services: &mut dyn VmServices,
        bdf: Bdf,
        offset: u16,
        data: &[u8],
    ) -> Access {
        self.config_access(services, bdf, offset, Data::Write(data))
    }

    pub(crate) fn config_access(
        &mut self,
        services: &mut dyn VmServices,
        bdf: Bdf,
        offset: u16,
        mut data: Data<'_>,
    ) -> Access {
        let len = data.len();
        let fits = u16::try_from(len)
            .ok()
            .and_then(|len| offset.checked_add(len))
            .is_some_and(|end| end <= CONFIG_SPACE_BYTES);
        if !valid_size(len) || !fits {
            data.float();
            self.counters.bad_size = self.counters.bad_size.saturating_add(1);
            return Access::BadSize;
        }
        match self.claims.pci.get(&bdf) {
            Some(&Owner::Device(slot)) => {
                self.deliver_to_device(services, slot, data, |device, ctx, data| match data {
                    Data::Read(b) => device.pci_config_read(ctx, offset, b),
                    Data::Write(b) => device.pci_config_write(ctx, offset, b),
                })
            }
            Some(Owner::ConfigIo | Owner::Ecam) | None => self.count_unclaimed(data),
        }
    }

    #[inline]
    fn route<S: Space>(
        &mut self,
        services: &mut dyn VmServices,
        addr: S::Addr,
        mut data: Data<'_>,
    ) -> Access {
        let len = data.len();
        if !valid_size(len) {
            data.float();
            self.counters.bad_size = self.counters.bad_size.saturating_add(1);
            return Access::BadSize;
        }
        let whole = S::span(addr, len);
        let map = S::map(self);
        match (map.lookup(addr), whole) {
            (Some((range, owner)), Some(whole)) if whole.last() <= range.last() => {
                self.deliver::<S>(services, owner, addr, data)
            }
            (None, Some(whole)) if map.conflict(&whole).is_none() => self.count_unclaimed(data),
            _ => self.split::<S>(services, addr, data),
        }
    }

    fn split<S: Space>(
        &mut self,
        services: &mut dyn VmServices,
        addr: S::Addr,
        data: Data<'_>,
    ) -> Access {
        self.counters.split = self.counters.split.saturating_add(1);
        match data {
            Data::Read(bytes) => {
                for (i, byte) in bytes.iter_mut().enumerate() {
                    let mut one = [FLOAT];
                    match S::offset(addr, i) {
                        Some(at) => {
                            self.route::<S>(services, at, Data::Read(&mut one));
                        }
                        None => {
                            self.count_unclaimed(Data::Read(&mut one));
                        }
                    }
                    *byte = one[0];
                }
            }
            Data::Write(bytes) => {
                for (i, byte) in bytes.iter().enumerate() {
                    let one = [*byte];
                    match S::offset(addr, i) {
                        Some(at) => {
                            self.route::<S>(services, at, Data::Write(&one));
                        }
                        None => {
                            self.count_unclaimed(Data::Write(&one));
                        }
                    }
                }
            }
        }
        Access::Split
    }

    #[inline]
    fn deliver<S: Space>(
        &mut self,
        services: &mut dyn VmServices,
        owner: Owner,
        addr: S::Addr,
        data: Data<'_>,
    ) -> Access {
        match owner {
            Owner::Device(slot) => {
                self.deliver_to_device(services, slot, data, |device, ctx, data| {
                    S::access(device, ctx, addr, data)
                })
            }
            Owner::ConfigIo | Owner::Ecam => S::builtin(self, services, owner, addr, data),
        }
    }

    /// Hands `data` to the device in `slot` if it is powered on; otherwise floats it.
    #[inline]
    fn deliver_to_device(
        &mut self,
        services: &mut dyn VmServices,
        slot: u32,
        mut data: Data<'_>,
        f: impl FnOnce(&mut dyn Device, &mut dyn DeviceContext, Data<'_>),
    ) -> Access {
        let Bus {
            slots,
            claims,
            timers,
            irq_lines,
            limits,
            next_allocation,
            counters,
            ..
        } = self;
        let Some(entry) = slots.get_mut(slot as usize) else {
            return self.count_unclaimed(data);
        };
        let id = DeviceId {
            slot,
            generation: entry.generation,
        };
        let Some(occupant) = entry.occupant.as_mut() else {
            return self.count_unclaimed(data);
        };
        if occupant.state != DeviceState::PoweredOn {
            data.float();
            counters.powered_off = counters.powered_off.saturating_add(1);
            return Access::PoweredOff(id);
        }
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
        f(occupant.device.as_mut(), &mut ctx, data);
        Access::Device(id)
    }

    /// Floats an access nothing answers, counts it, and says so.
    pub(crate) fn count_unclaimed(&mut self, mut data: Data<'_>) -> Access {
        match data {
            Data::Read(_) => {
                self.counters.unclaimed_reads = self.counters.unclaimed_reads.saturating_add(1);
            }
            Data::Write(_) => {
                self.counters.unclaimed_writes = self.counters.unclaimed_writes.saturating_add(1);
            }
        }
        data.float();
        Access::Unclaimed
    }
}
