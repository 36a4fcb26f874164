//! The time-stamp counter as the hypervisor's clock: its rate is measured against the PIT in
//! the same window as the APIC timer (`lapic::calibrate`), and converts TSC deltas to
//! nanoseconds for guest-visible time and exit statistics.

use core::sync::atomic::{AtomicU64, Ordering};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// Read the TSC.
pub fn now() -> u64 {
    // SAFETY: RDTSC has no side effects; CR4.TSD is clear in the hypervisor.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Record the TSC rate measured against the PIT (0 = unknown, ignored).
pub fn record_rate(hz: u64) {
    if hz != 0 {
        TSC_HZ.store(hz, Ordering::Relaxed);
    }
}

/// The TSC rate in Hz (0 before calibration).
pub fn hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Nanoseconds for `ticks` TSC ticks (0 before calibration).
pub fn ticks_to_nanos(ticks: u64) -> u64 {
    let hz = hz();
    if hz == 0 {
        return 0;
    }
    (u128::from(ticks) * 1_000_000_000 / u128::from(hz)) as u64
}

/// TSC ticks for `nanos` nanoseconds (0 before calibration).
pub fn nanos_to_ticks(nanos: u64) -> u64 {
    (u128::from(nanos) * u128::from(hz()) / 1_000_000_000) as u64
}
