//! The 8254 PIT's channel 2 as a calibration reference: a one-shot countdown whose OUT pin
//! is readable through port 0x61 (Intel 8254 datasheet, mode 0; PC/AT port B).

use x86_64::instructions::port::Port;

use super::calibration::PIT_HZ;

const CHANNEL2_DATA: u16 = 0x42;
const MODE_COMMAND: u16 = 0x43;
const PORT_B: u16 = 0x61;
/// Port B bit 0: channel 2 gate.
const PORT_B_GATE2: u8 = 1 << 0;
/// Port B bit 1: speaker data enable (kept off).
const PORT_B_SPEAKER: u8 = 1 << 1;
/// Port B bit 5: channel 2 OUT, read-only.
const PORT_B_OUT2: u8 = 1 << 5;
/// Mode command: channel 2, lobyte/hibyte access, mode 0 (interrupt on terminal count), binary.
const CHANNEL2_LOHI_MODE0: u8 = 0b1011_0000;

/// Busy-wait for `ticks` PIT input clocks (1.193182 MHz) on channel 2, calling `on_start` just
/// as the countdown starts. Returns after OUT2 goes high.
pub fn wait_ticks(ticks: u16, on_start: impl FnOnce()) {
    let mut port_b = Port::<u8>::new(PORT_B);
    let mut command = Port::<u8>::new(MODE_COMMAND);
    let mut data = Port::<u8>::new(CHANNEL2_DATA);
    let [low, high] = ticks.to_le_bytes();
    // SAFETY: the PIT and port B are fixed PC ports that only this calibration code drives;
    // the speaker stays disabled.
    unsafe {
        let original = port_b.read();
        port_b.write(original & !(PORT_B_GATE2 | PORT_B_SPEAKER));
        command.write(CHANNEL2_LOHI_MODE0);
        data.write(low);
        data.write(high);
        on_start();
        port_b.write((original & !PORT_B_SPEAKER) | PORT_B_GATE2);
        while port_b.read() & PORT_B_OUT2 == 0 {
            core::hint::spin_loop();
        }
        port_b.write(original & !(PORT_B_GATE2 | PORT_B_SPEAKER));
    }
}

/// Busy-wait for about `micros` microseconds, measured by the PIT (longer waits loop).
pub fn wait_micros(micros: u64) {
    let mut remaining = micros.saturating_mul(PIT_HZ) / 1_000_000;
    while remaining > 0 {
        let chunk = remaining.min(u64::from(u16::MAX)) as u16;
        wait_ticks(chunk, || {});
        remaining -= u64::from(chunk);
    }
}
