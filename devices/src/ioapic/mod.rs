//! The I/O APIC (Intel 82093AA datasheet, order 290566, with the EOI register of the
//! version-0x20 I/O APICs in Intel's ICH/PCH chipsets): 24 input pins routed to local APICs
//! as interrupt messages, at MMIO 0xFEC0_0000.
//!
//! # Behaviour (datasheet sections in parentheses)
//! - **Registers** (3.0, 3.1): IOREGSEL at +0x00 (bits 7:0 select), IOWIN at +0x10 (the
//!   selected register), EOI at +0x40 (write a vector). Indirect registers: 0x00 IOAPICID
//!   (4-bit ID in 27:24, writable), 0x01 IOAPICVER (read only: version 0x20, highest entry 23
//!   in 23:16, no pin-assertion register), 0x02 IOAPICARB (read only; the arbitration ID is
//!   loaded from the ID, so it reads as the ID), 0x10–0x3F the 24 redirection entries, low
//!   dword then high dword. Other indices read 0 and ignore writes.
//! - **Redirection entries** (3.2.4): vector, delivery mode (fixed, lowest priority, SMI,
//!   NMI, INIT, ExtINT; the reserved encodings 011 and 110 deliver nothing), destination mode,
//!   polarity, trigger mode, mask and the 8-bit destination are writable; delivery status
//!   (reads idle: a message is delivered at once) and remote IRR are read only; reserved bits
//!   read 0. All entries power on masked. SMI, NMI, INIT and ExtINT are edge-only: their trigger
//!   bit is stored but they never use remote IRR. Switching an entry to edge clears remote IRR.
//! - **Pins**: [`IoApic::set_irq`] says whether a pin is *asserted* (the source requests an
//!   interrupt), whatever the entry's polarity bit; a pin nothing has driven yet is deasserted.
//!   The polarity bit is stored and reads back, but there is no wire voltage to invert: the
//!   VMM's devices signal assertion (`ctx.set_irq(line, true)`), and the polarity the OS
//!   programs is the one the firmware describes for that wire (ACPI `_PRT` GSI entries are
//!   level, active low: PCI INTx#; the MADT's ISA lines are active high), so on hardware a
//!   correctly programmed entry sees "asserted" exactly when the source asserts. KVM's and
//!   QEMU's I/O APICs model pins the same way. An edge-triggered pin delivers on each
//!   deasserted → asserted transition; masked edges are lost. A level-triggered pin delivers
//!   while asserted, unmasked and with remote IRR clear, and sets remote IRR.
//! - **EOI**: [`IoApic::eoi`] (the local APIC's EOI broadcast, forwarded by the VMM) and the EOI
//!   register clear remote IRR of every level-triggered entry with that vector and deliver again
//!   from each pin still asserted. Unmasking (or otherwise rewriting) a level entry whose pin
//!   is asserted delivers too.
//! - **Where deliveries go**: [`IoApic::set_irq`] and [`IoApic::eoi`] return them; those caused
//!   by guest register writes (unmasking, the EOI register) wait in a per-pin outbox for
//!   [`IoApic::take_deliveries`], which the VMM drains after every access.
//! - **Access sizes**: reads of any size return the bytes of the registers they cover;
//!   IOREGSEL takes 1-, 2- or 4-byte writes, IOWIN and EOI only aligned 4-byte writes. Other
//!   writes are dropped and counted ([`IoApicCounters::malformed_accesses`]).
//!
//! # Threat note
//! The guest controls IOREGSEL, every register write and the access sizes; devices (through
//! the VMM) control the pin assertions. State is fixed-size: 24 entries, a 24-bit mask of
//! asserted pins, a 24-slot outbox (at most one waiting delivery per pin, so nothing grows
//! however often the guest writes). IOREGSEL is a `u8`; entry indices are computed from it
//! with checked arithmetic and bounds-checked `get`; offsets are checked against the base with
//! `checked_sub`. Out-of-range pins from the VMM are refused with [`IoApicError::NoSuchPin`].
//! A level-triggered pin cannot storm: it delivers again only after an EOI for its vector.

mod redirection;
pub mod registers;

pub mod fuzz;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fuzz;

use alloc::vec::Vec;

pub use fuzz::fuzz_ioapic;
pub use redirection::Delivery;

use redirection::{EntryFields, delivery};
use registers::{entry, id, index, offset, version};

use crate::interface::{ClaimError, Device, DeviceContext, DeviceError, Gpa, MmioRange, Region};

/// Input pins (redirection entries).
pub const PINS: u8 = 24;
/// The usual base address.
pub const DEFAULT_BASE: Gpa = 0xFEC0_0000;
/// IOAPICVER: version 0x20, highest redirection entry 23.
pub const VERSION_VALUE: u32 = version::VERSION | ((PINS as u32 - 1) << version::MAX_ENTRY_SHIFT);
const PIN_SLOTS: usize = PINS as usize;
const OPEN_BUS: u8 = 0xFF;
const BITS_PER_BYTE: u64 = 8;
const LOW_DWORD: u64 = 0xFFFF_FFFF;
/// Base addresses must be page aligned.
const BASE_ALIGNMENT: u64 = 0x1000;

/// Why a pin could not be driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoApicError {
    /// Not one of pins 0–23.
    NoSuchPin(u8),
}

/// Why an I/O APIC could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The ID does not fit the 4-bit field.
    Id(u8),
    /// The base is not page aligned or the page runs past the address space.
    Base(Gpa),
}

/// Event counts for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IoApicCounters {
    /// Interrupts not sent because the entry's delivery mode is reserved.
    pub undeliverable: u64,
    /// Writes of a size or alignment the registers do not take.
    pub malformed_accesses: u64,
}

/// One I/O APIC.
#[derive(Debug, Clone)]
pub struct IoApic {
    page: MmioRange,
    claimed: bool,
    initial_id: u8,
    id: u8,
    select: u8,
    entries: [u64; PIN_SLOTS],
    /// One bit per pin: asserted.
    asserted: u32,
    outbox: [Option<Delivery>; PIN_SLOTS],
    counters: IoApicCounters,
}

impl IoApic {
    /// An I/O APIC with 4-bit `id` whose page starts at `base` (page aligned), in power-on
    /// state.
    pub fn new(id: u8, base: Gpa) -> Result<Self, ConfigError> {
        if u32::from(id) > id::MASK {
            return Err(ConfigError::Id(id));
        }
        if !base.is_multiple_of(BASE_ALIGNMENT) {
            return Err(ConfigError::Base(base));
        }
        let page = MmioRange::new(base, offset::SIZE).map_err(|_| ConfigError::Base(base))?;
        Ok(IoApic {
            page,
            claimed: false,
            initial_id: id,
            id,
            select: 0,
            entries: [entry::RESET; PIN_SLOTS],
            asserted: 0,
            outbox: [None; PIN_SLOTS],
            counters: IoApicCounters::default(),
        })
    }

    /// Power-on state: the ID from construction, IOREGSEL 0, every entry masked, no remote
    /// IRR, nothing waiting. Pin assertions are inputs and stay as driven.
    pub fn reset(&mut self) {
        self.id = self.initial_id;
        self.select = 0;
        self.entries = [entry::RESET; PIN_SLOTS];
        self.outbox = [None; PIN_SLOTS];
    }

    /// The page the I/O APIC decodes.
    pub fn page(&self) -> MmioRange {
        self.page
    }
    /// The 4-bit I/O APIC ID.
    pub fn id(&self) -> u8 {
        self.id
    }
    /// Redirection entry `pin` as the guest reads it.
    pub fn redirection_entry(&self, pin: u8) -> Option<u64> {
        self.entries.get(usize::from(pin)).copied()
    }
    /// Event counts.
    pub fn counters(&self) -> IoApicCounters {
        self.counters
    }

    fn bit(pin: u8) -> u32 {
        1 << pin
    }

    /// Whether `pin` is asserted (the polarity bit plays no part: see the module docs).
    fn asserted(&self, pin: u8) -> bool {
        pin < PINS && self.asserted & Self::bit(pin) != 0
    }

    /// Asserts (`true`) or deasserts pin `pin` (0–23), whatever polarity its entry names;
    /// returns the message it sends, if any.
    pub fn set_irq(&mut self, pin: u8, asserted: bool) -> Result<Option<Delivery>, IoApicError> {
        if pin >= PINS {
            return Err(IoApicError::NoSuchPin(pin));
        }
        let was = self.asserted(pin);
        let bit = Self::bit(pin);
        if asserted {
            self.asserted |= bit;
        } else {
            self.asserted &= !bit;
        }
        let value = self.entries[usize::from(pin)];
        let rising = self.asserted(pin) && !was;
        if value.level() || rising {
            Ok(self.evaluate(pin))
        } else {
            Ok(None)
        }
    }

    /// Sends from `pin` if it should now: unmasked, asserted, and for a level entry remote
    /// IRR clear (which this sets). Edge callers have checked the edge.
    fn evaluate(&mut self, pin: u8) -> Option<Delivery> {
        let slot = usize::from(pin);
        let value = *self.entries.get(slot)?;
        if value.masked() || !self.asserted(pin) || (value.level() && value.remote_irr()) {
            return None;
        }
        let Some(message) = delivery(pin, value) else {
            self.counters.undeliverable = self.counters.undeliverable.saturating_add(1);
            return None;
        };
        if message.level_triggered {
            self.entries[slot] |= entry::REMOTE_IRR;
        }
        Some(message)
    }

    /// An EOI for `vector`: clears remote IRR of the level-triggered entries with it and
    /// returns the messages from pins still asserted (at most one per pin).
    pub fn eoi(&mut self, vector: u8) -> Vec<Delivery> {
        let mut sent = Vec::new();
        for pin in 0..PINS {
            let slot = usize::from(pin);
            let value = self.entries[slot];
            if value.level() && value.remote_irr() && value.vector() == vector {
                self.entries[slot] &= !entry::REMOTE_IRR;
                sent.extend(self.evaluate(pin));
            }
        }
        sent
    }

    /// Messages caused by guest register writes since the last call, lowest pin first.
    pub fn take_deliveries(&mut self) -> Vec<Delivery> {
        self.outbox.iter_mut().filter_map(Option::take).collect()
    }

    fn post(&mut self, message: Option<Delivery>) {
        if let Some(message) = message
            && let Some(slot) = self.outbox.get_mut(usize::from(message.pin))
        {
            *slot = Some(message);
        }
    }

    /// The indirect register IOREGSEL selects.
    fn read_window(&self) -> u32 {
        match self.select {
            index::ID | index::ARBITRATION => u32::from(self.id) << id::SHIFT,
            index::VERSION => VERSION_VALUE,
            select => match self.selected_entry(select) {
                Some((slot, high)) => {
                    let value = self.entries[slot];
                    let shifted = if high {
                        value >> entry::HIGH_SHIFT
                    } else {
                        value
                    };
                    u32::try_from(shifted & LOW_DWORD).unwrap_or(0)
                }
                None => 0,
            },
        }
    }

    /// The entry slot and half (true = high dword) an index names.
    fn selected_entry(&self, select: u8) -> Option<(usize, bool)> {
        let relative = select.checked_sub(index::REDIRECTION_FIRST)?;
        let slot = usize::from(relative / 2);
        (slot < PIN_SLOTS).then_some((slot, relative % 2 == 1))
    }

    fn write_window(&mut self, value: u32) {
        match self.select {
            index::ID => {
                self.id = ((value >> id::SHIFT) & id::MASK).to_le_bytes()[0];
            }
            select => {
                if let Some((slot, high)) = self.selected_entry(select) {
                    self.write_entry(slot, high, value);
                }
            }
        }
    }

    fn write_entry(&mut self, slot: usize, high: bool, value: u32) {
        let old = self.entries[slot];
        let merged = if high {
            (old & LOW_DWORD) | (u64::from(value) << entry::HIGH_SHIFT)
        } else {
            (old & !LOW_DWORD) | u64::from(value)
        };
        let mut new = merged & entry::WRITABLE;
        if new.level() {
            new |= old & entry::REMOTE_IRR;
        }
        self.entries[slot] = new;
        if new.level()
            && let Ok(pin) = u8::try_from(slot)
        {
            let message = self.evaluate(pin);
            self.post(message);
        }
    }

    /// The register dword at page offset `dword` (reads have no side effects).
    fn read_dword(&self, dword: u64) -> u32 {
        match dword {
            offset::IOREGSEL => u32::from(self.select),
            offset::IOWIN => self.read_window(),
            _ => 0,
        }
    }

    fn page_offset(&self, addr: Gpa, index: usize) -> Option<u64> {
        let addr = addr.checked_add(u64::try_from(index).ok()?)?;
        let offset = addr.checked_sub(self.page.first())?;
        (offset < offset::SIZE).then_some(offset)
    }
}

impl Device for IoApic {
    fn name(&self) -> &str {
        "ioapic"
    }

    /// Claims the I/O APIC's page.
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        match ctx.claim(Region::Mmio(self.page)) {
            Ok(()) => self.claimed = true,
            Err(ClaimError::Unsupported) => {}
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }

    fn power_on(&mut self, _ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.reset();
        Ok(())
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        if self.claimed {
            ctx.release(Region::Mmio(self.page))?;
            self.claimed = false;
        }
        Ok(())
    }

    fn mmio_read(&mut self, _ctx: &mut dyn DeviceContext, addr: Gpa, data: &mut [u8]) {
        for (index, byte) in data.iter_mut().enumerate() {
            *byte = match self.page_offset(addr, index) {
                None => OPEN_BUS,
                Some(page_offset) => {
                    let within = page_offset % offset::REGISTER_BYTES;
                    let value = self.read_dword(page_offset - within);
                    (value >> (within * BITS_PER_BYTE)).to_le_bytes()[0]
                }
            };
        }
    }

    fn mmio_write(&mut self, _ctx: &mut dyn DeviceContext, addr: Gpa, data: &[u8]) {
        let Some(page_offset) = self.page_offset(addr, 0) else {
            return;
        };
        let mut bytes = [0u8; 4];
        let dword = match data.len() {
            1 | 2 | 4 => {
                bytes[..data.len()].copy_from_slice(data);
                u32::from_le_bytes(bytes)
            }
            _ => {
                self.counters.malformed_accesses =
                    self.counters.malformed_accesses.saturating_add(1);
                return;
            }
        };
        match (page_offset, data.len()) {
            (offset::IOREGSEL, _) => {
                self.select = (dword & index::SELECT_MASK).to_le_bytes()[0];
            }
            (offset::IOWIN, 4) => self.write_window(dword),
            (offset::EOI, 4) => {
                for message in self.eoi(dword.to_le_bytes()[0]) {
                    self.post(Some(message));
                }
            }
            _ => {
                self.counters.malformed_accesses =
                    self.counters.malformed_accesses.saturating_add(1);
            }
        }
    }
}
