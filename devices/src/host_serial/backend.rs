//! [`HostBackedUart`]: one VM's 16550 back end on the shared host port. Output is gathered
//! into a bounded line and written whole, tagged, inside the device's critical section; input
//! comes from the VM's queue in the hub.

use alloc::string::String;
use alloc::vec::Vec;

use super::hub::{SharedHostSerial, TAG_CLOSE, TAG_OPEN};
use crate::interface::{CriticalSectionError, CriticalSectionId, DeviceContext};
use crate::uart16550::UartBackend;

/// Guest bytes per host line; a longer line is cut here and continued on the next.
pub const LINE_CAPACITY: usize = 128;

/// Ends a line (the guest's and the one written to the host).
const LINE_END: u8 = b'\n';
/// Dropped: a guest's `\r\n` ends one line, and a lone `\r` could overwrite the tag on a
/// terminal.
const CARRIAGE_RETURN: u8 = b'\r';
/// Kept as is.
const TAB: u8 = b'\t';
/// The first printable ASCII byte (space).
const FIRST_PRINTABLE: u8 = b' ';
/// ASCII DEL, a control byte.
const DELETE: u8 = 0x7F;
/// What replaces any other control byte (escape sequences included), so a guest cannot
/// move the host terminal's cursor or rewrite another VM's lines.
pub const CONTROL_REPLACEMENT: u8 = b'.';
/// Between the tag and the text.
const TAG_SEPARATOR: [u8; 2] = [TAG_CLOSE, b' '];

/// What a guest byte becomes in a console line: `None` to drop it (carriage returns), control
/// bytes [`CONTROL_REPLACEMENT`], tabs and printable bytes themselves.
pub fn sanitize(byte: u8) -> Option<u8> {
    match byte {
        CARRIAGE_RETURN => None,
        TAB => Some(TAB),
        byte if byte < FIRST_PRINTABLE || byte == DELETE => Some(CONTROL_REPLACEMENT),
        byte => Some(byte),
    }
}

/// One VM's serial back end on the shared host port. Get it from
/// [`SharedHostSerial::attach`] and put it behind the VM's `Uart16550`.
pub struct HostBackedUart {
    hub: SharedHostSerial,
    slot: usize,
    name: String,
    /// `[name] ` followed by the guest's text so far; room for the newline is reserved.
    line: Vec<u8>,
    prefix_len: usize,
    section: Option<CriticalSectionId>,
}

impl HostBackedUart {
    /// The back end of the VM in hub slot `slot`, tagging with `name` (validated by the hub).
    pub(super) fn new(hub: SharedHostSerial, slot: usize, name: &str) -> Self {
        let mut line = Vec::new();
        line.push(TAG_OPEN);
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(&TAG_SEPARATOR);
        let prefix_len = line.len();
        // The text and the newline: the line never grows past this.
        line.reserve_exact(LINE_CAPACITY + 1);
        HostBackedUart {
            hub,
            slot,
            name: String::from(name),
            line,
            prefix_len,
            section: None,
        }
    }

    /// The VM's name, as it tags lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hub this back end writes to.
    pub fn hub(&self) -> &SharedHostSerial {
        &self.hub
    }

    /// The guest's text not yet written (no newline seen yet), at most [`LINE_CAPACITY`] bytes.
    pub fn pending_line(&self) -> &[u8] {
        self.line.get(self.prefix_len..).unwrap_or_default()
    }

    /// The critical section guarding the host port, once created (on first use).
    pub fn critical_section(&self) -> Option<CriticalSectionId> {
        self.section
    }

    /// Writes the partial line, if any, as a whole tagged line (for when the VM stops).
    pub fn flush(&mut self, ctx: &mut dyn DeviceContext) {
        if !self.pending_line().is_empty() {
            self.write_line(ctx, false);
        }
    }

    /// Flushes, then removes the critical section. The bus removes a device's leftover
    /// sections itself; this is for a VMM that drives the model without one.
    pub fn finish(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), CriticalSectionError> {
        self.flush(ctx);
        match self.section.take() {
            Some(id) => ctx.remove_critical_section(id),
            None => Ok(()),
        }
    }

    /// Writes the line with its newline inside the critical section, then starts a new one.
    fn write_line(&mut self, ctx: &mut dyn DeviceContext, split: bool) {
        self.line.push(LINE_END);
        let entered = self.enter(ctx);
        self.hub.write_line(self.slot, &self.line, split);
        self.leave(ctx, entered);
        self.line.truncate(self.prefix_len);
    }

    /// Enters the section, creating it on first use. On failure the caller goes on under the
    /// hub's lock alone and the failure is counted.
    fn enter(&mut self, ctx: &mut dyn DeviceContext) -> Option<CriticalSectionId> {
        let id = match self.section {
            Some(id) => id,
            None => match ctx.create_critical_section() {
                Ok(id) => *self.section.insert(id),
                Err(_) => {
                    self.hub.count_section_failure(self.slot);
                    return None;
                }
            },
        };
        match ctx.enter_critical_section(id) {
            Ok(()) => Some(id),
            Err(error) => {
                if error == CriticalSectionError::Unknown(id) {
                    // Removed behind our back (the bus cleans up): create a new one next time.
                    self.section = None;
                }
                self.hub.count_section_failure(self.slot);
                None
            }
        }
    }

    fn leave(&mut self, ctx: &mut dyn DeviceContext, entered: Option<CriticalSectionId>) {
        if let Some(id) = entered
            && ctx.exit_critical_section(id).is_err()
        {
            self.hub.count_section_failure(self.slot);
        }
    }
}

impl UartBackend for HostBackedUart {
    /// Gathers the byte into the line; a newline, or a full line, writes it.
    fn transmit(&mut self, ctx: &mut dyn DeviceContext, byte: u8) {
        if byte == LINE_END {
            self.write_line(ctx, false);
            return;
        }
        if let Some(byte) = sanitize(byte) {
            self.line.push(byte);
            if self.pending_line().len() >= LINE_CAPACITY {
                self.write_line(ctx, true);
            }
        }
    }

    /// The VM's next queued host byte; with the queue empty, pulls from the host port (inside
    /// the critical section) first.
    fn poll_receive(&mut self, ctx: &mut dyn DeviceContext) -> Option<u8> {
        if let Some(byte) = self.hub.pop_input(self.slot) {
            return Some(byte);
        }
        let entered = self.enter(ctx);
        let byte = self.hub.pump_and_pop(self.slot);
        self.leave(ctx, entered);
        byte
    }
}
