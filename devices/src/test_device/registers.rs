//! The MMIO test device's register block: offsets, widths and the values each register holds
//! (the layout table is in the parent module's docs). Registers are little-endian and may be
//! accessed at any width and alignment: an access is split into the bytes it covers, and each
//! register it touches is read, merged with the written bytes and written back as a whole, so
//! a 4-byte write of the 8-byte DMA address changes only its low half and a write that spans
//! two registers writes both.

use crate::interface::IrqLine;

/// First offset of the register block; everything below it is RAM-like scratch.
pub const BLOCK_OFFSET: usize = 0xF00;
/// DMA target, guest-physical (8 bytes, read/write).
pub const DMA_ADDRESS: usize = 0xF00;
/// DMA length in bytes (4 bytes, read/write); 1..=[`MAX_DMA_LENGTH`] is accepted at START.
pub const DMA_LENGTH: usize = 0xF08;
/// Seed of the DMA pattern (4 bytes, read/write).
pub const DMA_SEED: usize = 0xF0C;
/// The interrupt line the device drives (4 bytes, read/write, default [`DEFAULT_IRQ_LINE`]).
pub const IRQ_LINE: usize = 0xF10;
/// Control (4 bytes, write; reads 0): [`CONTROL_START`] starts a transfer.
pub const CONTROL: usize = 0xF14;
/// Status of the last transfer (4 bytes, read; any write acknowledges: back to
/// [`STATUS_IDLE`], completion interrupt withdrawn).
pub const STATUS: usize = 0xF18;
/// Level interrupt (4 bytes, read/write): bit 0 set holds the line asserted until cleared.
pub const LEVEL_IRQ: usize = 0xF1C;
/// Rising edges the device has driven on its line since power-on (4 bytes, read-only,
/// saturating).
pub const IRQ_COUNT: usize = 0xF20;
/// Transfers that completed with [`STATUS_DONE`] since power-on (4 bytes, read-only,
/// saturating).
pub const DMA_DONE_COUNT: usize = 0xF24;

/// CONTROL bit 0: run a transfer now.
pub const CONTROL_START: u64 = 1 << 0;
/// LEVEL_IRQ bit 0: hold the line asserted.
pub const LEVEL_IRQ_ASSERT: u64 = 1 << 0;

/// STATUS: no transfer since power-on or the last acknowledge. (A transfer is "busy" only
/// inside the START write: the guest never reads that state.)
pub const STATUS_IDLE: u32 = 0;
/// STATUS: the pattern was written to guest RAM.
pub const STATUS_DONE: u32 = 1;
/// STATUS: some byte of the target range is not guest RAM; nothing was written.
pub const STATUS_DMA_ERROR: u32 = 2;
/// STATUS: DMA_LENGTH was 0 or above [`MAX_DMA_LENGTH`]; nothing was written.
pub const STATUS_BAD_LENGTH: u32 = 3;
/// STATUS: the VMM refused the bounce buffer (operation 16); nothing was written.
pub const STATUS_NO_MEMORY: u32 = 4;

/// The longest transfer: the cap on the bounce buffer the device allocates.
pub const MAX_DMA_LENGTH: u32 = 64 * 1024;
/// The line after power-on: ISA IRQ 5, free on the PC this VMM builds.
pub const DEFAULT_IRQ_LINE: IrqLine = IrqLine(5);
/// Lines the device can drive: the ISA lines 0–15 (routed to the 8259A pair) ...
pub const ISA_LINES: u32 = 16;
/// ... except the master's cascade input.
pub const CASCADE_LINE: u32 = 2;

/// One register of the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    DmaAddress,
    DmaLength,
    DmaSeed,
    IrqLine,
    Control,
    Status,
    LevelIrq,
    IrqCount,
    DmaDoneCount,
}

/// Every register with its offset and width in bytes, in address order.
pub const LAYOUT: [(Register, usize, usize); 9] = [
    (Register::DmaAddress, DMA_ADDRESS, 8),
    (Register::DmaLength, DMA_LENGTH, 4),
    (Register::DmaSeed, DMA_SEED, 4),
    (Register::IrqLine, IRQ_LINE, 4),
    (Register::Control, CONTROL, 4),
    (Register::Status, STATUS, 4),
    (Register::LevelIrq, LEVEL_IRQ, 4),
    (Register::IrqCount, IRQ_COUNT, 4),
    (Register::DmaDoneCount, DMA_DONE_COUNT, 4),
];

/// The register covering window offset `offset`, with the byte's index inside it.
pub fn locate(offset: usize) -> Option<(Register, usize)> {
    LAYOUT.iter().find_map(|&(register, start, width)| {
        let index = offset.checked_sub(start)?;
        (index < width).then_some((register, index))
    })
}

/// Whether the device may drive `line`: an ISA line other than the cascade input.
pub const fn is_drivable_line(line: u64) -> bool {
    line < ISA_LINES as u64 && line != CASCADE_LINE as u64
}

/// The stored values of the read/write registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programmed {
    pub dma_address: u64,
    pub dma_length: u32,
    pub dma_seed: u32,
    pub irq_line: IrqLine,
}

impl Programmed {
    /// The power-on values: everything 0, the line [`DEFAULT_IRQ_LINE`].
    pub const fn power_on() -> Self {
        Programmed {
            dma_address: 0,
            dma_length: 0,
            dma_seed: 0,
            irq_line: DEFAULT_IRQ_LINE,
        }
    }
}

/// Replaces bytes `first..first + bytes.len()` of the little-endian `value` (bytes past its
/// eighth are ignored).
pub fn merge_bytes(value: u64, first: usize, bytes: &[u8]) -> u64 {
    let mut all = value.to_le_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if let Some(slot) = first.checked_add(index).and_then(|i| all.get_mut(i)) {
            *slot = *byte;
        }
    }
    u64::from_le_bytes(all)
}

/// Byte `index` of the little-endian `value` (0 past its eighth).
pub fn byte_of(value: u64, index: usize) -> u8 {
    value.to_le_bytes().get(index).copied().unwrap_or(0)
}
