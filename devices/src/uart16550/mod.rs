//! A 16550A UART (National Semiconductor PC16550D datasheet), the PC's COM port, with its
//! serial line behind a [`UartBackend`].
//!
//! # Behaviour (datasheet sections in parentheses)
//! - **Registers** (table II): RBR/THR at +0, IER at +1, IIR (read)/FCR (write) at +2, LCR +3,
//!   MCR +4, LSR +5, MSR +6, SCR +7. With LCR.DLAB = 1, +0/+1 are the divisor latch.
//! - **FIFOs** (FCR): FCR bit 0 enables both 16-byte FIFOs; changing it empties them; bits 1–2
//!   clear them; bits 6–7 set the receiver trigger level (1, 4, 8, 14 bytes); the other bits are
//!   only programmed in a write that also sets bit 0. IIR bits 6–7 read 11 while enabled. With
//!   FIFOs off (16450 mode) the receiver holds one byte.
//! - **Transmitter**: the line is infinitely fast: a THR write reaches the back end (or, in
//!   loopback, the receiver) at once, so THRE and TEMT read back set. A THR write clears the
//!   THRE interrupt, which is raised again when the byte has left, so the IRQ line drops and
//!   rises (an edge per byte written, as on the chip).
//! - **Receiver**: bytes come from [`Uart16550::receive`] (the VMM injects) or from the back end,
//!   polled every [`POLL_PERIOD_NS`] while the receiver has room (so a back end is never
//!   overrun). A byte arriving at a full receiver is lost and sets LSR.OE (LSR bit 1). Bytes
//!   are cut to the programmed word length.
//! - **Character timeout** (IIR): in FIFO mode, when the receiver FIFO holds data and nothing was
//!   put in or taken out for 4 character times (start + data + parity + stop bits at the
//!   programmed baud rate, 1.8432 MHz / (16 × divisor)), IIR reports a timeout; reading RBR or a
//!   new byte clears it. Checked at every register access and poll tick.
//! - **Interrupts** (table IV), highest first: receiver line status (OE, PE, FE, BI; cleared by
//!   reading LSR) > received data at/above the trigger level, or character timeout > THR empty
//!   (cleared by reading IIR while it is the one reported, or writing THR; set again when ETBEI
//!   goes 0 → 1 with THR empty) > modem status (MSR deltas; cleared by reading MSR). The IRQ
//!   line's level is "an enabled interrupt is pending". Like QEMU and unlike a PC card, MCR.OUT2
//!   does not gate the line (every PC driver sets OUT2; simple guests may not).
//! - **Loopback** (MCR bit 4): the transmitter feeds the receiver, the external input is cut
//!   ([`ReceiveError::Loopback`]), and the modem inputs follow the outputs: CTS = RTS,
//!   DSR = DTR, RI = OUT1, DCD = OUT2, with the MSR delta bits set on change (TERI when RI
//!   goes 1 → 0).
//! - **Not modelled**: parity, framing and break conditions (the line never corrupts a byte),
//!   DMA mode signalling, transmitter timing.
//!
//! # Threat note
//! The guest controls every register write and the order and timing of every access. Nothing it
//! writes sizes a buffer: the receiver is a fixed [`FIFO_CAPACITY`]-byte ring, the back end's
//! buffers have their own caps ([`BUFFERED_CAPACITY`]). The divisor (0–65535, 0 taken as 1)
//! and word length enter the timeout arithmetic in `u64` with at most 24 half-bits × 65535 ×
//! 10^9, far from overflow. Ports outside the eight decoded ones read all-ones; offsets are
//! computed with checked arithmetic. The VMM-side input ([`Uart16550::receive`]) is bounded by
//! the same FIFO and reports overrun as a value.

mod backend;
mod fifo;
pub mod registers;

#[cfg(test)]
mod tests;

pub use backend::{BUFFERED_CAPACITY, BufferedBackend, UartBackend};
pub use fifo::FIFO_CAPACITY;

use fifo::ByteFifo;
use registers::{CLOCK_HZ, CLOCKS_PER_BIT, PORT_COUNT, fcr, ier, iir, lcr, lsr, mcr, msr, offset};

use crate::interface::{
    Device, DeviceContext, DeviceError, IrqLine, Nanos, PortRange, RangeError, TimerId,
};
use crate::port_claims::{claim_ports, release_ports};

/// How often the back end is polled for received bytes and the character timeout checked.
pub const POLL_PERIOD_NS: Nanos = 1_000_000;
/// Divisor latch value after construction: 115200 baud.
pub const DEFAULT_DIVISOR: u16 = 1;
/// Character times of silence before the FIFO timeout interrupt (datasheet: 4).
pub const TIMEOUT_CHARACTERS: u64 = 4;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
/// What a read of a port this UART does not decode returns.
const OPEN_BUS: u8 = 0xFF;

/// Where a UART sits: its eight ports and its interrupt line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UartConfig {
    /// First of the eight ports.
    pub base: u16,
    /// The interrupt line it drives.
    pub irq: IrqLine,
}

impl UartConfig {
    /// COM1: ports 0x3F8–0x3FF, IRQ 4.
    pub const COM1: UartConfig = UartConfig {
        base: 0x3F8,
        irq: IrqLine(4),
    };
    /// COM2: ports 0x2F8–0x2FF, IRQ 3.
    pub const COM2: UartConfig = UartConfig {
        base: 0x2F8,
        irq: IrqLine(3),
    };
}

/// Why a byte offered to the receiver was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveError {
    /// The receiver was full: the byte is lost and LSR.OE is set.
    Overrun,
    /// The UART is in loopback mode: its serial input is disconnected.
    Loopback,
}

/// The 16550A model. `B` is the far end of the line.
pub struct Uart16550<B: UartBackend> {
    ports: PortRange,
    irq: IrqLine,
    backend: B,
    divisor: u16,
    interrupt_enable: u8,
    line_control: u8,
    modem_control: u8,
    line_errors: u8,
    modem_lines: u8,
    modem_deltas: u8,
    scratch: u8,
    fifos_enabled: bool,
    trigger_level: usize,
    receiver: ByteFifo,
    last_received: u8,
    receiver_activity: Nanos,
    thr_empty_pending: bool,
    timeout_pending: bool,
    irq_level: bool,
    poll_timer: Option<TimerId>,
    overruns: u64,
}

impl<B: UartBackend> Uart16550<B> {
    /// A UART at `config.base` with `backend` on its line, in the datasheet's master-reset state.
    /// Refuses a base whose eight ports pass 0xFFFF.
    pub fn new(config: UartConfig, backend: B) -> Result<Self, RangeError> {
        let ports = PortRange::new(config.base, PORT_COUNT)?;
        let mut uart = Uart16550 {
            ports,
            irq: config.irq,
            backend,
            divisor: DEFAULT_DIVISOR,
            interrupt_enable: 0,
            line_control: 0,
            modem_control: 0,
            line_errors: 0,
            modem_lines: 0,
            modem_deltas: 0,
            scratch: 0,
            fifos_enabled: false,
            trigger_level: fcr::TRIGGER_LEVELS[0],
            receiver: ByteFifo::new(),
            last_received: 0,
            receiver_activity: 0,
            thr_empty_pending: false,
            timeout_pending: false,
            irq_level: false,
            poll_timer: None,
            overruns: 0,
        };
        uart.master_reset();
        Ok(uart)
    }

    /// The ports this UART decodes.
    pub fn ports(&self) -> PortRange {
        self.ports
    }

    /// The back end.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The back end, to push input or drain output.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Bytes waiting in the receiver (never above [`FIFO_CAPACITY`]).
    pub fn receiver_len(&self) -> usize {
        self.receiver.len()
    }

    /// Bytes lost to overrun since construction.
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// Whether the UART drives its interrupt line high now.
    pub fn irq_asserted(&self) -> bool {
        self.irq_level
    }

    /// The VMM puts `byte` on the serial input, as if it had just been received.
    pub fn receive(&mut self, ctx: &mut dyn DeviceContext, byte: u8) -> Result<(), ReceiveError> {
        if self.loopback() {
            return Err(ReceiveError::Loopback);
        }
        let result = self.store_received(byte, ctx.now());
        self.update_irq(ctx);
        result
    }

    /// Moves bytes from the back end into the receiver while it has room, and checks the
    /// character timeout. The poll timer calls this; the VMM may too.
    pub fn poll(&mut self, ctx: &mut dyn DeviceContext) {
        let now = ctx.now();
        if !self.loopback() {
            while self.receiver.len() < self.receiver_limit() {
                match self.backend.poll_receive(ctx) {
                    Some(byte) => {
                        // Room was checked just above, so this cannot overrun.
                        let _ = self.store_received(byte, now);
                    }
                    None => break,
                }
            }
        }
        self.refresh_modem_lines();
        self.refresh_timeout(now);
        self.update_irq(ctx);
    }

    /// The datasheet's master reset: everything but the divisor latch and scratch register.
    fn master_reset(&mut self) {
        self.interrupt_enable = 0;
        self.line_control = 0;
        self.modem_control = 0;
        self.line_errors = 0;
        self.modem_deltas = 0;
        self.fifos_enabled = false;
        self.trigger_level = fcr::TRIGGER_LEVELS[0];
        self.receiver.clear();
        self.thr_empty_pending = false;
        self.timeout_pending = false;
        self.modem_lines = self.current_modem_lines();
    }

    fn loopback(&self) -> bool {
        self.modem_control & mcr::LOOPBACK != 0
    }

    fn dlab(&self) -> bool {
        self.line_control & lcr::DLAB != 0
    }

    /// Bytes the receiver holds before overrun: the FIFO, or one byte in 16450 mode.
    fn receiver_limit(&self) -> usize {
        if self.fifos_enabled { FIFO_CAPACITY } else { 1 }
    }

    fn word_bits(&self) -> u8 {
        lcr::MIN_WORD_BITS + (self.line_control & lcr::WORD_LENGTH_MASK)
    }

    fn word_mask(&self) -> u8 {
        // 5..=8 bits: the shift stays below 9 and the result fits a byte.
        ((1u16 << self.word_bits()) - 1) as u8
    }

    /// One character on the line (start, data, parity, stop bits) in nanoseconds.
    fn character_time(&self) -> Nanos {
        let data = u64::from(self.word_bits());
        let parity = u64::from(self.line_control & lcr::PARITY_ENABLE != 0);
        let stop_half_bits = match (self.line_control & lcr::TWO_STOP_BITS != 0, data) {
            (false, _) => 2,
            (true, 5) => 3,
            (true, _) => 4,
        };
        let half_bits = 2 * (1 + data + parity) + stop_half_bits;
        let divisor = u64::from(self.divisor.max(1));
        half_bits * divisor * CLOCKS_PER_BIT * NANOS_PER_SECOND / (2 * CLOCK_HZ)
    }

    fn store_received(&mut self, byte: u8, now: Nanos) -> Result<(), ReceiveError> {
        let byte = byte & self.word_mask();
        match self.receiver.push(byte, self.receiver_limit()) {
            Ok(()) => {
                self.receiver_activity = now;
                self.timeout_pending = false;
                Ok(())
            }
            Err(_) => {
                self.line_errors |= lsr::OVERRUN;
                self.overruns = self.overruns.saturating_add(1);
                Err(ReceiveError::Overrun)
            }
        }
    }

    fn refresh_timeout(&mut self, now: Nanos) {
        if !self.fifos_enabled || self.receiver.is_empty() {
            self.timeout_pending = false;
            return;
        }
        let limit = self.character_time().saturating_mul(TIMEOUT_CHARACTERS);
        if now.saturating_sub(self.receiver_activity) >= limit {
            self.timeout_pending = true;
        }
    }

    /// The modem input lines as MSR bits 4–7.
    fn current_modem_lines(&mut self) -> u8 {
        if self.loopback() {
            let outputs = self.modem_control;
            let mut lines = 0;
            for (output, input) in [
                (mcr::RTS, msr::CTS),
                (mcr::DTR, msr::DSR),
                (mcr::OUT1, msr::RI),
                (mcr::OUT2, msr::DCD),
            ] {
                if outputs & output != 0 {
                    lines |= input;
                }
            }
            lines
        } else {
            self.backend.modem_inputs() & msr::LINES
        }
    }

    fn refresh_modem_lines(&mut self) {
        let lines = self.current_modem_lines();
        let changed = lines ^ self.modem_lines;
        for (line, delta) in [
            (msr::CTS, msr::DELTA_CTS),
            (msr::DSR, msr::DELTA_DSR),
            (msr::DCD, msr::DELTA_DCD),
        ] {
            if changed & line != 0 {
                self.modem_deltas |= delta;
            }
        }
        if changed & msr::RI != 0 && lines & msr::RI == 0 {
            self.modem_deltas |= msr::TRAILING_EDGE_RI;
        }
        self.modem_lines = lines;
    }

    /// The highest-priority enabled interrupt, as its IIR identification.
    fn pending_interrupt(&self) -> Option<u8> {
        let enabled = self.interrupt_enable;
        if enabled & ier::LINE_STATUS != 0 && self.line_errors & lsr::ERRORS != 0 {
            return Some(iir::LINE_STATUS);
        }
        if enabled & ier::RECEIVED_DATA != 0 {
            let trigger = if self.fifos_enabled {
                self.trigger_level
            } else {
                1
            };
            if self.receiver.len() >= trigger {
                return Some(iir::RECEIVED_DATA);
            }
            if self.timeout_pending {
                return Some(iir::CHARACTER_TIMEOUT);
            }
        }
        if enabled & ier::THR_EMPTY != 0 && self.thr_empty_pending {
            return Some(iir::THR_EMPTY);
        }
        if enabled & ier::MODEM_STATUS != 0 && self.modem_deltas != 0 {
            return Some(iir::MODEM_STATUS);
        }
        None
    }

    fn update_irq(&mut self, ctx: &mut dyn DeviceContext) {
        let level = self.pending_interrupt().is_some();
        if level != self.irq_level {
            self.irq_level = level;
            // The line was checked in `install`; a context that refuses it now has nothing
            // better to tell the guest than a missing interrupt.
            let _ = ctx.set_irq(self.irq, level);
        }
    }

    fn read_register(&mut self, ctx: &mut dyn DeviceContext, register: u16) -> u8 {
        let now = ctx.now();
        self.refresh_timeout(now);
        let value = match register {
            offset::DATA if self.dlab() => self.divisor.to_le_bytes()[0],
            offset::DATA => {
                if let Some(byte) = self.receiver.pop() {
                    self.last_received = byte;
                    self.receiver_activity = now;
                }
                self.timeout_pending = false;
                self.last_received
            }
            offset::INTERRUPT_ENABLE if self.dlab() => self.divisor.to_le_bytes()[1],
            offset::INTERRUPT_ENABLE => self.interrupt_enable,
            offset::INTERRUPT_ID => {
                let pending = self.pending_interrupt();
                if pending == Some(iir::THR_EMPTY) {
                    self.thr_empty_pending = false;
                }
                let fifo_bits = if self.fifos_enabled {
                    iir::FIFOS_ENABLED
                } else {
                    0
                };
                pending.unwrap_or(iir::NO_INTERRUPT) | fifo_bits
            }
            offset::LINE_CONTROL => self.line_control,
            offset::MODEM_CONTROL => self.modem_control,
            offset::LINE_STATUS => {
                let ready = if self.receiver.is_empty() {
                    0
                } else {
                    lsr::DATA_READY
                };
                let value = ready | self.line_errors | lsr::THR_EMPTY | lsr::TRANSMITTER_EMPTY;
                self.line_errors = 0;
                value
            }
            offset::MODEM_STATUS => {
                self.refresh_modem_lines();
                let value = self.modem_lines | self.modem_deltas;
                self.modem_deltas = 0;
                value
            }
            _ => self.scratch,
        };
        self.update_irq(ctx);
        value
    }

    fn write_register(&mut self, ctx: &mut dyn DeviceContext, register: u16, value: u8) {
        let now = ctx.now();
        self.refresh_timeout(now);
        match register {
            offset::DATA if self.dlab() => {
                self.divisor = u16::from_le_bytes([value, self.divisor.to_le_bytes()[1]]);
            }
            offset::DATA => self.transmit(ctx, value, now),
            offset::INTERRUPT_ENABLE if self.dlab() => {
                self.divisor = u16::from_le_bytes([self.divisor.to_le_bytes()[0], value]);
            }
            offset::INTERRUPT_ENABLE => {
                let enabled = value & ier::WRITABLE;
                let newly = enabled & !self.interrupt_enable;
                if newly & ier::THR_EMPTY != 0 {
                    // THR is always empty here: enabling ETBEI raises THRE at once.
                    self.thr_empty_pending = true;
                }
                self.interrupt_enable = enabled;
            }
            offset::INTERRUPT_ID => self.write_fifo_control(value),
            offset::LINE_CONTROL => self.line_control = value,
            offset::MODEM_CONTROL => {
                self.modem_control = value & mcr::WRITABLE;
                self.refresh_modem_lines();
            }
            offset::LINE_STATUS | offset::MODEM_STATUS => {}
            _ => self.scratch = value,
        }
        self.update_irq(ctx);
    }

    fn transmit(&mut self, ctx: &mut dyn DeviceContext, value: u8, now: Nanos) {
        let byte = value & self.word_mask();
        self.thr_empty_pending = false;
        self.update_irq(ctx);
        if self.loopback() {
            // The loopback receiver overruns like the real one; OE records it.
            let _ = self.store_received(byte, now);
        } else {
            self.backend.transmit(ctx, byte);
        }
        self.thr_empty_pending = true;
    }

    fn write_fifo_control(&mut self, value: u8) {
        let enable = value & fcr::ENABLE != 0;
        if enable != self.fifos_enabled {
            self.receiver.clear();
            self.timeout_pending = false;
        }
        self.fifos_enabled = enable;
        if !enable {
            return;
        }
        if value & fcr::CLEAR_RX != 0 {
            self.receiver.clear();
            self.timeout_pending = false;
        }
        // CLEAR_TX: the transmitter FIFO is always empty in this model.
        let trigger = usize::from((value >> fcr::TRIGGER_SHIFT) & fcr::TRIGGER_MASK);
        self.trigger_level = fcr::TRIGGER_LEVELS[trigger];
    }

    fn register_of(&self, port: u16) -> Option<u16> {
        port.checked_sub(self.ports.first())
            .filter(|offset| *offset < PORT_COUNT)
    }
}

/// Claims `region`, accepting a context whose VMM claims on the device's behalf.
impl<B: UartBackend> Device for Uart16550<B> {
    fn name(&self) -> &str {
        "uart16550"
    }

    /// Claims the eight ports and checks that the interrupt line exists (by lowering it).
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        ctx.set_irq(self.irq, false)
            .map_err(|e| DeviceError::Config(alloc::format!("uart16550 irq line: {e:?}")))?;
        claim_ports(ctx, &[self.ports])
    }

    /// Master reset, line lowered, poll timer connected.
    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.master_reset();
        self.irq_level = false;
        let _ = ctx.set_irq(self.irq, false);
        if self.poll_timer.is_none() {
            self.poll_timer = Some(ctx.connect_timer(POLL_PERIOD_NS)?);
        }
        Ok(())
    }

    /// Poll timer disconnected, line lowered.
    fn power_off(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        if self.irq_level {
            self.irq_level = false;
            let _ = ctx.set_irq(self.irq, false);
        }
        if let Some(timer) = self.poll_timer.take() {
            ctx.disconnect_timer(timer)?;
        }
        Ok(())
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        if let Some(timer) = self.poll_timer.take() {
            ctx.disconnect_timer(timer)?;
        }
        release_ports(ctx, &[self.ports])
    }

    fn pio_read(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &mut [u8]) {
        for (index, byte) in data.iter_mut().enumerate() {
            let register = u16::try_from(index)
                .ok()
                .and_then(|index| port.checked_add(index))
                .and_then(|port| self.register_of(port));
            *byte = match register {
                Some(register) => self.read_register(ctx, register),
                None => OPEN_BUS,
            };
        }
    }

    fn pio_write(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &[u8]) {
        for (index, value) in data.iter().enumerate() {
            let register = u16::try_from(index)
                .ok()
                .and_then(|index| port.checked_add(index))
                .and_then(|port| self.register_of(port));
            if let Some(register) = register {
                self.write_register(ctx, register, *value);
            }
        }
    }

    fn timer(&mut self, ctx: &mut dyn DeviceContext, id: TimerId, _now: Nanos) {
        if self.poll_timer == Some(id) {
            self.poll(ctx);
        }
    }
}
