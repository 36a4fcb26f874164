//! The 8259A interrupt-controller pair as the guests program it (Intel 8259A datasheet, order
//! 231468: ICW1–ICW4, OCW1–OCW3; Intel PIIX4 datasheet: ELCR at 0x4D0/0x4D1).
//!
//! [`init`] puts the master's vectors at 0x20–0x27 and the slave's at 0x28–0x2F (the kit's
//! external gates, [`crate::idt::EXTERNAL_VECTOR_BASE`]), cascaded on IR2, 8086 mode, normal
//! EOI, every line masked. Lines are then unmasked one by one; unmasking a slave line unmasks
//! the cascade too. Handlers end with [`eoi`].

use crate::interrupts;
use crate::port::{inb, outb};

/// Master command port (ICW1, OCW2, OCW3).
pub const MASTER_COMMAND: u16 = 0x20;
/// Master data port (ICW2–4, OCW1 = IMR).
pub const MASTER_DATA: u16 = 0x21;
/// Slave command port.
pub const SLAVE_COMMAND: u16 = 0xA0;
/// Slave data port.
pub const SLAVE_DATA: u16 = 0xA1;
/// Edge/level control of IRQ 0–7 (bit n = IRQ n level-triggered).
pub const ELCR_MASTER: u16 = 0x4D0;
/// Edge/level control of IRQ 8–15.
pub const ELCR_SLAVE: u16 = 0x4D1;

/// The master's vector base (IRQ 0 → 0x20).
pub const MASTER_VECTOR_BASE: u8 = 0x20;
/// The slave's vector base (IRQ 8 → 0x28).
pub const SLAVE_VECTOR_BASE: u8 = 0x28;
/// The master input the slave is wired to.
pub const CASCADE_IRQ: u8 = 2;
/// Lines per chip.
const LINES_PER_CHIP: u8 = 8;
/// Lines of the pair.
pub const LINES: u8 = 16;

/// ICW1: initialisation, edge-triggered, cascaded, ICW4 follows.
const ICW1_INIT_WITH_ICW4: u8 = 0x11;
/// ICW3 of the master: a slave on IR2.
const ICW3_MASTER_SLAVE_ON_IR2: u8 = 1 << CASCADE_IRQ;
/// ICW3 of the slave: its cascade identity, 2.
const ICW3_SLAVE_ID: u8 = CASCADE_IRQ;
/// ICW4: 8086/88 mode, normal EOI.
const ICW4_8086: u8 = 0x01;
/// OCW2: non-specific EOI.
const OCW2_EOI: u8 = 0x20;
/// OCW3: read the IRR on the next command-port read.
const OCW3_READ_IRR: u8 = 0x0A;
/// OCW3: read the ISR on the next command-port read.
const OCW3_READ_ISR: u8 = 0x0B;
/// OCW1: every line masked.
const MASK_ALL: u8 = 0xFF;

/// A line number outside 0–15.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuchIrq(pub u8);

/// The vector IRQ `irq` arrives on after [`init`].
pub const fn vector(irq: u8) -> u8 {
    if irq < LINES_PER_CHIP {
        MASTER_VECTOR_BASE + irq
    } else {
        SLAVE_VECTOR_BASE + (irq % LINES_PER_CHIP)
    }
}

/// Initialises both chips (ICW1–ICW4): vectors 0x20/0x28, cascade on IR2, all lines masked,
/// ELCR all edge.
pub fn init() {
    interrupts::without(|| {
        outb(MASTER_COMMAND, ICW1_INIT_WITH_ICW4);
        outb(SLAVE_COMMAND, ICW1_INIT_WITH_ICW4);
        outb(MASTER_DATA, MASTER_VECTOR_BASE);
        outb(SLAVE_DATA, SLAVE_VECTOR_BASE);
        outb(MASTER_DATA, ICW3_MASTER_SLAVE_ON_IR2);
        outb(SLAVE_DATA, ICW3_SLAVE_ID);
        outb(MASTER_DATA, ICW4_8086);
        outb(SLAVE_DATA, ICW4_8086);
        outb(MASTER_DATA, MASK_ALL);
        outb(SLAVE_DATA, MASK_ALL);
        outb(ELCR_MASTER, 0);
        outb(ELCR_SLAVE, 0);
    });
}

/// The data (IMR) port and bit of `irq`.
fn mask_port_and_bit(irq: u8) -> Result<(u16, u8), NoSuchIrq> {
    match irq {
        0..=7 => Ok((MASTER_DATA, 1 << irq)),
        8..=15 => Ok((SLAVE_DATA, 1 << (irq - LINES_PER_CHIP))),
        _ => Err(NoSuchIrq(irq)),
    }
}

/// Lets `irq` through (clears its IMR bit; for a slave line, the cascade's too).
pub fn unmask(irq: u8) -> Result<(), NoSuchIrq> {
    let (port, bit) = mask_port_and_bit(irq)?;
    interrupts::without(|| {
        outb(port, inb(port) & !bit);
        if irq >= LINES_PER_CHIP {
            outb(MASTER_DATA, inb(MASTER_DATA) & !(1 << CASCADE_IRQ));
        }
    });
    Ok(())
}

/// Masks `irq` (sets its IMR bit).
pub fn mask(irq: u8) -> Result<(), NoSuchIrq> {
    let (port, bit) = mask_port_and_bit(irq)?;
    interrupts::without(|| outb(port, inb(port) | bit));
    Ok(())
}

/// Makes `irq` level- (`true`) or edge-triggered through the ELCR.
pub fn set_level_triggered(irq: u8, level: bool) -> Result<(), NoSuchIrq> {
    let (port, bit) = match irq {
        0..=7 => (ELCR_MASTER, 1 << irq),
        8..=15 => (ELCR_SLAVE, 1 << (irq - LINES_PER_CHIP)),
        _ => return Err(NoSuchIrq(irq)),
    };
    interrupts::without(|| {
        let elcr = inb(port);
        outb(port, if level { elcr | bit } else { elcr & !bit });
    });
    Ok(())
}

/// The ELCR pair as IRQ bits (bit n = IRQ n level-triggered).
pub fn elcr() -> u16 {
    u16::from_le_bytes([inb(ELCR_MASTER), inb(ELCR_SLAVE)])
}

/// Ends the interrupt of `irq`: a non-specific EOI to the slave (for IRQ 8–15) and the master.
pub fn eoi(irq: u8) {
    if irq >= LINES_PER_CHIP {
        outb(SLAVE_COMMAND, OCW2_EOI);
    }
    outb(MASTER_COMMAND, OCW2_EOI);
}

/// Reads a register selected by OCW3 from both chips, as IRQ bits.
fn read_both(ocw3: u8) -> u16 {
    interrupts::without(|| {
        outb(MASTER_COMMAND, ocw3);
        outb(SLAVE_COMMAND, ocw3);
        u16::from_le_bytes([inb(MASTER_COMMAND), inb(SLAVE_COMMAND)])
    })
}

/// The interrupt request registers (bit n = IRQ n requested).
pub fn irr() -> u16 {
    read_both(OCW3_READ_IRR)
}

/// The in-service registers (bit n = IRQ n in service).
pub fn isr() -> u16 {
    read_both(OCW3_READ_ISR)
}
