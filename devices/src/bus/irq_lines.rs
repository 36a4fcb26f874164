//! Shared interrupt lines (operation 6): several devices may drive one line — PCI functions
//! whose INTx pins the swizzle puts on the same PIRQ, most often — and the line is the wired OR
//! of their outputs, as on a real board. [`IrqLines`] keeps which devices assert each line, so
//! one device deasserting does not cancel another's pending interrupt, and a removed device's
//! outputs are released.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::interface::IrqLine;

/// The devices (by bus slot) asserting each line; lines nobody asserts are absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct IrqLines {
    asserted: BTreeMap<u8, BTreeSet<u32>>,
}

impl IrqLines {
    /// Device `slot` drives `line` to `level`; returns the line's combined level.
    pub(crate) fn drive(&mut self, slot: u32, line: IrqLine, level: bool) -> bool {
        if level {
            self.asserted.entry(line.0).or_default().insert(slot);
            return true;
        }
        let Some(drivers) = self.asserted.get_mut(&line.0) else {
            return false;
        };
        drivers.remove(&slot);
        if drivers.is_empty() {
            self.asserted.remove(&line.0);
            return false;
        }
        true
    }

    /// Device `slot` stops driving anything; returns the lines that are now deasserted.
    pub(crate) fn release(&mut self, slot: u32) -> Vec<IrqLine> {
        let mut released = Vec::new();
        self.asserted.retain(|line, drivers| {
            if drivers.remove(&slot) && drivers.is_empty() {
                released.push(IrqLine(*line));
                return false;
            }
            true
        });
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_stays_asserted_while_any_driver_asserts_it() {
        let mut lines = IrqLines::default();
        assert!(lines.drive(1, IrqLine(11), true));
        assert!(lines.drive(2, IrqLine(11), true));
        assert!(lines.drive(1, IrqLine(11), false));
        assert!(!lines.drive(2, IrqLine(11), false));
        assert!(!lines.drive(2, IrqLine(11), false));
    }

    #[test]
    fn lines_are_independent() {
        let mut lines = IrqLines::default();
        assert!(lines.drive(1, IrqLine(10), true));
        assert!(!lines.drive(1, IrqLine(11), false));
        assert!(!lines.drive(1, IrqLine(10), false));
    }

    #[test]
    fn release_deasserts_only_lines_left_without_drivers() {
        let mut lines = IrqLines::default();
        lines.drive(1, IrqLine(10), true);
        lines.drive(1, IrqLine(11), true);
        lines.drive(2, IrqLine(11), true);
        assert_eq!(lines.release(1), [IrqLine(10)]);
        assert!(lines.drive(3, IrqLine(11), false));
        assert_eq!(lines.release(2), [IrqLine(11)]);
        assert!(lines.release(2).is_empty());
    }
}
