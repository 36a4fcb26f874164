//! The MMIO test device: a 4 KiB window at guest-physical 0xFEB0_0000 by default whose low
//! part is byte-addressable scratch that behaves like RAM (platform contract, "Devices every VM
//! has": "reads return what was written, initially 0, for any access width") and whose top
//! holds a small DMA engine with an interrupt line.
//!
//! It exists to test the hypervisor end to end: the MMIO path (a test guest runs every decoded
//! instruction form once against a RAM buffer and once against the scratch and compares the
//! results, so any difference is an emulation bug, not a device quirk), DMA into guest RAM
//! (operations 5–6, 16–17) and interrupt delivery, edge- and level-triggered (operation 7). It
//! is no hardware's datasheet; the layout below is its whole specification.
//!
//! # Layout (offsets from the base; little-endian; any width and alignment)
//! | offset | width | name | access |
//! |---|---|---|---|
//! | 0x000–0xEFF | — | scratch | read/write, behaves like RAM |
//! | 0xF00 | 8 | DMA_ADDRESS | read/write: guest-physical target |
//! | 0xF08 | 4 | DMA_LENGTH | read/write: bytes, 1..=[`MAX_DMA_LENGTH`] at START |
//! | 0xF0C | 4 | DMA_SEED | read/write: seed of the pattern ([`dma`] documents it) |
//! | 0xF10 | 4 | IRQ_LINE | read/write: ISA line 0–15 except 2, default 5; other values are ignored |
//! | 0xF14 | 4 | CONTROL | write: bit 0 START; reads 0 |
//! | 0xF18 | 4 | STATUS | read: 0 idle, 1 done, 2 DMA error, 3 bad length, 4 no memory; write: acknowledge |
//! | 0xF1C | 4 | LEVEL_IRQ | read/write: bit 0 holds the line asserted |
//! | 0xF20 | 4 | IRQ_COUNT | read: rising edges driven since power-on |
//! | 0xF24 | 4 | DMA_DONE_COUNT | read: transfers that completed since power-on |
//! | 0xF28–0xFFF | — | reserved | reads 0, writes ignored |
//!
//! # Behaviour
//! - **Install** claims its [`MmioRange`] ([`SIZE`] bytes from the base) through the context;
//!   **remove** releases it (and lowers the line if the device still drives it).
//! - **Power-on** is the reset state: scratch all 0, registers at their defaults (line 5),
//!   counters 0, line low. **Power-off** lowers the line.
//! - **Scratch** reads copy the addressed bytes (byte `addr + i` is `data[i]`), writes store
//!   them. Each access counts once in [`TestDevice::reads`] or [`TestDevice::writes`]
//!   (saturating).
//! - **START** (a CONTROL write with bit 0 set) withdraws any earlier completion interrupt, then
//!   runs one transfer synchronously ([`dma::transfer`]): it allocates a DMA_LENGTH-byte bounce
//!   buffer from the VMM, fills it with the pattern of DMA_SEED, writes it to DMA_ADDRESS with
//!   one DMA write (the VMM checks the whole range first: a range that is not all guest RAM
//!   writes nothing and ends with status 2) and frees the buffer. Then STATUS reports the
//!   outcome and the completion interrupt is raised: the line goes high and stays high until
//!   the guest acknowledges by writing STATUS (or starts the next transfer). Withdrawing before
//!   each transfer gives an edge-triggered controller one fresh edge per transfer; holding the
//!   line until acknowledged lets a level-triggered one see it too.
//! - **LEVEL_IRQ** bit 0 holds the line asserted until it is written 0 (for level-triggered
//!   tests: the source stays active while the guest's handler does not clear it).
//! - **The line** is high while LEVEL_IRQ is set or a completion is unacknowledged; the device
//!   calls `set_irq` only on a change, and counts each rising edge in IRQ_COUNT. Writing
//!   IRQ_LINE while the line is high moves the assertion: the old line is lowered, the new
//!   one raised.
//! - A scratch access that crosses into the register block is split byte-wise: its scratch
//!   bytes act as RAM, its register bytes as register accesses. An access that crosses the end
//!   of the window is split byte-wise by the bus (its bytes past the end are unclaimed). Called
//!   directly with bytes outside its window, the device reads them as all-ones and drops their
//!   writes, like the bus would.
//!
//! # Threat note
//! The guest controls the address, width and data of every access and every register value.
//! Offsets come from `checked_sub` against the base and are bounds-checked against the fixed
//! [`SIZE`]-byte window. The DMA length is checked against [`MAX_DMA_LENGTH`] before the bounce
//! buffer is allocated (so a guest can make the VMM lend at most 64 KiB, and only for the
//! duration of one MMIO write); the target address is checked by the VMM's DMA path, never
//! dereferenced here. Only drivable ISA lines are accepted. Counters saturate; nothing else
//! grows.

pub mod dma;
pub mod registers;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dma;

use alloc::boxed::Box;

use registers::{
    BLOCK_OFFSET, CONTROL_START, LAYOUT, LEVEL_IRQ_ASSERT, Programmed, Register, STATUS_IDLE,
    byte_of, is_drivable_line, locate, merge_bytes,
};

pub use registers::{DEFAULT_IRQ_LINE, MAX_DMA_LENGTH};

use crate::interface::{
    Device, DeviceContext, DeviceError, Gpa, IrqLine, MmioRange, RangeError, Region,
};

/// Where the platform contract puts the device.
pub const DEFAULT_BASE: Gpa = 0xFEB0_0000;
/// Bytes of the window (one 4 KiB page).
pub const SIZE: usize = 4096;
/// Bytes of RAM-like scratch at the bottom of the window.
pub const SCRATCH_SIZE: usize = BLOCK_OFFSET;
/// What a byte outside the window reads as when the device is called with it directly.
const OPEN_BUS: u8 = 0xFF;
/// What a reserved register byte reads as.
const RESERVED: u8 = 0;

/// The MMIO test device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDevice {
    range: MmioRange,
    bytes: Box<[u8; SCRATCH_SIZE]>,
    reads: u64,
    writes: u64,
    programmed: Programmed,
    status: u32,
    /// A transfer ended and the guest has not acknowledged it.
    completion_pending: bool,
    /// LEVEL_IRQ bit 0.
    level_held: bool,
    /// The line the device is driving high now, if any.
    driven: Option<IrqLine>,
    irq_count: u32,
    dma_done_count: u32,
}

impl TestDevice {
    /// The device at `base`; refuses a window that would run past the top of the address space.
    pub fn new(base: Gpa) -> Result<Self, RangeError> {
        Ok(TestDevice {
            range: MmioRange::new(base, SIZE as u64)?,
            bytes: Box::new([0; SCRATCH_SIZE]),
            reads: 0,
            writes: 0,
            programmed: Programmed::power_on(),
            status: STATUS_IDLE,
            completion_pending: false,
            level_held: false,
            driven: None,
            irq_count: 0,
            dma_done_count: 0,
        })
    }

    /// The device at [`DEFAULT_BASE`].
    pub fn at_default_base() -> Self {
        match Self::new(DEFAULT_BASE) {
            Ok(device) => device,
            Err(_) => unreachable!("0xFEB0_0000 + 4 KiB fits the address space"),
        }
    }

    /// The window it claims.
    pub const fn range(&self) -> MmioRange {
        self.range
    }

    /// The scratch part's contents (window offsets `0..SCRATCH_SIZE`).
    pub fn bytes(&self) -> &[u8; SCRATCH_SIZE] {
        &self.bytes
    }

    /// Read accesses since power-on (saturating).
    pub const fn reads(&self) -> u64 {
        self.reads
    }

    /// Write accesses since power-on (saturating).
    pub const fn writes(&self) -> u64 {
        self.writes
    }

    /// The STATUS register.
    pub const fn status(&self) -> u32 {
        self.status
    }

    /// The line the device drives (IRQ_LINE).
    pub const fn irq_line(&self) -> IrqLine {
        self.programmed.irq_line
    }

    /// Whether the device holds its line high now.
    pub const fn line_asserted(&self) -> bool {
        self.driven.is_some()
    }

    /// Rising edges driven since power-on (IRQ_COUNT).
    pub const fn irq_count(&self) -> u32 {
        self.irq_count
    }

    /// Transfers completed since power-on (DMA_DONE_COUNT).
    pub const fn dma_done_count(&self) -> u32 {
        self.dma_done_count
    }

    /// The window offset of `addr + index`, if that byte lies inside the window.
    fn offset(&self, addr: Gpa, index: usize) -> Option<usize> {
        let byte = addr.checked_add(u64::try_from(index).ok()?)?;
        let offset = usize::try_from(byte.checked_sub(self.range.first())?).ok()?;
        (offset < SIZE).then_some(offset)
    }

    /// What the line should be now.
    fn wanted_level(&self) -> bool {
        self.level_held || self.completion_pending
    }

    /// Drives the line to [`TestDevice::wanted_level`] if it is not there yet. A line the
    /// context refuses stays undriven (the device never holds a line it could not raise).
    fn update_line(&mut self, ctx: &mut dyn DeviceContext) {
        let line = self.programmed.irq_line;
        match (self.driven, self.wanted_level()) {
            (Some(driven), true) if driven == line => {}
            (Some(driven), wanted) => {
                let _ = ctx.set_irq(driven, false);
                self.driven = None;
                if wanted {
                    self.raise(ctx, line);
                }
            }
            (None, true) => self.raise(ctx, line),
            (None, false) => {}
        }
    }

    fn raise(&mut self, ctx: &mut dyn DeviceContext, line: IrqLine) {
        if ctx.set_irq(line, true).is_ok() {
            self.driven = Some(line);
            self.irq_count = self.irq_count.saturating_add(1);
        }
    }

    /// Lowers the line if the device drives it (power-off, removal).
    fn release_line(&mut self, ctx: &mut dyn DeviceContext) {
        if let Some(line) = self.driven.take() {
            let _ = ctx.set_irq(line, false);
        }
    }

    /// START: withdraw the last completion, transfer, report, interrupt.
    fn start_transfer(&mut self, ctx: &mut dyn DeviceContext) {
        self.completion_pending = false;
        self.update_line(ctx);
        let Programmed {
            dma_address,
            dma_length,
            dma_seed,
            ..
        } = self.programmed;
        let result = dma::transfer(ctx, dma_address, dma_length, dma_seed);
        if result.is_ok() {
            self.dma_done_count = self.dma_done_count.saturating_add(1);
        }
        self.status = dma::status_of(result);
        self.completion_pending = true;
        self.update_line(ctx);
    }

    /// The current value of a register, as the guest reads it.
    fn register_value(&self, register: Register) -> u64 {
        match register {
            Register::DmaAddress => self.programmed.dma_address,
            Register::DmaLength => u64::from(self.programmed.dma_length),
            Register::DmaSeed => u64::from(self.programmed.dma_seed),
            Register::IrqLine => u64::from(self.programmed.irq_line.0),
            Register::Control => 0,
            Register::Status => u64::from(self.status),
            Register::LevelIrq => u64::from(self.level_held),
            Register::IrqCount => u64::from(self.irq_count),
            Register::DmaDoneCount => u64::from(self.dma_done_count),
        }
    }

    /// A write of the whole register (after merging the bytes the access covered).
    fn write_register(&mut self, ctx: &mut dyn DeviceContext, register: Register, value: u64) {
        match register {
            Register::DmaAddress => self.programmed.dma_address = value,
            Register::DmaLength => self.programmed.dma_length = value as u32,
            Register::DmaSeed => self.programmed.dma_seed = value as u32,
            Register::IrqLine => {
                if is_drivable_line(value) {
                    self.programmed.irq_line = IrqLine(value as u8);
                    self.update_line(ctx);
                }
            }
            Register::Control => {
                if value & CONTROL_START != 0 {
                    self.start_transfer(ctx);
                }
            }
            Register::Status => {
                self.status = STATUS_IDLE;
                self.completion_pending = false;
                self.update_line(ctx);
            }
            Register::LevelIrq => {
                self.level_held = value & LEVEL_IRQ_ASSERT != 0;
                self.update_line(ctx);
            }
            Register::IrqCount | Register::DmaDoneCount => {}
        }
    }

    /// The register bytes of a write at window offsets `first..first + data.len()`: each
    /// register the access touches is written once, in address order.
    fn write_registers(&mut self, ctx: &mut dyn DeviceContext, first: usize, data: &[u8]) {
        let Some(end) = first.checked_add(data.len()) else {
            return;
        };
        for (register, start, width) in LAYOUT {
            let overlap_start = start.max(first);
            let overlap_end = (start + width).min(end);
            if overlap_start >= overlap_end {
                continue;
            }
            let (Some(source), Some(index)) = (
                data.get(overlap_start - first..overlap_end - first),
                overlap_start.checked_sub(start),
            ) else {
                continue;
            };
            let merged = merge_bytes(self.register_value(register), index, source);
            self.write_register(ctx, register, merged);
        }
    }

    /// One byte at window offset `offset` (scratch, register or reserved).
    fn read_byte(&self, offset: usize) -> u8 {
        if let Some(byte) = self.bytes.get(offset) {
            return *byte;
        }
        match locate(offset) {
            Some((register, index)) => byte_of(self.register_value(register), index),
            None => RESERVED,
        }
    }

    /// Back to the power-on state, lowering the line.
    fn reset(&mut self, ctx: &mut dyn DeviceContext) {
        self.release_line(ctx);
        self.bytes.fill(0);
        self.reads = 0;
        self.writes = 0;
        self.programmed = Programmed::power_on();
        self.status = STATUS_IDLE;
        self.completion_pending = false;
        self.level_held = false;
        self.irq_count = 0;
        self.dma_done_count = 0;
    }
}

impl Default for TestDevice {
    fn default() -> Self {
        Self::at_default_base()
    }
}

impl Device for TestDevice {
    fn name(&self) -> &str {
        "mmio-test"
    }

    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        ctx.claim(Region::Mmio(self.range))?;
        Ok(())
    }

    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.reset(ctx);
        Ok(())
    }

    fn power_off(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.release_line(ctx);
        Ok(())
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.release_line(ctx);
        ctx.release(Region::Mmio(self.range))?;
        Ok(())
    }

    fn mmio_read(&mut self, _ctx: &mut dyn DeviceContext, addr: Gpa, data: &mut [u8]) {
        self.reads = self.reads.saturating_add(1);
        for (index, byte) in data.iter_mut().enumerate() {
            *byte = match self.offset(addr, index) {
                Some(offset) => self.read_byte(offset),
                None => OPEN_BUS,
            };
        }
    }

    fn mmio_write(&mut self, ctx: &mut dyn DeviceContext, addr: Gpa, data: &[u8]) {
        self.writes = self.writes.saturating_add(1);
        // Offsets rise with the index, so the register bytes are one run at the end of the
        // in-window bytes: the scratch bytes are stored, the run is written as one access
        // (each register it touches written once).
        let mut register_run: Option<(usize, usize, usize)> = None;
        for (index, byte) in data.iter().enumerate() {
            let Some(offset) = self.offset(addr, index) else {
                continue;
            };
            if let Some(slot) = self.bytes.get_mut(offset) {
                *slot = *byte;
            } else if let Some((_, _, end)) = register_run.as_mut() {
                *end = index + 1;
            } else {
                register_run = Some((offset, index, index + 1));
            }
        }
        if let Some((first_offset, start, end)) = register_run
            && let Some(run) = data.get(start..end)
        {
            self.write_registers(ctx, first_offset, run);
        }
    }
}
