//! The keyboard controller under arbitrary command/data traffic and keystrokes: no panic, the
//! output queue never passes its cap, and the only VM request it makes is a reset.
#![no_main]

use devices::i8042::{COMMAND_PORT, DATA_PORT, I8042, OUTPUT_QUEUE_CAP};
use devices::interface::VmRequest;
use devices_fuzz::{Step, installed, play};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|steps: Vec<Step>| {
    let mut kbc = I8042::new();
    let mut ctx = installed(&mut kbc);
    play(
        &mut kbc,
        &mut ctx,
        &[DATA_PORT, COMMAND_PORT],
        &steps,
        |kbc, ctx, _line, value| {
            let _ = kbc.push_keyboard(ctx, value);
        },
        |kbc, ctx| {
            assert!(kbc.queued() <= OUTPUT_QUEUE_CAP);
            assert!(
                ctx.requests()
                    .iter()
                    .all(|request| *request == VmRequest::Reset)
            );
        },
    );
});
