//! The two PS/2 devices behind the controller, reduced to what guests need to find and set
//! them up: an MF2 keyboard and a standard mouse that answer their command sets (IBM PS/2
//! Technical Reference, "Keyboard and Auxiliary Device Controller"; the keyboard and mouse
//! command tables). They produce no input of their own: the VMM injects scancodes.

/// Device responses.
pub mod response {
    /// Command acknowledged.
    pub const ACK: u8 = 0xFA;
    /// Basic assurance test passed (after reset).
    pub const SELF_TEST_PASSED: u8 = 0xAA;
    /// Unknown command: send it again.
    pub const RESEND: u8 = 0xFE;
    /// Keyboard identification, first byte.
    pub const KEYBOARD_ID: u8 = 0xAB;
    /// Keyboard identification, second byte, untranslated (MF2).
    pub const KEYBOARD_ID_MF2: u8 = 0x83;
    /// Keyboard identification, second byte, as the controller's translation delivers it.
    pub const KEYBOARD_ID_TRANSLATED: u8 = 0x41;
    /// Mouse identification: a standard PS/2 mouse.
    pub const MOUSE_ID: u8 = 0x00;
}

/// Device commands.
pub mod device_command {
    pub const SET_LEDS: u8 = 0xED;
    pub const ECHO: u8 = 0xEE;
    pub const SCANCODE_SET: u8 = 0xF0;
    pub const IDENTIFY: u8 = 0xF2;
    /// Keyboard: typematic rate; mouse: sample rate. Both take a parameter byte.
    pub const SET_RATE: u8 = 0xF3;
    pub const ENABLE: u8 = 0xF4;
    pub const DISABLE: u8 = 0xF5;
    pub const SET_DEFAULTS: u8 = 0xF6;
    pub const RESET: u8 = 0xFF;
    /// Mouse: set resolution (takes a parameter).
    pub const SET_RESOLUTION: u8 = 0xE8;
    /// Mouse: status request (three bytes follow the ACK).
    pub const STATUS_REQUEST: u8 = 0xE9;
}

use device_command::*;
use response::*;

/// The longest answer a device gives to one byte (mouse status: ACK and three bytes).
pub const MAX_REPLY: usize = 4;

/// A device's answer to one byte, without allocating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reply {
    bytes: [u8; MAX_REPLY],
    len: usize,
}

impl Reply {
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.push(*byte);
        }
    }

    /// The bytes, in the order the device sends them.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The scancode set a keyboard uses after reset.
pub const DEFAULT_SCANCODE_SET: u8 = 2;
/// The mouse's status bytes after reset: stream mode, scaling 1:1, disabled; resolution 4
/// counts/mm; 100 samples/s.
const MOUSE_DEFAULT_STATUS: [u8; 3] = [0x00, 0x02, 100];

/// A minimal MF2 keyboard.
#[derive(Debug, Clone)]
pub struct Keyboard {
    awaiting_parameter: Option<u8>,
    scanning: bool,
    scancode_set: u8,
    leds: u8,
}

impl Default for Keyboard {
    fn default() -> Self {
        Self::new()
    }
}

impl Keyboard {
    /// A keyboard just after its reset: scanning, scancode set 2, LEDs off.
    pub const fn new() -> Self {
        Keyboard {
            awaiting_parameter: None,
            scanning: true,
            scancode_set: DEFAULT_SCANCODE_SET,
            leds: 0,
        }
    }

    /// Whether the keyboard sends scancodes (enabled with 0xF4, stopped with 0xF5).
    pub fn scanning(&self) -> bool {
        self.scanning
    }

    /// The LED state last set with 0xED.
    pub fn leds(&self) -> u8 {
        self.leds
    }

    /// The keyboard receives `byte` and answers.
    pub fn receive(&mut self, byte: u8, translated: bool) -> Reply {
        let mut out = Reply::default();
        self.answer(byte, translated, &mut out);
        out
    }

    fn answer(&mut self, byte: u8, translated: bool, out: &mut Reply) {
        if let Some(command) = self.awaiting_parameter.take() {
            match command {
                SET_LEDS => self.leds = byte,
                SCANCODE_SET if byte == 0 => {
                    out.push(ACK);
                    out.push(self.scancode_set);
                    return;
                }
                SCANCODE_SET => self.scancode_set = byte,
                _ => {}
            }
            out.push(ACK);
            return;
        }
        match byte {
            RESET => {
                *self = Keyboard::new();
                out.extend_from_slice(&[ACK, SELF_TEST_PASSED]);
            }
            ECHO => out.push(ECHO),
            IDENTIFY => {
                let second = if translated {
                    KEYBOARD_ID_TRANSLATED
                } else {
                    KEYBOARD_ID_MF2
                };
                out.extend_from_slice(&[ACK, KEYBOARD_ID, second]);
            }
            ENABLE => {
                self.scanning = true;
                out.push(ACK);
            }
            DISABLE | SET_DEFAULTS => {
                self.scanning = byte == SET_DEFAULTS;
                self.scancode_set = DEFAULT_SCANCODE_SET;
                out.push(ACK);
            }
            SET_LEDS | SET_RATE | SCANCODE_SET => {
                self.awaiting_parameter = Some(byte);
                out.push(ACK);
            }
            _ => out.push(RESEND),
        }
    }
}

/// A minimal PS/2 mouse.
#[derive(Debug, Clone)]
pub struct Mouse {
    awaiting_parameter: bool,
    reporting: bool,
}

impl Default for Mouse {
    fn default() -> Self {
        Self::new()
    }
}

impl Mouse {
    /// A mouse just after its reset: stream mode, reporting off.
    pub const fn new() -> Self {
        Mouse {
            awaiting_parameter: false,
            reporting: false,
        }
    }

    /// Whether data reporting is on (0xF4).
    pub fn reporting(&self) -> bool {
        self.reporting
    }

    /// The mouse receives `byte` and answers.
    pub fn receive(&mut self, byte: u8) -> Reply {
        let mut out = Reply::default();
        self.answer(byte, &mut out);
        out
    }

    fn answer(&mut self, byte: u8, out: &mut Reply) {
        if self.awaiting_parameter {
            self.awaiting_parameter = false;
            out.push(ACK);
            return;
        }
        match byte {
            RESET => {
                *self = Mouse::new();
                out.extend_from_slice(&[ACK, SELF_TEST_PASSED, MOUSE_ID]);
            }
            IDENTIFY => out.extend_from_slice(&[ACK, MOUSE_ID]),
            STATUS_REQUEST => {
                out.push(ACK);
                out.extend_from_slice(&MOUSE_DEFAULT_STATUS);
            }
            SET_RATE | SET_RESOLUTION => {
                self.awaiting_parameter = true;
                out.push(ACK);
            }
            ENABLE | DISABLE | SET_DEFAULTS => {
                self.reporting = byte == ENABLE;
                out.push(ACK);
            }
            _ => out.push(ACK),
        }
    }
}
