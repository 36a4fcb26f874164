//! A fake [`DeviceContext`] for unit tests and fuzzing of device models, without a VM.
//!
//! Everything a device asks of the VMM lands in plain fields the test can read back: guest RAM
//! is a `Vec<u8>` with bounds-checked DMA, interrupts are a log of [`IrqEvent`]s, timers are a
//! table driven by a settable clock ([`FakeContext::fire_due`]), allocations and critical
//! sections keep a ledger, requests and claims are recorded.
//!
//! The same type also implements [`VmServices`], so a test can hand it to a [`crate::bus::Bus`]
//! as the VM and read back what all devices did. (Import only one of the two traits where you
//! call their methods on it directly, or the method names are ambiguous.)
//!
//! It is `pub` (not `cfg(test)`) so
//! other crates' tests and the fuzz targets can use it; it is `no_std` + `alloc` like the crate.
//!
//! Every log a device fills is capped ([`EVENT_LOG_CAP`], [`MAX_TIMERS`], ...) so a fuzzer that
//! drives a device through millions of accesses cannot grow the fake without bound; events past
//! the cap are counted in [`FakeContext::dropped_events`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::bus::VmServices;
use crate::interface::{
    AllocError, ClaimError, CriticalSectionError, CriticalSectionId, Device, DeviceContext,
    DeviceMemory, DmaError, Gpa, IrqError, IrqLine, MsiMessage, Nanos, Region, TimerError, TimerId,
    VmConfig, VmRequest,
};

/// Events kept in each log (interrupts, requests) before further ones are only counted.
pub const EVENT_LOG_CAP: usize = 4096;
/// Timers one fake context serves at once.
pub const MAX_TIMERS: usize = 16;
/// Critical sections one fake context serves at once.
pub const MAX_CRITICAL_SECTIONS: usize = 16;
/// Regions one fake context lets a device claim.
pub const MAX_CLAIMS: usize = 64;
/// Interrupt lines the fake VM has by default: 16 ISA lines plus the I/O APIC's 24 pins
/// overlap, so 24 (lines 0–23).
pub const DEFAULT_IRQ_LINES: u8 = 24;
/// Default allocation quota in bytes.
pub const DEFAULT_ALLOC_QUOTA: usize = 1 << 20;
/// The x86 MSI address window (Intel SDM vol. 3, 11.11.1): messages outside it are refused.
pub const MSI_ADDRESS_FIRST: u64 = 0xFEE0_0000;
/// Last address of the MSI window.
pub const MSI_ADDRESS_LAST: u64 = 0xFEEF_FFFF;

/// One interrupt the device signalled, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqEvent {
    /// `set_irq(line, level)` (a pulse logs `true` then `false`).
    Line { line: IrqLine, level: bool },
    /// `signal_msi(message)`.
    Msi(MsiMessage),
}

/// A connected timer: its period and when it is next due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeTimer {
    pub period: Nanos,
    pub next_due: Nanos,
}

/// The fake VMM side. Build with [`FakeContext::new`] or [`FakeContext::with_ram`], then tweak
/// the public limits if a test needs to provoke an error.
#[derive(Debug)]
pub struct FakeContext {
    /// Guest RAM, guest-physical 0 upwards.
    pub ram: Vec<u8>,
    /// What `vm_config` returns.
    pub config: VmConfig,
    /// Lines `0..irq_lines` exist; others are refused with [`IrqError::NoSuchLine`].
    pub irq_lines: u8,
    /// The shortest period `connect_timer` accepts.
    pub min_timer_period: Nanos,
    /// Bytes the device may hold at once.
    pub alloc_quota: usize,
    irq_log: Vec<IrqEvent>,
    levels: BTreeMap<IrqLine, bool>,
    requests: Vec<VmRequest>,
    dropped_events: u64,
    now: Nanos,
    timers: BTreeMap<TimerId, FakeTimer>,
    next_timer: u32,
    allocations: BTreeMap<u64, usize>,
    next_allocation: u64,
    sections: BTreeMap<CriticalSectionId, bool>,
    next_section: u32,
    claims: Vec<Region>,
}

impl Default for FakeContext {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeContext {
    /// Guest RAM size of [`FakeContext::new`].
    pub const DEFAULT_RAM_BYTES: usize = 64 * 1024;

    /// A fake VM with 64 KiB of zeroed RAM, one vCPU, named "test".
    pub fn new() -> Self {
        Self::with_ram(Self::DEFAULT_RAM_BYTES)
    }

    /// A fake VM with `ram_bytes` of zeroed RAM.
    pub fn with_ram(ram_bytes: usize) -> Self {
        FakeContext {
            ram: vec![0; ram_bytes],
            config: VmConfig {
                name: String::from("test"),
                ram_bytes: ram_bytes as u64,
                vcpus: 1,
            },
            irq_lines: DEFAULT_IRQ_LINES,
            min_timer_period: 1,
            alloc_quota: DEFAULT_ALLOC_QUOTA,
            irq_log: Vec::new(),
            levels: BTreeMap::new(),
            requests: Vec::new(),
            dropped_events: 0,
            now: 0,
            timers: BTreeMap::new(),
            next_timer: 0,
            allocations: BTreeMap::new(),
            next_allocation: 0,
            sections: BTreeMap::new(),
            next_section: 0,
            claims: Vec::new(),
        }
    }

    // ---- interrupts ----

    /// Every interrupt event so far, oldest first (at most [`EVENT_LOG_CAP`]).
    pub fn irq_events(&self) -> &[IrqEvent] {
        &self.irq_log
    }
    /// Returns and clears the interrupt log.
    pub fn take_irq_events(&mut self) -> Vec<IrqEvent> {
        core::mem::take(&mut self.irq_log)
    }
    /// The level a line was last driven to (`false` if never driven).
    pub fn irq_level(&self, line: IrqLine) -> bool {
        self.levels.get(&line).copied().unwrap_or(false)
    }
    /// Number of low→high transitions of `line` in the log.
    pub fn irq_rising_edges(&self, line: IrqLine) -> usize {
        let mut level = false;
        let mut edges = 0;
        for event in &self.irq_log {
            if let IrqEvent::Line {
                line: l,
                level: new,
            } = *event
                && l == line
            {
                if new && !level {
                    edges += 1;
                }
                level = new;
            }
        }
        edges
    }
    /// The MSIs signalled so far, oldest first.
    pub fn msis(&self) -> Vec<MsiMessage> {
        self.irq_log
            .iter()
            .filter_map(|e| match e {
                IrqEvent::Msi(m) => Some(*m),
                IrqEvent::Line { .. } => None,
            })
            .collect()
    }
    /// Events (interrupts or requests) not logged because a log was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    // ---- requests and claims ----

    /// The VM requests made so far, oldest first.
    pub fn requests(&self) -> &[VmRequest] {
        &self.requests
    }
    /// Returns and clears the request log.
    pub fn take_requests(&mut self) -> Vec<VmRequest> {
        core::mem::take(&mut self.requests)
    }
    /// The regions the device holds now, in claim order.
    pub fn claims(&self) -> &[Region] {
        &self.claims
    }

    // ---- clock and timers ----

    /// Sets the clock (it may go backwards; tests decide).
    pub fn set_now(&mut self, now: Nanos) {
        self.now = now;
    }
    /// Moves the clock forward by `delta` (saturating) without firing timers.
    pub fn advance(&mut self, delta: Nanos) {
        self.now = self.now.saturating_add(delta);
    }
    /// The timers connected now.
    pub fn timers(&self) -> &BTreeMap<TimerId, FakeTimer> {
        &self.timers
    }
    /// The period of a connected timer.
    pub fn timer_period(&self, id: TimerId) -> Option<Nanos> {
        self.timers.get(&id).map(|t| t.period)
    }

    /// Advances the clock to `until`, calling `device.timer` once for every period that falls
    /// due on the way, in time order, with the clock set to each due time. Timers the device
    /// connects or disconnects in its callback take effect at once. Returns the number of calls.
    pub fn fire_due(&mut self, device: &mut dyn Device, until: Nanos) -> u64 {
        let mut calls: u64 = 0;
        while let Some((id, due)) = self.earliest_due(until) {
            self.now = due;
            if let Some(timer) = self.timers.get_mut(&id) {
                timer.next_due = due.saturating_add(timer.period);
            }
            device.timer(self, id, due);
            calls = calls.saturating_add(1);
        }
        self.now = self.now.max(until);
        calls
    }

    /// Calls `device.timer` once for every timer due at or before `at`, with the clock at `at`
    /// (a late tick: the device catches up on every missed period itself), then reschedules
    /// each timer after `at`. Returns the number of calls.
    pub fn fire_late(&mut self, device: &mut dyn Device, at: Nanos) -> u64 {
        self.now = at;
        let due: Vec<TimerId> = self
            .timers
            .iter()
            .filter(|(_, t)| t.next_due <= at)
            .map(|(id, _)| *id)
            .collect();
        let mut calls: u64 = 0;
        for id in due {
            if let Some(timer) = self.timers.get_mut(&id) {
                let missed = (at - timer.next_due) / timer.period;
                timer.next_due = timer
                    .next_due
                    .saturating_add(missed.saturating_add(1).saturating_mul(timer.period));
                device.timer(self, id, at);
                calls = calls.saturating_add(1);
            }
        }
        calls
    }

    fn earliest_due(&self, until: Nanos) -> Option<(TimerId, Nanos)> {
        self.timers
            .iter()
            .filter(|(_, t)| t.next_due <= until)
            .min_by_key(|(id, t)| (t.next_due, **id))
            .map(|(id, t)| (*id, t.next_due))
    }

    // ---- memory ledger ----

    /// Allocations handed out and not freed.
    pub fn outstanding_allocations(&self) -> usize {
        self.allocations.len()
    }
    /// Bytes handed out and not freed.
    pub fn outstanding_bytes(&self) -> usize {
        self.allocations.values().sum()
    }

    // ---- critical sections ----

    /// The critical sections that exist now, with whether each is entered.
    pub fn critical_sections(&self) -> &BTreeMap<CriticalSectionId, bool> {
        &self.sections
    }
    /// Whether the section exists and is entered.
    pub fn is_entered(&self, id: CriticalSectionId) -> bool {
        self.sections.get(&id).copied().unwrap_or(false)
    }

    fn log_irq(&mut self, event: IrqEvent) {
        if self.irq_log.len() < EVENT_LOG_CAP {
            self.irq_log.push(event);
        } else {
            self.dropped_events = self.dropped_events.saturating_add(1);
        }
    }

    fn ram_span(&self, gpa: Gpa, len: usize) -> Result<core::ops::Range<usize>, DmaError> {
        let out = DmaError::OutOfRange { gpa, len };
        let start = usize::try_from(gpa).map_err(|_| out)?;
        let end = start.checked_add(len).ok_or(out)?;
        if end > self.ram.len() {
            return Err(out);
        }
        Ok(start..end)
    }
}

impl DeviceContext for FakeContext {
    fn dma_read(&mut self, gpa: Gpa, buf: &mut [u8]) -> Result<(), DmaError> {
        let span = self.ram_span(gpa, buf.len())?;
        buf.copy_from_slice(&self.ram[span]);
        Ok(())
    }

    fn dma_write(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), DmaError> {
        let span = self.ram_span(gpa, data.len())?;
        self.ram[span].copy_from_slice(data);
        Ok(())
    }

    fn set_irq(&mut self, line: IrqLine, level: bool) -> Result<(), IrqError> {
        if line.0 >= self.irq_lines {
            return Err(IrqError::NoSuchLine(line));
        }
        self.levels.insert(line, level);
        self.log_irq(IrqEvent::Line { line, level });
        Ok(())
    }

    fn signal_msi(&mut self, msg: MsiMessage) -> Result<(), IrqError> {
        if !(MSI_ADDRESS_FIRST..=MSI_ADDRESS_LAST).contains(&msg.address) {
            return Err(IrqError::BadMsi(msg));
        }
        self.log_irq(IrqEvent::Msi(msg));
        Ok(())
    }

    fn connect_timer(&mut self, period: Nanos) -> Result<TimerId, TimerError> {
        if period == 0 || period < self.min_timer_period {
            return Err(TimerError::BadPeriod(period));
        }
        if self.timers.len() >= MAX_TIMERS {
            return Err(TimerError::TooMany);
        }
        let id = TimerId(self.next_timer);
        self.next_timer = self.next_timer.wrapping_add(1);
        let next_due = self.now.saturating_add(period);
        self.timers.insert(id, FakeTimer { period, next_due });
        Ok(id)
    }

    fn disconnect_timer(&mut self, id: TimerId) -> Result<(), TimerError> {
        self.timers
            .remove(&id)
            .map(|_| ())
            .ok_or(TimerError::Unknown(id))
    }

    fn now(&self) -> Nanos {
        self.now
    }

    fn vm_config(&self) -> &VmConfig {
        &self.config
    }

    fn alloc(&mut self, size: usize) -> Result<DeviceMemory, AllocError> {
        let held = self.outstanding_bytes();
        let fits = held
            .checked_add(size)
            .is_some_and(|total| total <= self.alloc_quota);
        if !fits {
            return Err(AllocError::OutOfMemory { requested: size });
        }
        let id = self.next_allocation;
        self.next_allocation = self.next_allocation.wrapping_add(1);
        self.allocations.insert(id, size);
        Ok(DeviceMemory {
            id,
            bytes: vec![0; size].into_boxed_slice(),
        })
    }

    fn free(&mut self, memory: DeviceMemory) -> Result<(), AllocError> {
        match self.allocations.get(&memory.id) {
            Some(&size) if size == memory.bytes.len() => {
                self.allocations.remove(&memory.id);
                Ok(())
            }
            _ => Err(AllocError::Foreign),
        }
    }

    fn create_critical_section(&mut self) -> Result<CriticalSectionId, CriticalSectionError> {
        if self.sections.len() >= MAX_CRITICAL_SECTIONS {
            return Err(CriticalSectionError::TooMany);
        }
        let id = CriticalSectionId(self.next_section);
        self.next_section = self.next_section.wrapping_add(1);
        self.sections.insert(id, false);
        Ok(id)
    }

    fn enter_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError> {
        let entered = self
            .sections
            .get_mut(&id)
            .ok_or(CriticalSectionError::Unknown(id))?;
        if *entered {
            return Err(CriticalSectionError::AlreadyEntered(id));
        }
        *entered = true;
        Ok(())
    }

    fn exit_critical_section(&mut self, id: CriticalSectionId) -> Result<(), CriticalSectionError> {
        let entered = self
            .sections
            .get_mut(&id)
            .ok_or(CriticalSectionError::Unknown(id))?;
        if !*entered {
            return Err(CriticalSectionError::NotEntered(id));
        }
        *entered = false;
        Ok(())
    }

    /// Removing an entered section is refused with `NotEntered` (the interface's error for a
    /// section in a state that does not allow the operation).
    fn remove_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError> {
        match self.sections.get(&id) {
            None => Err(CriticalSectionError::Unknown(id)),
            Some(true) => Err(CriticalSectionError::NotEntered(id)),
            Some(false) => {
                self.sections.remove(&id);
                Ok(())
            }
        }
    }

    fn request(&mut self, request: VmRequest) {
        if self.requests.len() < EVENT_LOG_CAP {
            self.requests.push(request);
        } else {
            self.dropped_events = self.dropped_events.saturating_add(1);
        }
    }

    fn claim(&mut self, region: Region) -> Result<(), ClaimError> {
        if let Some(existing) = self.claims.iter().find(|c| c.overlaps(&region)) {
            return Err(ClaimError::Overlap(*existing));
        }
        if self.claims.len() >= MAX_CLAIMS {
            return Err(ClaimError::TooMany);
        }
        self.claims.push(region);
        Ok(())
    }

    fn release(&mut self, region: Region) -> Result<(), ClaimError> {
        let index = self
            .claims
            .iter()
            .position(|c| *c == region)
            .ok_or(ClaimError::NotClaimed(region))?;
        self.claims.remove(index);
        Ok(())
    }
}

/// The VM side for a [`crate::bus::Bus`]: the same RAM, interrupt log, clock, critical sections,
/// requests and configuration as the [`DeviceContext`] side. Allocation uses the trait's
/// default (the global allocator); the bus keeps the per-device ledger.
impl VmServices for FakeContext {
    fn dma_read(&mut self, gpa: Gpa, buf: &mut [u8]) -> Result<(), DmaError> {
        DeviceContext::dma_read(self, gpa, buf)
    }
    fn dma_write(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), DmaError> {
        DeviceContext::dma_write(self, gpa, data)
    }
    fn set_irq(&mut self, line: IrqLine, level: bool) -> Result<(), IrqError> {
        DeviceContext::set_irq(self, line, level)
    }
    fn signal_msi(&mut self, msg: MsiMessage) -> Result<(), IrqError> {
        DeviceContext::signal_msi(self, msg)
    }
    fn now(&self) -> Nanos {
        self.now
    }
    fn vm_config(&self) -> &VmConfig {
        &self.config
    }
    fn create_critical_section(&mut self) -> Result<CriticalSectionId, CriticalSectionError> {
        DeviceContext::create_critical_section(self)
    }
    fn enter_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError> {
        DeviceContext::enter_critical_section(self, id)
    }
    fn exit_critical_section(&mut self, id: CriticalSectionId) -> Result<(), CriticalSectionError> {
        DeviceContext::exit_critical_section(self, id)
    }
    fn remove_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError> {
        DeviceContext::remove_critical_section(self, id)
    }
    fn request(&mut self, request: VmRequest) {
        DeviceContext::request(self, request);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::Device;

    /// Records each timer callback and reconnects nothing.
    struct Ticker {
        ticks: Vec<(TimerId, Nanos)>,
    }

    impl Device for Ticker {
        fn name(&self) -> &str {
            "ticker"
        }
        fn timer(&mut self, ctx: &mut dyn DeviceContext, id: TimerId, now: Nanos) {
            assert_eq!(ctx.now(), now);
            self.ticks.push((id, now));
        }
    }

    #[test]
    fn fake_dma_is_bounds_checked() {
        let mut ctx = FakeContext::with_ram(16);
        assert_eq!(
            DeviceContext::dma_write(&mut ctx, 12, &[1, 2, 3, 4]),
            Ok(())
        );
        let mut buf = [0; 4];
        assert_eq!(DeviceContext::dma_read(&mut ctx, 12, &mut buf), Ok(()));
        assert_eq!(buf, [1, 2, 3, 4]);
        assert_eq!(
            DeviceContext::dma_read(&mut ctx, 13, &mut buf),
            Err(DmaError::OutOfRange { gpa: 13, len: 4 })
        );
        assert_eq!(
            DeviceContext::dma_write(&mut ctx, u64::MAX, &[0]),
            Err(DmaError::OutOfRange {
                gpa: u64::MAX,
                len: 1
            })
        );
    }

    #[test]
    fn fake_irq_log_records_levels_edges_and_msis_and_is_capped() {
        let mut ctx = FakeContext::new();
        DeviceContext::pulse_irq(&mut ctx, IrqLine(3)).unwrap();
        DeviceContext::set_irq(&mut ctx, IrqLine(3), true).unwrap();
        assert_eq!(ctx.irq_rising_edges(IrqLine(3)), 2);
        assert!(ctx.irq_level(IrqLine(3)));
        let msi = MsiMessage {
            address: 0xFEE0_1000,
            data: 0x30,
        };
        DeviceContext::signal_msi(&mut ctx, msi).unwrap();
        assert_eq!(ctx.msis(), [msi]);
        let bad = MsiMessage {
            address: 0x1000,
            data: 0,
        };
        assert_eq!(
            DeviceContext::signal_msi(&mut ctx, bad),
            Err(IrqError::BadMsi(bad))
        );
        assert_eq!(
            DeviceContext::set_irq(&mut ctx, IrqLine(DEFAULT_IRQ_LINES), true),
            Err(IrqError::NoSuchLine(IrqLine(DEFAULT_IRQ_LINES)))
        );
        for _ in 0..EVENT_LOG_CAP {
            DeviceContext::set_irq(&mut ctx, IrqLine(1), false).unwrap();
        }
        assert_eq!(ctx.irq_events().len(), EVENT_LOG_CAP);
        assert_eq!(ctx.dropped_events(), 4);
        assert_eq!(ctx.take_irq_events().len(), EVENT_LOG_CAP);
        assert!(ctx.irq_events().is_empty());
    }

    #[test]
    fn fake_fire_due_calls_each_period_in_time_order() {
        let mut ctx = FakeContext::new();
        ctx.set_now(100);
        let fast = DeviceContext::connect_timer(&mut ctx, 10).unwrap();
        let slow = DeviceContext::connect_timer(&mut ctx, 25).unwrap();
        let mut device = Ticker { ticks: Vec::new() };
        assert_eq!(ctx.fire_due(&mut device, 150), 7);
        assert_eq!(
            device.ticks,
            [
                (fast, 110),
                (fast, 120),
                (slow, 125),
                (fast, 130),
                (fast, 140),
                (fast, 150),
                (slow, 150),
            ]
        );
        assert_eq!(DeviceContext::now(&ctx), 150);
        DeviceContext::disconnect_timer(&mut ctx, slow).unwrap();
        assert_eq!(
            DeviceContext::disconnect_timer(&mut ctx, slow),
            Err(TimerError::Unknown(slow))
        );
        assert_eq!(ctx.timer_period(fast), Some(10));
        // A late tick: one call, clock at `at`, rescheduled past it.
        device.ticks.clear();
        assert_eq!(ctx.fire_late(&mut device, 1_005), 1);
        assert_eq!(device.ticks, [(fast, 1_005)]);
        assert_eq!(ctx.timers()[&fast].next_due, 1_010);
        assert_eq!(
            DeviceContext::connect_timer(&mut ctx, 0),
            Err(TimerError::BadPeriod(0))
        );
    }

    #[test]
    fn fake_allocation_ledger_counts_and_refuses_foreign_frees() {
        let mut ctx = FakeContext::new();
        ctx.alloc_quota = 100;
        let a = DeviceContext::alloc(&mut ctx, 60).unwrap();
        assert_eq!(a.bytes.len(), 60);
        assert_eq!(
            DeviceContext::alloc(&mut ctx, 41).map(|_| ()),
            Err(AllocError::OutOfMemory { requested: 41 })
        );
        assert_eq!(
            (ctx.outstanding_allocations(), ctx.outstanding_bytes()),
            (1, 60)
        );
        let forged = DeviceMemory {
            id: a.id,
            bytes: vec![0; 5].into_boxed_slice(),
        };
        assert_eq!(
            DeviceContext::free(&mut ctx, forged),
            Err(AllocError::Foreign)
        );
        assert_eq!(DeviceContext::free(&mut ctx, a), Ok(()));
        assert_eq!(
            (ctx.outstanding_allocations(), ctx.outstanding_bytes()),
            (0, 0)
        );
    }

    #[test]
    fn fake_critical_sections_track_entered_state() {
        let mut ctx = FakeContext::new();
        let cs = DeviceContext::create_critical_section(&mut ctx).unwrap();
        assert_eq!(
            DeviceContext::exit_critical_section(&mut ctx, cs),
            Err(CriticalSectionError::NotEntered(cs))
        );
        DeviceContext::enter_critical_section(&mut ctx, cs).unwrap();
        assert!(ctx.is_entered(cs));
        assert_eq!(
            DeviceContext::enter_critical_section(&mut ctx, cs),
            Err(CriticalSectionError::AlreadyEntered(cs))
        );
        assert_eq!(
            DeviceContext::remove_critical_section(&mut ctx, cs),
            Err(CriticalSectionError::NotEntered(cs))
        );
        DeviceContext::exit_critical_section(&mut ctx, cs).unwrap();
        DeviceContext::remove_critical_section(&mut ctx, cs).unwrap();
        assert_eq!(
            DeviceContext::enter_critical_section(&mut ctx, cs),
            Err(CriticalSectionError::Unknown(cs))
        );
    }

    #[test]
    fn fake_records_requests_claims_and_config() {
        let mut ctx = FakeContext::with_ram(4096);
        DeviceContext::request(&mut ctx, VmRequest::Reset);
        assert_eq!(ctx.take_requests(), [VmRequest::Reset]);
        let ports = Region::Pio(crate::interface::PortRange::new(0x3F8, 8).unwrap());
        DeviceContext::claim(&mut ctx, ports).unwrap();
        let inside = Region::Pio(crate::interface::PortRange::single(0x3FF));
        assert_eq!(
            DeviceContext::claim(&mut ctx, inside),
            Err(ClaimError::Overlap(ports))
        );
        assert_eq!(
            DeviceContext::release(&mut ctx, inside),
            Err(ClaimError::NotClaimed(inside))
        );
        DeviceContext::release(&mut ctx, ports).unwrap();
        assert!(ctx.claims().is_empty());
        assert_eq!(DeviceContext::vm_config(&ctx).ram_bytes, 4096);
    }
}
