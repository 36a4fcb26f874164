//! A reusable type-0 configuration space (PCI Local Bus Specification 3.0, §6.1–6.2) for PCI
//! device models: identity registers, command/status, six BARs with sizing, interrupt line/pin.
//!
//! Each byte of the 256-byte conventional space has a write mask and a write-1-to-clear mask,
//! so byte, word and dword accesses at any offset behave alike and read-only bits stay put.
//! The PCI Express extended space (256–4095) reads zero: no extended capabilities.
//!
//! The command register's I/O-space and memory-space bits drive the bus: when a bit turns on,
//! each BAR of that kind claims its programmed range through the [`DeviceContext`]; when it
//! turns off, the claim is released; a BAR moved while enabled is released and re-claimed at
//! the new address. A claim the bus refuses (overlap with another device, or a range past the
//! end of the address space) leaves that BAR not decoding and is counted in
//! [`ConfigSpace::claim_failures`]; it is retried on the next relevant write.
//!
//! # Threat note
//! The guest controls the offset (0–4095), size (1/2/4/8) and value of every configuration
//! write. Offsets are bounds-checked per byte; only masked bits change; BAR addresses are
//! masked to their implemented bits, so I/O BARs name 16-bit ports and sizes are fixed by the
//! model. BAR programming can only claim or release the function's own BAR ranges; overlap
//! with other devices is refused by the bus. Nothing here allocates.

use crate::interface::{Bdf, ClaimError, DeviceContext, Region};
use crate::pci::bar::{Bar, BarError, check_slot};
use crate::pci::regs::*;

/// The interrupt pin a function uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptPin {
    None = 0,
    IntA = 1,
    IntB = 2,
    IntC = 3,
    IntD = 4,
}

/// The read-only identity and initial values of a type-0 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub vendor_id: u16,
    pub device_id: u16,
    pub revision: u8,
    /// Base class, sub-class and programming interface.
    pub class: (u8, u8, u8),
    /// Sets header-type bit 7 (function 0 of a multi-function device).
    pub multi_function: bool,
    pub subsystem_vendor_id: u16,
    pub subsystem_id: u16,
    pub interrupt_pin: InterruptPin,
    /// Read-only status bits (e.g. [`STATUS_FAST_BACK_TO_BACK`]).
    pub status: u16,
    /// The command register after reset.
    pub command: u16,
}

/// One function's configuration space and BAR decoding state.
#[derive(Debug, Clone)]
pub struct ConfigSpace {
    bdf: Bdf,
    bytes: [u8; CONVENTIONAL_BYTES],
    writable: [u8; CONVENTIONAL_BYTES],
    clear_on_write: [u8; CONVENTIONAL_BYTES],
    reset_bytes: [u8; CONVENTIONAL_BYTES],
    /// The BAR starting at each register (the upper half of a 64-bit BAR holds `None`).
    bars: [Option<Bar>; BAR_COUNT],
    /// What each BAR has claimed on the bus now.
    decoded: [Option<Region>; BAR_COUNT],
    claim_failures: u64,
}

/// Command bits a function implements whatever its BARs.
const COMMAND_ALWAYS_WRITABLE: u16 =
    COMMAND_BUS_MASTER | COMMAND_PARITY_ERROR_RESPONSE | COMMAND_SERR | COMMAND_INTERRUPT_DISABLE;
const BYTE_MASK: u8 = 0xFF;

impl ConfigSpace {
    /// A function at `bdf` with `header` and `bars` (`(register index, bar)`).
    pub fn new(bdf: Bdf, header: &Header, bars: &[(usize, Bar)]) -> Result<Self, BarError> {
        let mut space = Self::without_bars(bdf, header);
        for &(index, bar) in bars {
            space.add_bar(index, bar)?;
        }
        Ok(space)
    }

    /// A function at `bdf` with `header` and no BARs.
    pub fn without_bars(bdf: Bdf, header: &Header) -> Self {
        let mut space = ConfigSpace {
            bdf,
            bytes: [0; CONVENTIONAL_BYTES],
            writable: [0; CONVENTIONAL_BYTES],
            clear_on_write: [0; CONVENTIONAL_BYTES],
            reset_bytes: [0; CONVENTIONAL_BYTES],
            bars: [None; BAR_COUNT],
            decoded: [None; BAR_COUNT],
            claim_failures: 0,
        };
        space.put16(VENDOR_ID, header.vendor_id);
        space.put16(DEVICE_ID, header.device_id);
        space.put8(REVISION_ID, header.revision);
        let (class, subclass, prog_if) = header.class;
        space.put8(CLASS, class);
        space.put8(SUBCLASS, subclass);
        space.put8(PROG_IF, prog_if);
        let header_type = if header.multi_function {
            HEADER_TYPE_GENERAL | HEADER_TYPE_MULTI_FUNCTION
        } else {
            HEADER_TYPE_GENERAL
        };
        space.put8(HEADER_TYPE, header_type);
        space.put16(SUBSYSTEM_VENDOR_ID, header.subsystem_vendor_id);
        space.put16(SUBSYSTEM_ID, header.subsystem_id);
        space.put8(INTERRUPT_PIN, header.interrupt_pin as u8);
        space.put16(STATUS, header.status);
        space.put16(COMMAND, header.command);
        space.allow16(COMMAND, COMMAND_ALWAYS_WRITABLE);
        let status = usize::from(STATUS);
        space.clear_on_write[status..status + 2].copy_from_slice(&STATUS_ERRORS_W1C.to_le_bytes());
        for register in [CACHE_LINE_SIZE, LATENCY_TIMER, INTERRUPT_LINE] {
            space.writable[usize::from(register)] = BYTE_MASK;
        }
        space.reset_bytes = space.bytes;
        space
    }

    /// Defines BAR `index` (0–5; a 64-bit BAR also takes `index + 1`). Its register resets to
    /// address zero, and the command register's matching enable bit becomes writable.
    pub fn add_bar(&mut self, index: usize, bar: Bar) -> Result<(), BarError> {
        let mut used = [false; BAR_COUNT];
        for (i, existing) in self.bars.iter().enumerate() {
            if let Some(existing) = existing {
                for register in used.iter_mut().skip(i).take(existing.registers()) {
                    *register = true;
                }
            }
        }
        check_slot(&used, index, &bar)?;
        self.bars[index] = Some(bar);
        let register = bar_offset(index);
        let mask = bar.address_mask();
        self.put32(register, bar.flags());
        self.allow32(register, mask as u32 & !flag_bits(&bar));
        if bar.registers() == 2 {
            self.put32(register + BAR_BYTES, 0);
            self.allow32(register + BAR_BYTES, (mask >> 32) as u32);
        }
        let enable = if bar.is_io() {
            COMMAND_IO_SPACE
        } else {
            COMMAND_MEMORY_SPACE
        };
        let command_writable = u16::from_le_bytes([
            self.writable[usize::from(COMMAND)],
            self.writable[usize::from(COMMAND) + 1],
        ]) | enable;
        self.allow16(COMMAND, command_writable);
        self.reset_bytes = self.bytes;
        Ok(())
    }

    /// The function's address.
    pub fn bdf(&self) -> Bdf {
        self.bdf
    }

    /// Claims the function's configuration space on the bus (call from `Device::install`).
    pub fn install(&self, ctx: &mut dyn DeviceContext) -> Result<(), ClaimError> {
        ctx.claim(Region::Pci(self.bdf))
    }

    /// Makes bytes of a device-specific register (offset 0x40 and up) guest-writable.
    /// Offsets past the conventional space are ignored.
    pub fn allow_writes(&mut self, offset: u16, mask: &[u8]) {
        for (i, m) in mask.iter().enumerate() {
            if let Some(byte) = self.writable.get_mut(usize::from(offset) + i) {
                *byte = *m;
            }
        }
    }

    /// Operation 8 for a model: reads `data.len()` bytes at `offset`.
    pub fn read(&self, offset: u16, data: &mut [u8]) {
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = self
                .bytes
                .get(usize::from(offset) + i)
                .copied()
                .unwrap_or(0);
        }
    }

    /// Operation 9 for a model: writes `data` at `offset` through the masks, then updates the
    /// BARs' claims if the command register or a BAR changed.
    pub fn write(&mut self, ctx: &mut dyn DeviceContext, offset: u16, data: &[u8]) {
        let start = usize::from(offset);
        for (i, value) in data.iter().enumerate() {
            let at = start + i;
            let (Some(byte), Some(writable), Some(clear)) = (
                self.bytes.get_mut(at),
                self.writable.get(at),
                self.clear_on_write.get(at),
            ) else {
                break;
            };
            *byte = ((*byte & !writable) | (value & writable)) & !(value & clear);
        }
        let end = start + data.len();
        let touches = |register: u16, len: usize| {
            let first = usize::from(register);
            start < first + len && first < end
        };
        let bars_bytes = BAR_COUNT * usize::from(BAR_BYTES);
        if touches(COMMAND, 2) || touches(BAR0, bars_bytes) {
            self.update_decoding(ctx);
        }
    }

    /// Back to the reset values (command zeroed as the header says, BARs at zero), releasing
    /// whatever the BARs claimed. Call from `Device::power_on`.
    pub fn reset(&mut self, ctx: &mut dyn DeviceContext) {
        self.bytes = self.reset_bytes;
        self.update_decoding(ctx);
    }

    /// The command register.
    pub fn command(&self) -> u16 {
        self.get16(COMMAND)
    }

    /// Sets or clears status bit 3 (INTx# pending), which the model drives.
    pub fn set_interrupt_status(&mut self, pending: bool) {
        let status = self.get16(STATUS);
        let status = if pending {
            status | STATUS_INTERRUPT
        } else {
            status & !STATUS_INTERRUPT
        };
        self.put16(STATUS, status);
    }

    /// The guest-programmed address of BAR `index` (flags masked off).
    pub fn bar_address(&self, index: usize) -> Option<u64> {
        let bar = self.bars.get(index).copied().flatten()?;
        let register = bar_offset(index);
        let low = u64::from(self.get32(register) & !flag_bits(&bar));
        let high = if bar.registers() == 2 {
            u64::from(self.get32(register + BAR_BYTES))
        } else {
            0
        };
        Some(high << 32 | low)
    }

    /// What BAR `index` decodes on the bus now.
    pub fn decoded(&self, index: usize) -> Option<Region> {
        self.decoded.get(index).copied().flatten()
    }

    /// Which BAR decodes I/O port `port`, and the offset into it.
    pub fn find_io(&self, port: u16) -> Option<(usize, u64)> {
        self.decoded
            .iter()
            .enumerate()
            .find_map(|(i, region)| match region {
                Some(Region::Pio(range)) if range.contains(port) => {
                    Some((i, u64::from(port - range.first())))
                }
                _ => None,
            })
    }

    /// Which BAR decodes guest-physical `addr`, and the offset into it.
    pub fn find_memory(&self, addr: u64) -> Option<(usize, u64)> {
        self.decoded
            .iter()
            .enumerate()
            .find_map(|(i, region)| match region {
                Some(Region::Mmio(range)) if range.contains(addr) => {
                    Some((i, addr - range.first()))
                }
                _ => None,
            })
    }

    /// BAR claims the bus refused so far.
    pub fn claim_failures(&self) -> u64 {
        self.claim_failures
    }

    /// Brings the bus claims in line with the command register and BAR values: first releases
    /// every claim that changed, then claims the new ranges (so BARs may swap places).
    fn update_decoding(&mut self, ctx: &mut dyn DeviceContext) {
        let command = self.command();
        let mut wanted = [None; BAR_COUNT];
        for (index, want) in wanted.iter_mut().enumerate() {
            let Some(bar) = self.bars[index] else {
                continue;
            };
            let enable = if bar.is_io() {
                COMMAND_IO_SPACE
            } else {
                COMMAND_MEMORY_SPACE
            };
            if command & enable != 0 {
                *want = self
                    .bar_address(index)
                    .and_then(|address| bar.region(address));
            }
        }
        for (index, want) in wanted.iter().enumerate() {
            if self.decoded[index] != *want
                && let Some(old) = self.decoded[index].take()
            {
                // The claim was made through this function's context; a refusal means the bus
                // already dropped it, which is the state wanted.
                let _ = ctx.release(old);
            }
        }
        for (index, want) in wanted.iter().enumerate() {
            if self.decoded[index].is_none()
                && let Some(region) = *want
            {
                match ctx.claim(region) {
                    Ok(()) => self.decoded[index] = Some(region),
                    Err(_) => self.claim_failures = self.claim_failures.saturating_add(1),
                }
            }
        }
    }

    fn put8(&mut self, offset: u16, value: u8) {
        self.bytes[usize::from(offset)] = value;
    }
    fn put16(&mut self, offset: u16, value: u16) {
        let at = usize::from(offset);
        self.bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }
    fn put32(&mut self, offset: u16, value: u32) {
        let at = usize::from(offset);
        self.bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }
    fn allow16(&mut self, offset: u16, mask: u16) {
        let at = usize::from(offset);
        self.writable[at..at + 2].copy_from_slice(&mask.to_le_bytes());
    }
    fn allow32(&mut self, offset: u16, mask: u32) {
        let at = usize::from(offset);
        self.writable[at..at + 4].copy_from_slice(&mask.to_le_bytes());
    }
    fn get16(&self, offset: u16) -> u16 {
        let at = usize::from(offset);
        u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]])
    }
    fn get32(&self, offset: u16) -> u32 {
        let at = usize::from(offset);
        u32::from_le_bytes([
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ])
    }
}

/// Offset of BAR register `index` (0–5).
fn bar_offset(index: usize) -> u16 {
    // `index` < BAR_COUNT = 6, so the product is at most 20.
    BAR0 + BAR_BYTES * index as u16
}

/// The low bits of `bar`'s register that are not address.
fn flag_bits(bar: &Bar) -> u32 {
    if bar.is_io() {
        BAR_IO_FLAG_BITS
    } else {
        BAR_MEMORY_FLAG_BITS
    }
}
