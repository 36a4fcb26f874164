//! The 16550A's register map and bit names (National Semiconductor PC16550D datasheet, table II
//! "Summary of accessible registers"). Offsets are relative to the UART's base port.

/// Ports one UART decodes (base + 0 .. base + 7).
pub const PORT_COUNT: u16 = 8;

/// Frequency of the reference clock on a PC serial card (1.8432 MHz crystal).
pub const CLOCK_HZ: u64 = 1_843_200;
/// The baud-rate generator divides the clock by 16 × divisor.
pub const CLOCKS_PER_BIT: u64 = 16;

/// Register offsets from the base port.
pub mod offset {
    /// Receiver buffer (read), transmitter holding (write); divisor latch low when DLAB = 1.
    pub const DATA: u16 = 0;
    /// Interrupt enable; divisor latch high when DLAB = 1.
    pub const INTERRUPT_ENABLE: u16 = 1;
    /// Interrupt identification (read), FIFO control (write).
    pub const INTERRUPT_ID: u16 = 2;
    /// Line control.
    pub const LINE_CONTROL: u16 = 3;
    /// Modem control.
    pub const MODEM_CONTROL: u16 = 4;
    /// Line status (writes are the factory test mode and are ignored).
    pub const LINE_STATUS: u16 = 5;
    /// Modem status (writes ignored).
    pub const MODEM_STATUS: u16 = 6;
    /// Scratch register.
    pub const SCRATCH: u16 = 7;
}

/// Interrupt enable register (IER) bits.
pub mod ier {
    /// ERBFI: received data available (and character timeout in FIFO mode).
    pub const RECEIVED_DATA: u8 = 0x01;
    /// ETBEI: transmitter holding register empty.
    pub const THR_EMPTY: u8 = 0x02;
    /// ELSI: receiver line status (overrun, parity, framing, break).
    pub const LINE_STATUS: u8 = 0x04;
    /// EDSSI: modem status (any MSR delta bit).
    pub const MODEM_STATUS: u8 = 0x08;
    /// Bits 4–7 are always 0 on the 16550A.
    pub const WRITABLE: u8 = 0x0F;
}

/// Interrupt identification register (IIR) values.
pub mod iir {
    /// Bit 0: no interrupt pending.
    pub const NO_INTERRUPT: u8 = 0x01;
    /// Priority 1: overrun, parity, framing error or break (cleared by reading LSR).
    pub const LINE_STATUS: u8 = 0x06;
    /// Priority 2: received data at or above the trigger level (cleared below it).
    pub const RECEIVED_DATA: u8 = 0x04;
    /// Priority 2: character timeout, FIFO mode only (cleared by reading RBR).
    pub const CHARACTER_TIMEOUT: u8 = 0x0C;
    /// Priority 3: THR empty (cleared by reading IIR or writing THR).
    pub const THR_EMPTY: u8 = 0x02;
    /// Priority 4: modem status (cleared by reading MSR).
    pub const MODEM_STATUS: u8 = 0x00;
    /// Bits 6–7: set while the FIFOs are enabled.
    pub const FIFOS_ENABLED: u8 = 0xC0;
}

/// FIFO control register (FCR) bits.
pub mod fcr {
    /// Enable both FIFOs; the other bits are only programmed while this one is written as 1.
    pub const ENABLE: u8 = 0x01;
    /// Clear the receiver FIFO (self-clearing).
    pub const CLEAR_RX: u8 = 0x02;
    /// Clear the transmitter FIFO (self-clearing).
    pub const CLEAR_TX: u8 = 0x04;
    /// Bits 6–7 select the receiver trigger level.
    pub const TRIGGER_SHIFT: u8 = 6;
    /// Mask of the trigger bits after shifting.
    pub const TRIGGER_MASK: u8 = 0x03;
    /// Receiver trigger levels (bytes) for FCR bits 7:6 = 00, 01, 10, 11.
    pub const TRIGGER_LEVELS: [usize; 4] = [1, 4, 8, 14];
}

/// Line control register (LCR) bits.
pub mod lcr {
    /// Bits 0–1: word length − 5.
    pub const WORD_LENGTH_MASK: u8 = 0x03;
    /// The shortest word length.
    pub const MIN_WORD_BITS: u8 = 5;
    /// Bit 2: 2 stop bits (1.5 with 5-bit words).
    pub const TWO_STOP_BITS: u8 = 0x04;
    /// Bit 3: parity enable.
    pub const PARITY_ENABLE: u8 = 0x08;
    /// Bit 7: divisor latch access.
    pub const DLAB: u8 = 0x80;
}

/// Modem control register (MCR) bits.
pub mod mcr {
    /// Data terminal ready.
    pub const DTR: u8 = 0x01;
    /// Request to send.
    pub const RTS: u8 = 0x02;
    /// User output 1.
    pub const OUT1: u8 = 0x04;
    /// User output 2 (gates the IRQ on PC cards; see the module docs).
    pub const OUT2: u8 = 0x08;
    /// Local loopback.
    pub const LOOPBACK: u8 = 0x10;
    /// Bits 5–7 are always 0 on the 16550A.
    pub const WRITABLE: u8 = 0x1F;
}

/// Line status register (LSR) bits.
pub mod lsr {
    /// Data ready: at least one byte in RBR/the receiver FIFO.
    pub const DATA_READY: u8 = 0x01;
    /// Overrun error: a byte arrived while the receiver was full and was lost.
    pub const OVERRUN: u8 = 0x02;
    /// Parity error.
    pub const PARITY: u8 = 0x04;
    /// Framing error.
    pub const FRAMING: u8 = 0x08;
    /// Break interrupt.
    pub const BREAK: u8 = 0x10;
    /// Transmitter holding register (or FIFO) empty.
    pub const THR_EMPTY: u8 = 0x20;
    /// Transmitter empty: THR and the shift register both empty.
    pub const TRANSMITTER_EMPTY: u8 = 0x40;
    /// Bits 1–4, cleared by reading LSR; any of them raises the line-status interrupt.
    pub const ERRORS: u8 = OVERRUN | PARITY | FRAMING | BREAK;
}

/// Modem status register (MSR) bits.
pub mod msr {
    /// Delta CTS.
    pub const DELTA_CTS: u8 = 0x01;
    /// Delta DSR.
    pub const DELTA_DSR: u8 = 0x02;
    /// Trailing edge of ring indicator (RI went from on to off).
    pub const TRAILING_EDGE_RI: u8 = 0x04;
    /// Delta DCD.
    pub const DELTA_DCD: u8 = 0x08;
    /// The delta bits (0–3), cleared by reading MSR.
    pub const DELTAS: u8 = 0x0F;
    /// Clear to send.
    pub const CTS: u8 = 0x10;
    /// Data set ready.
    pub const DSR: u8 = 0x20;
    /// Ring indicator.
    pub const RI: u8 = 0x40;
    /// Data carrier detect.
    pub const DCD: u8 = 0x80;
    /// The line bits (4–7).
    pub const LINES: u8 = CTS | DSR | RI | DCD;
}
