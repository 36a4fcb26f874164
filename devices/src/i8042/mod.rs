//! The PC/AT keyboard controller (Intel 8042 as IBM programmed it; IBM PS/2 Technical
//! Reference, "Keyboard and Auxiliary Device Controller"), at data port 0x60 and
//! status/command port 0x64, with a minimal keyboard on its first port (IRQ 1) and a minimal
//! mouse on its auxiliary port (IRQ 12).
//!
//! # Behaviour
//! - **Status** (read 0x64): bit 0 output buffer full, 1 input buffer full (always 0: writes are
//!   taken at once), 2 system flag, 3 last write was a command (0x64), 4 keyboard not
//!   inhibited (always 1), 5 the output byte is from the mouse, 6–7 timeout/parity (0).
//! - **Commands** (write 0x64): 0x20–0x3F read controller RAM (0x20 = command byte), 0x60–0x7F
//!   write it (byte follows on 0x60), 0xA7/0xA8 disable/enable the mouse port, 0xA9 mouse port
//!   test → 0x00, 0xAA self-test → 0x55 (sets the system flag), 0xAB keyboard port test → 0x00,
//!   0xAD/0xAE disable/enable the keyboard port, 0xC0 read input port, 0xD0 read output port,
//!   0xD1 write output port (bit 0 = 0 resets the CPU, bit 1 = A20), 0xD2/0xD3 write the
//!   keyboard/mouse output buffer (as if the device sent the byte), 0xD4 send the next byte to
//!   the mouse, 0xDD/0xDF A20 off/on, 0xF0–0xFF pulse output-port bits low for each 0 in bits
//!   0–3 (bit 0 = 0, e.g. 0xFE, resets the CPU). Unknown commands are ignored.
//! - **CPU reset** asks the VMM with `ctx.request(VmRequest::Reset)`; the output port's reset
//!   line reads back high afterwards (the pulse is over).
//! - **Command byte**: bit 0 keyboard interrupt, 1 mouse interrupt, 2 system flag, 4 keyboard
//!   disabled, 5 mouse disabled, 6 scancode translation. Writing a byte to the keyboard
//!   re-enables its port, as on the chip.
//! - **Output buffer**: a queue of [`OUTPUT_QUEUE_CAP`] bytes (see `queue.rs`); reading 0x60
//!   takes the oldest byte (or repeats the last one when empty). IRQ 1 / IRQ 12 are high while
//!   a keyboard / mouse byte is at the head and its interrupt is enabled; each read lowers the
//!   line before looking at the next byte, so every byte is its own edge.
//! - **Devices**: the keyboard answers reset (0xFA 0xAA), enable/disable/defaults (0xFA),
//!   echo, identify (0xFA 0xAB 0x83, or 0x41 translated), LEDs, typematic and scancode set
//!   (with their parameter byte); anything else gets 0xFE (resend). The mouse answers reset
//!   (0xFA 0xAA 0x00), identify, status request, and acknowledges the rest. The VMM injects
//!   keystrokes with [`I8042::push_keyboard`] (bytes as the guest should see them).
//!
//! # Threat note
//! The guest controls every command and data byte. Responses go into a fixed
//! [`OUTPUT_QUEUE_CAP`]-entry ring; bytes past it are dropped and counted, never stored, so
//! no sequence of commands grows memory. The controller RAM index comes from the low five
//! command bits (0–31) into a 32-byte array. A reset request is one bounded log entry in the
//! VMM per command; the VMM acts on it after the access.

mod ps2;
mod queue;

#[cfg(test)]
mod tests;

pub use ps2::{Keyboard, Mouse, Reply, device_command, response};
pub use queue::{OUTPUT_QUEUE_CAP, Source};

use queue::OutputQueue;

use crate::interface::{Device, DeviceContext, DeviceError, IrqLine, PortRange, VmRequest};
use crate::port_claims::{claim_ports, release_ports};

/// Data port: output buffer (read), device data or command parameter (write).
pub const DATA_PORT: u16 = 0x60;
/// Status register (read), controller command (write).
pub const COMMAND_PORT: u16 = 0x64;
/// The keyboard port's interrupt line.
pub const KEYBOARD_IRQ: IrqLine = IrqLine(1);
/// The mouse port's interrupt line.
pub const MOUSE_IRQ: IrqLine = IrqLine(12);
/// Bytes of controller RAM (byte 0 is the command byte).
pub const RAM_BYTES: usize = 32;
const OPEN_BUS: u8 = 0xFF;

/// Status register bits.
pub mod status {
    pub const OUTPUT_FULL: u8 = 0x01;
    pub const INPUT_FULL: u8 = 0x02;
    pub const SYSTEM: u8 = 0x04;
    pub const LAST_WAS_COMMAND: u8 = 0x08;
    pub const NOT_INHIBITED: u8 = 0x10;
    pub const MOUSE_OUTPUT: u8 = 0x20;
}

/// Command byte bits.
pub mod command_byte {
    pub const KEYBOARD_INTERRUPT: u8 = 0x01;
    pub const MOUSE_INTERRUPT: u8 = 0x02;
    pub const SYSTEM: u8 = 0x04;
    pub const KEYBOARD_DISABLED: u8 = 0x10;
    pub const MOUSE_DISABLED: u8 = 0x20;
    pub const TRANSLATE: u8 = 0x40;
}

/// Output port bits.
pub mod output_port {
    /// CPU reset line, active low.
    pub const RESET: u8 = 0x01;
    /// A20 gate.
    pub const A20: u8 = 0x02;
    /// Output buffer full from the mouse (IRQ 12 line).
    pub const MOUSE_FULL: u8 = 0x20;
    /// Output buffer full from the keyboard (IRQ 1 line).
    pub const KEYBOARD_FULL: u8 = 0x10;
}

/// Controller commands.
pub mod controller_command {
    pub const READ_RAM_FIRST: u8 = 0x20;
    pub const READ_RAM_LAST: u8 = 0x3F;
    pub const WRITE_RAM_FIRST: u8 = 0x60;
    pub const WRITE_RAM_LAST: u8 = 0x7F;
    /// The low five bits of a RAM command are the RAM index.
    pub const RAM_INDEX_MASK: u8 = 0x1F;
    pub const DISABLE_MOUSE: u8 = 0xA7;
    pub const ENABLE_MOUSE: u8 = 0xA8;
    pub const TEST_MOUSE_PORT: u8 = 0xA9;
    pub const SELF_TEST: u8 = 0xAA;
    pub const TEST_KEYBOARD_PORT: u8 = 0xAB;
    pub const DISABLE_KEYBOARD: u8 = 0xAD;
    pub const ENABLE_KEYBOARD: u8 = 0xAE;
    pub const READ_INPUT_PORT: u8 = 0xC0;
    pub const READ_OUTPUT_PORT: u8 = 0xD0;
    pub const WRITE_OUTPUT_PORT: u8 = 0xD1;
    pub const WRITE_KEYBOARD_OUTPUT: u8 = 0xD2;
    pub const WRITE_MOUSE_OUTPUT: u8 = 0xD3;
    pub const WRITE_MOUSE: u8 = 0xD4;
    pub const DISABLE_A20: u8 = 0xDD;
    pub const ENABLE_A20: u8 = 0xDF;
    /// 0xF0–0xFF: pulse the output-port bits whose bit is 0 in the low nibble.
    pub const PULSE_FIRST: u8 = 0xF0;
    /// The output-port bits a pulse command can touch.
    pub const PULSE_MASK: u8 = 0x0F;
    /// Self-test passed.
    pub const SELF_TEST_PASSED: u8 = 0x55;
    /// Port test: no error.
    pub const PORT_TEST_PASSED: u8 = 0x00;
}

use controller_command::*;

/// The command byte a PC BIOS leaves: keyboard interrupt on, system flag, translation.
pub const DEFAULT_COMMAND_BYTE: u8 =
    command_byte::KEYBOARD_INTERRUPT | command_byte::SYSTEM | command_byte::TRANSLATE;
/// Output port at power on: reset line inactive (high), A20 enabled (the VMM loads guests
/// directly, not through a BIOS that would enable it).
pub const DEFAULT_OUTPUT_PORT: u8 = output_port::RESET | output_port::A20;
/// Input port: keyboard not inhibited (bit 7).
pub const INPUT_PORT: u8 = 0x80;

/// What the next byte written to port 0x60 is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataTarget {
    Keyboard,
    Ram(u8),
    OutputPort,
    KeyboardOutput,
    MouseOutput,
    Mouse,
}

/// Why the VMM's keystroke was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputError {
    /// The keyboard port is disabled or the keyboard is not scanning.
    Disabled,
    /// The output queue is full.
    QueueFull,
}

/// The controller with its two devices.
#[derive(Debug, Clone)]
pub struct I8042 {
    ram: [u8; RAM_BYTES],
    output_port: u8,
    system_flag: bool,
    last_was_command: bool,
    data_target: DataTarget,
    queue: OutputQueue,
    last_output: u8,
    dropped: u64,
    keyboard: Keyboard,
    mouse: Mouse,
    keyboard_irq: bool,
    mouse_irq: bool,
}

impl Default for I8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl I8042 {
    /// The ports the controller decodes.
    pub const PORTS: [PortRange; 2] = [
        PortRange::single(DATA_PORT),
        PortRange::single(COMMAND_PORT),
    ];

    /// A controller in the state a BIOS leaves it.
    pub const fn new() -> Self {
        let mut ram = [0u8; RAM_BYTES];
        ram[0] = DEFAULT_COMMAND_BYTE;
        I8042 {
            ram,
            output_port: DEFAULT_OUTPUT_PORT,
            system_flag: true,
            last_was_command: false,
            data_target: DataTarget::Keyboard,
            queue: OutputQueue::new(),
            last_output: 0,
            dropped: 0,
            keyboard: Keyboard::new(),
            mouse: Mouse::new(),
            keyboard_irq: false,
            mouse_irq: false,
        }
    }

    /// Whether the A20 gate is open.
    pub fn a20_enabled(&self) -> bool {
        self.output_port & output_port::A20 != 0
    }

    /// Bytes waiting in the output queue (never above [`OUTPUT_QUEUE_CAP`]).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Bytes dropped because the output queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The keyboard.
    pub fn keyboard(&self) -> &Keyboard {
        &self.keyboard
    }

    /// The VMM delivers a byte from the keyboard (a scancode in the set the guest expects).
    pub fn push_keyboard(
        &mut self,
        ctx: &mut dyn DeviceContext,
        byte: u8,
    ) -> Result<(), InputError> {
        if self.command_byte() & command_byte::KEYBOARD_DISABLED != 0 || !self.keyboard.scanning() {
            return Err(InputError::Disabled);
        }
        let result = self
            .queue
            .push(byte, Source::Keyboard)
            .map_err(|_| InputError::QueueFull);
        if result.is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
        self.update_irqs(ctx);
        result
    }

    fn command_byte(&self) -> u8 {
        self.ram[0]
    }

    fn enqueue(&mut self, bytes: &[u8], source: Source) {
        for byte in bytes {
            if self.queue.push(*byte, source).is_err() {
                self.dropped = self.dropped.saturating_add(1);
            }
        }
    }

    fn status(&self) -> u8 {
        let mut value = status::NOT_INHIBITED;
        match self.queue.front() {
            Some((_, Source::Mouse)) => value |= status::OUTPUT_FULL | status::MOUSE_OUTPUT,
            Some((_, Source::Keyboard)) => value |= status::OUTPUT_FULL,
            None => {}
        }
        if self.system_flag {
            value |= status::SYSTEM;
        }
        if self.last_was_command {
            value |= status::LAST_WAS_COMMAND;
        }
        value
    }

    fn output_port_value(&self) -> u8 {
        let mut value = self.output_port;
        if self.keyboard_irq {
            value |= output_port::KEYBOARD_FULL;
        }
        if self.mouse_irq {
            value |= output_port::MOUSE_FULL;
        }
        value
    }

    fn wanted_irqs(&self) -> (bool, bool) {
        let enabled = self.command_byte();
        match self.queue.front() {
            Some((_, Source::Keyboard)) => (enabled & command_byte::KEYBOARD_INTERRUPT != 0, false),
            Some((_, Source::Mouse)) => (false, enabled & command_byte::MOUSE_INTERRUPT != 0),
            None => (false, false),
        }
    }

    fn update_irqs(&mut self, ctx: &mut dyn DeviceContext) {
        let (keyboard, mouse) = self.wanted_irqs();
        // Both lines are checked at install; nothing better to do if one went away.
        if keyboard != self.keyboard_irq {
            self.keyboard_irq = keyboard;
            let _ = ctx.set_irq(KEYBOARD_IRQ, keyboard);
        }
        if mouse != self.mouse_irq {
            self.mouse_irq = mouse;
            let _ = ctx.set_irq(MOUSE_IRQ, mouse);
        }
    }

    fn lower_irqs(&mut self, ctx: &mut dyn DeviceContext) {
        if self.keyboard_irq {
            self.keyboard_irq = false;
            let _ = ctx.set_irq(KEYBOARD_IRQ, false);
        }
        if self.mouse_irq {
            self.mouse_irq = false;
            let _ = ctx.set_irq(MOUSE_IRQ, false);
        }
    }

    fn read_data(&mut self, ctx: &mut dyn DeviceContext) -> u8 {
        if let Some((byte, _)) = self.queue.pop() {
            self.last_output = byte;
        }
        self.lower_irqs(ctx);
        self.update_irqs(ctx);
        self.last_output
    }

    fn write_data(&mut self, ctx: &mut dyn DeviceContext, value: u8) {
        self.last_was_command = false;
        let target = core::mem::replace(&mut self.data_target, DataTarget::Keyboard);
        match target {
            DataTarget::Keyboard => {
                self.ram[0] &= !command_byte::KEYBOARD_DISABLED;
                let translated = self.command_byte() & command_byte::TRANSLATE != 0;
                let reply = self.keyboard.receive(value, translated);
                self.enqueue(reply.as_slice(), Source::Keyboard);
            }
            DataTarget::Ram(index) => {
                self.ram[usize::from(index)] = value;
                if index == 0 {
                    self.system_flag = value & command_byte::SYSTEM != 0;
                }
            }
            DataTarget::OutputPort => self.write_output_port(ctx, value),
            DataTarget::KeyboardOutput => self.enqueue(&[value], Source::Keyboard),
            DataTarget::MouseOutput => self.enqueue(&[value], Source::Mouse),
            DataTarget::Mouse => {
                let reply = self.mouse.receive(value);
                self.enqueue(reply.as_slice(), Source::Mouse);
            }
        }
        self.update_irqs(ctx);
    }

    fn write_output_port(&mut self, ctx: &mut dyn DeviceContext, value: u8) {
        if value & output_port::RESET == 0 {
            ctx.request(VmRequest::Reset);
        }
        // The reset line is a pulse: it reads back inactive.
        self.output_port =
            (value | output_port::RESET) & !(output_port::KEYBOARD_FULL | output_port::MOUSE_FULL);
    }

    fn write_command(&mut self, ctx: &mut dyn DeviceContext, value: u8) {
        self.last_was_command = true;
        self.data_target = DataTarget::Keyboard;
        match value {
            READ_RAM_FIRST..=READ_RAM_LAST => {
                let index = usize::from(value & RAM_INDEX_MASK);
                let byte = if index == 0 {
                    let system = if self.system_flag {
                        command_byte::SYSTEM
                    } else {
                        0
                    };
                    (self.ram[0] & !command_byte::SYSTEM) | system
                } else {
                    self.ram[index]
                };
                self.enqueue(&[byte], Source::Keyboard);
            }
            WRITE_RAM_FIRST..=WRITE_RAM_LAST => {
                self.data_target = DataTarget::Ram(value & RAM_INDEX_MASK)
            }
            DISABLE_MOUSE => self.ram[0] |= command_byte::MOUSE_DISABLED,
            ENABLE_MOUSE => self.ram[0] &= !command_byte::MOUSE_DISABLED,
            TEST_MOUSE_PORT | TEST_KEYBOARD_PORT => {
                self.enqueue(&[PORT_TEST_PASSED], Source::Keyboard)
            }
            SELF_TEST => {
                self.system_flag = true;
                self.enqueue(&[SELF_TEST_PASSED], Source::Keyboard);
            }
            DISABLE_KEYBOARD => self.ram[0] |= command_byte::KEYBOARD_DISABLED,
            ENABLE_KEYBOARD => self.ram[0] &= !command_byte::KEYBOARD_DISABLED,
            READ_INPUT_PORT => self.enqueue(&[INPUT_PORT], Source::Keyboard),
            READ_OUTPUT_PORT => {
                let value = self.output_port_value();
                self.enqueue(&[value], Source::Keyboard);
            }
            WRITE_OUTPUT_PORT => self.data_target = DataTarget::OutputPort,
            WRITE_KEYBOARD_OUTPUT => self.data_target = DataTarget::KeyboardOutput,
            WRITE_MOUSE_OUTPUT => self.data_target = DataTarget::MouseOutput,
            WRITE_MOUSE => self.data_target = DataTarget::Mouse,
            DISABLE_A20 => self.output_port &= !output_port::A20,
            ENABLE_A20 => self.output_port |= output_port::A20,
            // 0xF0–0xFF: a 0 in bit 0 pulses the reset line.
            PULSE_FIRST..=u8::MAX if value & PULSE_MASK & output_port::RESET == 0 => {
                ctx.request(VmRequest::Reset);
            }
            _ => {}
        }
        self.update_irqs(ctx);
    }
}

impl Device for I8042 {
    fn name(&self) -> &str {
        "i8042"
    }

    /// Claims ports 0x60 and 0x64 and checks IRQ 1 and IRQ 12.
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        for line in [KEYBOARD_IRQ, MOUSE_IRQ] {
            ctx.set_irq(line, false)
                .map_err(|e| DeviceError::Config(alloc::format!("i8042 irq {}: {e:?}", line.0)))?;
        }
        claim_ports(ctx, &Self::PORTS)
    }

    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.lower_irqs(ctx);
        *self = I8042::new();
        Ok(())
    }

    fn power_off(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.lower_irqs(ctx);
        Ok(())
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        release_ports(ctx, &Self::PORTS)
    }

    fn pio_read(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &mut [u8]) {
        for (index, byte) in data.iter_mut().enumerate() {
            *byte = match u16::try_from(index)
                .ok()
                .and_then(|index| port.checked_add(index))
            {
                Some(DATA_PORT) => self.read_data(ctx),
                Some(COMMAND_PORT) => self.status(),
                _ => OPEN_BUS,
            };
        }
    }

    fn pio_write(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &[u8]) {
        for (index, value) in data.iter().enumerate() {
            match u16::try_from(index)
                .ok()
                .and_then(|index| port.checked_add(index))
            {
                Some(DATA_PORT) => self.write_data(ctx, *value),
                Some(COMMAND_PORT) => self.write_command(ctx, *value),
                _ => {}
            }
        }
    }
}
