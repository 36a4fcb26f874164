//! The 8254 under arbitrary control words, counts, port 0x61 and time: no panic (overflow
//! checks are on), at most one timer, never shorter than the minimum period.
#![no_main]

use devices::interface::DeviceContext;
use devices::pit8254::{MIN_TIMER_PERIOD_NS, Pit8254};
use devices_fuzz::{Step, installed, play};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|steps: Vec<Step>| {
    let mut pit = Pit8254::new();
    let mut ctx = installed(&mut pit);
    let ports = [0x40, 0x41, 0x42, 0x43, 0x61];
    play(
        &mut pit,
        &mut ctx,
        &ports,
        &steps,
        |pit, ctx, line, _value| {
            let _ = pit.output(usize::from(line % 4), ctx.now());
        },
        |pit, ctx| {
            assert!(
                ctx.timers()
                    .values()
                    .all(|timer| timer.period >= MIN_TIMER_PERIOD_NS)
            );
            assert!(pit.coalesced_edges() <= pit.irq_edges());
            assert!(pit.timer_error().is_none());
        },
    );
});
