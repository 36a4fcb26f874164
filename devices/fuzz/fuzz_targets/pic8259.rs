//! The 8259A pair under arbitrary command/data/ELCR traffic and input lines: no panic, and
//! every acknowledge returns a vector from one of the two programmed bases.
#![no_main]

use devices::pic8259::{LINES, PicPair};
use devices_fuzz::{Step, installed, play};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|steps: Vec<Step>| {
    let mut pic = PicPair::new();
    let mut ctx = installed(&mut pic);
    let ports = [0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1];
    play(
        &mut pic,
        &mut ctx,
        &ports,
        &steps,
        |pic, _ctx, line, value| {
            let line = line % (LINES + 2);
            if value & 0x80 != 0 {
                // The CPU takes an interrupt (or acknowledges spuriously).
                let (master, slave) = (pic.master().vector_base, pic.slave().vector_base);
                let vector = if value & 0x40 != 0 {
                    Some(pic.acknowledge())
                } else {
                    pic.take_interrupt()
                };
                if let Some(vector) = vector {
                    let base = vector & 0xF8;
                    assert!(
                        base == master || base == slave,
                        "vector {vector:#x} from neither base"
                    );
                }
            } else {
                let _ = pic.set_irq(line, value & 1 != 0);
            }
        },
        |pic, _ctx| {
            // A pending interrupt is always one that take_interrupt would deliver.
            let pending = pic.has_pending();
            let mut copy = pic.clone();
            assert_eq!(copy.take_interrupt().is_some(), pending);
        },
    );
});
