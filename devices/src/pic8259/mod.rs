//! The PC's cascaded pair of 8259A interrupt controllers (Intel 8259A datasheet, order 231468),
//! with the PIIX edge/level control registers (Intel 82371AB PIIX4 datasheet, ELCR1/ELCR2).
//!
//! # Behaviour
//! - **Ports**: master command 0x20 / data 0x21, slave command 0xA0 / data 0xA1, ELCR 0x4D0
//!   (master, IRQ 0–7) and 0x4D1 (slave, IRQ 8–15). IRQ 0, 1, 2, 8 and 13 cannot be made
//!   level-triggered (their ELCR bits read 0, as on the PIIX).
//! - **Initialisation**: a command write with bit 4 set is ICW1 (IMR, ISR and rotation cleared,
//!   edge latches reset, IRR selected for reading); ICW2 (vector base, bits 3–7), ICW3 (unless
//!   SNGL) and ICW4 (if IC4: auto-EOI, special fully nested) follow on the data port. Only
//!   8086 mode is modelled: vectors are base | level.
//! - **OCW1** is the IMR (data port). **OCW2**: non-specific and specific EOI, rotate on EOI
//!   (either), set priority, rotate in auto-EOI mode. **OCW3**: read IRR/ISR on the command port,
//!   poll command (the next read acknowledges and returns 0x80 | level, or 0), special mask mode.
//! - **Priority**: fully nested with rotation: a request is presented only if no level of equal
//!   or higher priority is in service (special mask mode ignores masked in-service levels;
//!   special fully nested mode lets the slave's cascade input interrupt its own service).
//! - **Triggering**: edge inputs latch IRR on a low→high transition and need to go low before
//!   latching again; level inputs (ELCR or ICW1.LTIM) request while high and withdraw when low.
//! - **Cascade**: the slave's INT output drives the master's IR2. An acknowledge that the master
//!   resolves to IR2 takes the vector from the slave.
//! - **Spurious interrupts**: an acknowledge with nothing to deliver returns IR7's vector
//!   (master) without setting ISR; if the master resolves IR2 but the slave's request has gone,
//!   the slave returns its IR7 (IRQ 15) vector and the master's ISR2 is still set, as on the
//!   chip. [`PicPair::take_interrupt`] is the VMM's usual path and never acknowledges spuriously.
//!
//! # Threat note
//! The guest controls every command and data byte; the VMM's devices control the input levels.
//! All state is a handful of `u8` registers: nothing grows, no index is taken from guest data
//! except 3-bit levels masked with [`command::LEVEL_MASK`], and shifts are by at most 7.
//! Out-of-range input lines from the VMM are refused with [`PicError::NoSuchLine`].

mod chip;

#[cfg(test)]
mod tests;

pub use chip::command;

use chip::{Chip, SPURIOUS_LEVEL};

use crate::interface::{Device, DeviceContext, DeviceError, PortRange};
use crate::port_claims::{claim_ports, release_ports};

/// Master command port (ICW1, OCW2, OCW3; reads IRR/ISR).
pub const MASTER_COMMAND: u16 = 0x20;
/// Master data port (ICW2–4, OCW1).
pub const MASTER_DATA: u16 = 0x21;
/// Slave command port.
pub const SLAVE_COMMAND: u16 = 0xA0;
/// Slave data port.
pub const SLAVE_DATA: u16 = 0xA1;
/// Edge/level control for IRQ 0–7.
pub const ELCR_MASTER: u16 = 0x4D0;
/// Edge/level control for IRQ 8–15.
pub const ELCR_SLAVE: u16 = 0x4D1;
/// The master input the slave is wired to.
pub const CASCADE_LINE: u8 = 2;
/// Interrupt lines of the pair (IRQ 0–15).
pub const LINES: u8 = 16;
/// ELCR bits that may be set on the master: IRQ 0, 1 and 2 are edge-only.
pub const ELCR_MASTER_CAPABLE: u8 = 0xF8;
/// ELCR bits that may be set on the slave: IRQ 8 and 13 are edge-only.
pub const ELCR_SLAVE_CAPABLE: u8 = 0xDE;
const OPEN_BUS: u8 = 0xFF;

/// Why an input could not be driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PicError {
    /// Not one of IRQ 0–15.
    NoSuchLine(u8),
    /// IRQ 2 is the cascade input: no device drives it.
    CascadeLine,
}

/// The master/slave pair.
#[derive(Debug, Clone)]
pub struct PicPair {
    master: Chip,
    slave: Chip,
    spurious: u64,
}

impl Default for PicPair {
    fn default() -> Self {
        Self::new()
    }
}

/// A snapshot of one chip's registers, for the VMM's diagnostics and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChipRegisters {
    pub request: u8,
    pub in_service: u8,
    pub mask: u8,
    pub level_triggered: u8,
    pub vector_base: u8,
}

impl PicPair {
    /// A pair in power-on state (all registers zero, not yet initialised by the guest).
    pub const fn new() -> Self {
        PicPair {
            master: Chip::new(ELCR_MASTER_CAPABLE, Some(CASCADE_LINE)),
            slave: Chip::new(ELCR_SLAVE_CAPABLE, None),
            spurious: 0,
        }
    }

    /// The ports the pair decodes, one claim each.
    pub const PORTS: [PortRange; 6] = [
        PortRange::single(MASTER_COMMAND),
        PortRange::single(MASTER_DATA),
        PortRange::single(SLAVE_COMMAND),
        PortRange::single(SLAVE_DATA),
        PortRange::single(ELCR_MASTER),
        PortRange::single(ELCR_SLAVE),
    ];

    /// Drives ISA interrupt line `line` (0–15) to `level`.
    pub fn set_irq(&mut self, line: u8, level: bool) -> Result<(), PicError> {
        match line {
            CASCADE_LINE => return Err(PicError::CascadeLine),
            0..=7 => self.master.set_input(line, level),
            8..=15 => self.slave.set_input(line - 8, level),
            _ => return Err(PicError::NoSuchLine(line)),
        }
        self.cascade();
        Ok(())
    }

    /// Whether the master's INT output is high: an interrupt awaits acknowledge.
    pub fn has_pending(&self) -> bool {
        self.master.output_level().is_some()
    }

    /// The CPU's interrupt acknowledge: returns the vector, moving the request to in-service
    /// (unless auto-EOI). With nothing pending it returns the spurious IR7 vector of the chip
    /// that had nothing (see the module docs).
    pub fn acknowledge(&mut self) -> u8 {
        let vector = match self.master.output_level() {
            Some(CASCADE_LINE) => {
                self.master.acknowledge(CASCADE_LINE);
                match self.slave.output_level() {
                    Some(level) => {
                        self.slave.acknowledge(level);
                        self.slave.vector(level)
                    }
                    None => {
                        self.spurious = self.spurious.saturating_add(1);
                        self.slave.vector(SPURIOUS_LEVEL)
                    }
                }
            }
            Some(level) => {
                self.master.acknowledge(level);
                self.master.vector(level)
            }
            None => {
                self.spurious = self.spurious.saturating_add(1);
                self.master.vector(SPURIOUS_LEVEL)
            }
        };
        self.cascade();
        vector
    }

    /// The VMM's injection path: acknowledges and returns the vector if an interrupt is pending.
    pub fn take_interrupt(&mut self) -> Option<u8> {
        self.has_pending().then(|| self.acknowledge())
    }

    /// Spurious acknowledges so far.
    pub fn spurious_count(&self) -> u64 {
        self.spurious
    }

    /// The master's registers.
    pub fn master(&self) -> ChipRegisters {
        registers(&self.master)
    }

    /// The slave's registers.
    pub fn slave(&self) -> ChipRegisters {
        registers(&self.slave)
    }

    /// Power-on reset of both chips (ELCR included).
    pub fn reset(&mut self) {
        self.master.reset();
        self.slave.reset();
        self.cascade();
    }

    /// Propagates the slave's INT output to the master's cascade input.
    fn cascade(&mut self) {
        let slave_int = self.slave.output_level().is_some();
        self.master.set_input(CASCADE_LINE, slave_int);
    }

    fn read_port(&mut self, port: u16) -> u8 {
        let value = match port {
            MASTER_COMMAND => self.master.read_command(),
            MASTER_DATA => self.master.read_data(),
            SLAVE_COMMAND => self.slave.read_command(),
            SLAVE_DATA => self.slave.read_data(),
            ELCR_MASTER => self.master.level_triggered,
            ELCR_SLAVE => self.slave.level_triggered,
            _ => OPEN_BUS,
        };
        self.cascade();
        value
    }

    fn write_port(&mut self, port: u16, value: u8) {
        match port {
            MASTER_COMMAND => self.master.write_command(value),
            MASTER_DATA => self.master.write_data(value),
            SLAVE_COMMAND => self.slave.write_command(value),
            SLAVE_DATA => self.slave.write_data(value),
            ELCR_MASTER => self.master.write_elcr(value),
            ELCR_SLAVE => self.slave.write_elcr(value),
            _ => {}
        }
        self.cascade();
    }
}

fn registers(chip: &Chip) -> ChipRegisters {
    ChipRegisters {
        request: chip.request,
        in_service: chip.in_service,
        mask: chip.mask,
        level_triggered: chip.level_triggered,
        vector_base: chip.vector_base,
    }
}

impl Device for PicPair {
    fn name(&self) -> &str {
        "pic8259"
    }

    /// Claims ports 0x20, 0x21, 0xA0, 0xA1, 0x4D0 and 0x4D1.
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        claim_ports(ctx, &Self::PORTS)
    }

    fn power_on(&mut self, _ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.reset();
        Ok(())
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        release_ports(ctx, &Self::PORTS)
    }

    fn pio_read(&mut self, _ctx: &mut dyn DeviceContext, port: u16, data: &mut [u8]) {
        for (index, byte) in data.iter_mut().enumerate() {
            *byte = match u16::try_from(index)
                .ok()
                .and_then(|index| port.checked_add(index))
            {
                Some(port) => self.read_port(port),
                None => OPEN_BUS,
            };
        }
    }

    fn pio_write(&mut self, _ctx: &mut dyn DeviceContext, port: u16, data: &[u8]) {
        for (index, value) in data.iter().enumerate() {
            if let Some(port) = u16::try_from(index)
                .ok()
                .and_then(|index| port.checked_add(index))
            {
                self.write_port(port, *value);
            }
        }
    }
}
