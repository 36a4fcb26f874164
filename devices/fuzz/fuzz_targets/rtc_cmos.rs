//! The MC146818 under arbitrary index/data traffic and time: no panic, at most one timer no
//! shorter than the minimum, and while SET is clear the time registers always hold a valid
//! time in the current data mode.
#![no_main]

use devices::interface::DeviceContext;
use devices::rtc_cmos::calendar::from_bcd_strict;
use devices::rtc_cmos::{DATA_PORT, INDEX_PORT, MIN_TIMER_PERIOD_NS, RtcCmos, reg_b, register};
use devices_fuzz::{Step, installed, play};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u32, Vec<Step>)| {
    let (epoch, steps) = input;
    // Up to 2^38 s: past year 9999 is refused by the constructor, so clamp into range.
    let epoch = (u64::from(epoch) * 64).min(devices::rtc_cmos::MAX_EPOCH_SECONDS);
    let mut rtc = RtcCmos::new(epoch).expect("in range");
    let mut ctx = installed(&mut rtc);
    play(
        &mut rtc,
        &mut ctx,
        &[INDEX_PORT, DATA_PORT],
        &steps,
        |rtc, ctx, _line, _value| {
            let _ = rtc.seconds_at(ctx.now());
        },
        |rtc, ctx| {
            assert!(
                ctx.timers()
                    .values()
                    .all(|timer| timer.period >= MIN_TIMER_PERIOD_NS)
            );
            let b = rtc.cmos(register::B);
            if b & reg_b::SET == 0 {
                let binary = b & reg_b::BINARY != 0;
                let decode = |byte: u8| {
                    if binary {
                        Some(byte)
                    } else {
                        from_bcd_strict(byte)
                    }
                };
                for (index, limit) in [
                    (register::SECONDS, 60),
                    (register::MINUTES, 60),
                    (register::DAY, 32),
                    (register::MONTH, 13),
                    (register::YEAR, 100),
                ] {
                    let byte = rtc.cmos(index);
                    assert!(
                        decode(byte).is_some_and(|v| v < limit),
                        "register {index:#x} = {byte:#x}"
                    );
                }
            }
        },
    );
});
