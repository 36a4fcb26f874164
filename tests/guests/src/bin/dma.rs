//! DMA guest: the MMIO test device writes a seeded pattern into a RAM buffer (device → VMM →
//! guest RAM, operations 6, 16 and 17) and interrupts on completion; refused transfers must
//! leave guest RAM untouched and still complete with an error status and an interrupt.
//!
//! The completion handler reads STATUS, checks the buffer against the same generator the
//! device uses, acknowledges (withdrawing the line) and sends EOI. Transfers:
//! 1. [`LENGTH`] bytes into the middle of a guarded buffer, IRQ 5 → done, pattern exact,
//!    guards intact;
//! 2. IRQ_LINE moved to 11 (the slave PIC); a transfer to the first byte above RAM → status 2;
//! 3. a transfer straddling the end of RAM (16 bytes in, 48 beyond) → status 2, the 16 bytes
//!    unchanged;
//! 4. a transfer into the device's own MMIO window → status 2, its scratch unchanged;
//! 5. a length above the 64 KiB cap → status 3;
//!
//! and after each refused one, the buffer still holds transfer 1's pattern. Every transfer
//! interrupts once: the handler count, the device's IRQ_COUNT and the PIC agree.

#![no_std]
#![no_main]

use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use guests::check::Checks;
use guests::test_device::{
    self as device, MAX_DMA_LENGTH, STATUS_BAD_LENGTH, STATUS_DMA_ERROR, STATUS_DONE,
};
use guests::{BootInfo, entry, idt, interrupts, pic, println};

entry!(main);

/// Bytes of the first transfer (not a multiple of a page: the end is exact).
const LENGTH: usize = 10_000;
/// Sentinel bytes on each side of the target.
const GUARD: usize = 256;
/// What the buffer holds before the transfer.
const SENTINEL: u8 = 0xA5;
/// The first transfer's seed.
const SEED: u32 = 0x1234_5678;
/// The refused transfers' seed.
const OTHER_SEED: u32 = 0x0BAD_F00D;
/// The line after the move.
const SLAVE_IRQ: u8 = 11;
/// Bytes of RAM the straddling transfer covers (the top 16, above the initial stack pointer).
const TOP_BYTES: usize = 16;
/// Length of the straddling transfer.
const STRADDLE_LENGTH: u32 = 64;
/// What the top bytes hold before it.
const TOP_SENTINEL: u8 = 0x5A;
/// Spin iterations a completion interrupt may take.
const SPIN_LIMIT: u64 = 10_000_000;
/// Bytes of the device's scratch compared around the transfer into its window.
const SCRATCH_PROBE: usize = 16;

/// The transfer target: guard, LENGTH bytes, guard. Written by the device behind the
/// compiler's back, so only ever accessed through raw pointers and volatile operations.
static mut BUFFER: [u8; GUARD + LENGTH + GUARD] = [0; GUARD + LENGTH + GUARD];

/// Completion interrupts taken.
static COMPLETIONS: AtomicU32 = AtomicU32::new(0);
/// STATUS as the last completion handler read it.
static LAST_STATUS: AtomicU32 = AtomicU32::new(u32::MAX);
/// The seed the handler checks a completed transfer against.
static EXPECTED_SEED: AtomicU32 = AtomicU32::new(SEED);
/// 0 if the handler found the pattern intact, else 1 + the first differing index.
static PATTERN_ERROR: AtomicU32 = AtomicU32::new(0);

fn buffer_base() -> *mut u8 {
    (&raw mut BUFFER).cast::<u8>()
}

/// Byte `index` of the buffer (volatile: the device writes it).
fn buffer_byte(index: usize) -> u8 {
    // SAFETY: index < BUFFER's length at every call site; volatile because the device writes
    // it; no reference to BUFFER exists.
    unsafe { ptr::read_volatile(buffer_base().add(index)) }
}

/// The first index of the target (BUFFER's middle [`LENGTH`] bytes) whose byte differs from
/// the pattern of `seed`.
fn target_mismatch(seed: u32) -> Option<usize> {
    let mut copy = [0u8; LENGTH];
    for (index, byte) in copy.iter_mut().enumerate() {
        *byte = buffer_byte(GUARD + index);
    }
    device::pattern_mismatch(seed, &copy)
}

/// Whether both guards still hold the sentinel.
fn guards_intact() -> bool {
    (0..GUARD)
        .chain(GUARD + LENGTH..GUARD + LENGTH + GUARD)
        .all(|index| buffer_byte(index) == SENTINEL)
}

fn on_completion(vector: u8) {
    let status = device::read32(device::STATUS);
    LAST_STATUS.store(status, Ordering::SeqCst);
    if status == STATUS_DONE {
        let seed = EXPECTED_SEED.load(Ordering::SeqCst);
        let error = target_mismatch(seed).map_or(0, |index| index as u32 + 1);
        PATTERN_ERROR.store(error, Ordering::SeqCst);
    }
    device::acknowledge();
    COMPLETIONS.fetch_add(1, Ordering::SeqCst);
    let irq = if vector == pic::vector(SLAVE_IRQ) {
        SLAVE_IRQ
    } else {
        device::DEFAULT_IRQ
    };
    pic::eoi(irq);
}

fn completions() -> u32 {
    COMPLETIONS.load(Ordering::SeqCst)
}

/// Starts a transfer (interrupts on) and waits for its completion interrupt: the status the
/// handler read, or `None` if no interrupt came.
///
/// # Safety
/// As [`device::start_dma`]: `gpa..gpa + length` is BUFFER's target or not guest RAM.
unsafe fn transfer(gpa: u64, length: u32, seed: u32) -> Option<u32> {
    let before = completions();
    LAST_STATUS.store(u32::MAX, Ordering::SeqCst);
    // SAFETY: forwarded from the caller.
    unsafe { device::start_dma(gpa, length, seed) };
    interrupts::spin_until(SPIN_LIMIT, || completions() != before)
        .then(|| LAST_STATUS.load(Ordering::SeqCst))
}

fn check_refused(checks: &mut Checks, what: &str, status: Option<u32>, expected: u32) {
    checks.check(
        status == Some(expected),
        format_args!("{what}: completion interrupt with status {status:?} (expected {expected})"),
    );
    checks.check(
        target_mismatch(SEED).is_none() && guards_intact(),
        format_args!("{what}: the buffer still holds the first transfer's pattern"),
    );
}

fn main(boot: BootInfo) -> u32 {
    let mut checks = Checks::new();
    pic::init();
    if idt::set_handler(pic::vector(device::DEFAULT_IRQ), on_completion).is_err()
        || idt::set_handler(pic::vector(SLAVE_IRQ), on_completion).is_err()
    {
        println!("FAIL: no gate for an IRQ vector");
        return checks.finish();
    }
    let _ = pic::unmask(device::DEFAULT_IRQ);
    let _ = pic::unmask(SLAVE_IRQ);
    for index in 0..GUARD + LENGTH + GUARD {
        // SAFETY: index is inside BUFFER; no reference to it exists.
        unsafe { ptr::write_volatile(buffer_base().add(index), SENTINEL) };
    }
    interrupts::enable();

    // 1: into RAM.
    let target = buffer_base() as u64 + GUARD as u64;
    // SAFETY: the target is BUFFER's middle LENGTH bytes, accessed only through raw pointers.
    let status = unsafe { transfer(target, LENGTH as u32, SEED) };
    checks.check(
        status == Some(STATUS_DONE),
        format_args!("DMA of {LENGTH} bytes to {target:#x}: completion interrupt with status {status:?} (expected 1)"),
    );
    let error = PATTERN_ERROR.load(Ordering::SeqCst);
    checks.check(
        error == 0,
        format_args!(
            "the handler found the seed's pattern in the buffer (first mismatch + 1: {error})"
        ),
    );
    checks.check(
        guards_intact(),
        format_args!("the bytes around the target are untouched"),
    );
    checks.equal(
        "STATUS after the acknowledge",
        device::read32(device::STATUS),
        0,
    );
    checks.equal("DMA_DONE_COUNT", device::read32(device::DMA_DONE_COUNT), 1);

    // 2: above RAM, on the slave's IRQ 11.
    device::write32(device::IRQ_LINE, u32::from(SLAVE_IRQ));
    checks.equal(
        "IRQ_LINE reads back",
        device::read32(device::IRQ_LINE),
        u32::from(SLAVE_IRQ),
    );
    let ram_end = boot.ram_bytes;
    // SAFETY: the range is above guest RAM: the device must refuse it.
    let status = unsafe { transfer(ram_end, 4096, OTHER_SEED) };
    check_refused(
        &mut checks,
        "DMA above RAM (IRQ 11)",
        status,
        STATUS_DMA_ERROR,
    );

    // 3: straddling the end of RAM. The top 16 bytes lie above the contract's initial RSP
    // (RAM end − 16): nothing of the guest's lives there.
    let top = ram_end - TOP_BYTES as u64;
    for index in 0..TOP_BYTES {
        // SAFETY: the top 16 bytes of RAM are identity-mapped and unused (see above).
        unsafe { ptr::write_volatile((top as *mut u8).add(index), TOP_SENTINEL) };
    }
    // SAFETY: the range ends above RAM: the device must refuse it whole.
    let status = unsafe { transfer(top, STRADDLE_LENGTH, OTHER_SEED) };
    check_refused(
        &mut checks,
        "DMA straddling the end of RAM",
        status,
        STATUS_DMA_ERROR,
    );
    let top_unchanged = (0..TOP_BYTES).all(|index| {
        // SAFETY: as above.
        unsafe { ptr::read_volatile((top as *const u8).add(index)) == TOP_SENTINEL }
    });
    checks.check(
        top_unchanged,
        format_args!("the last {TOP_BYTES} bytes of RAM are unchanged"),
    );

    // 4: into the device's own window.
    let scratch_before: [u8; SCRATCH_PROBE] = core::array::from_fn(|index| {
        // SAFETY: the device's scratch is MMIO, identity-mapped; no Rust object lives there.
        unsafe { ptr::read_volatile((device::BASE as *const u8).add(index)) }
    });
    // SAFETY: MMIO is not guest RAM: the device must refuse it.
    let status = unsafe { transfer(device::BASE, SCRATCH_PROBE as u32, OTHER_SEED) };
    check_refused(
        &mut checks,
        "DMA into the MMIO window",
        status,
        STATUS_DMA_ERROR,
    );
    let scratch_after: [u8; SCRATCH_PROBE] = core::array::from_fn(|index| {
        // SAFETY: as above.
        unsafe { ptr::read_volatile((device::BASE as *const u8).add(index)) }
    });
    checks.check(
        scratch_before == scratch_after,
        format_args!("the device's scratch is unchanged"),
    );

    // 5: too long.
    // SAFETY: the device refuses the length before touching memory.
    let status = unsafe { transfer(target, MAX_DMA_LENGTH + 1, OTHER_SEED) };
    check_refused(&mut checks, "DMA of 64 KiB + 1", status, STATUS_BAD_LENGTH);

    interrupts::disable();
    checks.equal("completion interrupts", completions(), 5);
    checks.equal(
        "device IRQ_COUNT register",
        device::read32(device::IRQ_COUNT),
        5,
    );
    checks.equal(
        "DMA_DONE_COUNT after the refused transfers",
        device::read32(device::DMA_DONE_COUNT),
        1,
    );
    checks.equal("PIC in service afterwards", pic::isr(), 0);
    checks.finish()
}
