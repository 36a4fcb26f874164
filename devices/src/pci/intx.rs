//! PCI INTx routing on a PC without an interrupt router model: the conventional swizzle (PCI
//! Local Bus spec, "system interrupt mapping"; the PCI-to-PCI bridge spec's rotation) maps a
//! function's pin to one of four PIRQ lines by its device number, and the VM's configuration
//! maps PIRQ A–D to ISA interrupt lines.

use super::InterruptPin;
use crate::interface::{Bdf, IrqLine};

/// The ISA lines PIRQ A–D are wired to (what a PC BIOS programs into the PIIX3 PIRQ routing
/// registers; 10, 11, 10, 11 is QEMU's and Bochs' choice).
pub const DEFAULT_PIRQ_LINES: [u8; 4] = [10, 11, 10, 11];

/// The ISA line a function's INTx pin drives: PIRQ `(device + pin - 1) mod 4`. `None` for a
/// function without an interrupt pin.
pub fn intx_line(bdf: Bdf, pin: InterruptPin, pirq_lines: [u8; 4]) -> Option<IrqLine> {
    let pin_index = match pin {
        InterruptPin::None => return None,
        InterruptPin::IntA => 0,
        InterruptPin::IntB => 1,
        InterruptPin::IntC => 2,
        InterruptPin::IntD => 3,
    };
    let pirq = (usize::from(bdf.device()) + pin_index) % 4;
    Some(IrqLine(pirq_lines[pirq]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_rotate_across_pirqs_by_device_number() {
        let lines = [10, 11, 12, 13];
        let at = |device, pin| intx_line(Bdf::new(0, device, 0).unwrap(), pin, lines);
        assert_eq!(at(0, InterruptPin::IntA), Some(IrqLine(10)));
        assert_eq!(at(0, InterruptPin::IntD), Some(IrqLine(13)));
        assert_eq!(at(1, InterruptPin::IntA), Some(IrqLine(11)));
        assert_eq!(at(3, InterruptPin::IntB), Some(IrqLine(10)));
        assert_eq!(at(5, InterruptPin::None), None);
    }

    #[test]
    fn default_wiring_is_the_pc_one() {
        let line = intx_line(
            Bdf::new(0, 3, 0).unwrap(),
            InterruptPin::IntA,
            DEFAULT_PIRQ_LINES,
        );
        assert_eq!(line, Some(IrqLine(11)));
    }
}
