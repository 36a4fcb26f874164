//! The unified virtual-device interface: the paper's 21 operations.
//!
//! Two directions. The VMM calls a device through [`Device`] (operations 1–4, 8–14); the device
//! calls the VMM through the [`DeviceContext`] it is handed on every call (operations 5–7, 10,
//! 15–21). Device models never reach for globals, so a fake context tests them without a VM.
//!
//! Addresses handed to a device are absolute (guest-physical for MMIO, port number for PIO) so a
//! model that claims several ranges (the PIC pair, the PIT and port 0x61) sees which one was hit.
//! Access sizes are the slice lengths: 1, 2, 4 or 8 bytes, little-endian.
//!
//! What a device owns on the bus is a [`Region`] (a [`PortRange`], an [`MmioRange`] or a PCI
//! [`Bdf`], each validated at construction); it takes them with [`DeviceContext::claim`],
//! normally in `install` (operation 11), and a PCI function's BARs follow its command register.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

/// Nanoseconds of guest-visible time, as the context's clock reports it.
pub type Nanos = u64;

/// A guest-physical address.
pub type Gpa = u64;

/// An interrupt line on the VM's interrupt controllers (ISA IRQ 0–15, then I/O APIC pins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IrqLine(pub u8);

/// A message-signalled interrupt, as a PCI function writes it (address + data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsiMessage {
    pub address: u64,
    pub data: u32,
}

/// A periodic timer the context connected for a device (operation 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u32);

/// A critical section the context created for a device (operations 18–21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CriticalSectionId(pub u32);

/// The VM configuration a device may query (operation 15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmConfig {
    /// The VM's name, used to tag its output.
    pub name: String,
    /// Bytes of guest RAM, starting at guest-physical 0 (minus the usual PC holes).
    pub ram_bytes: u64,
    /// Number of virtual CPUs.
    pub vcpus: u32,
}

/// Why a DMA access (operations 5–6) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaError {
    /// Some byte of `[gpa, gpa + len)` is not guest RAM of this VM.
    OutOfRange { gpa: Gpa, len: usize },
}

/// Why an interrupt could not be signalled (operation 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqError {
    /// The line does not exist on this VM's interrupt controllers.
    NoSuchLine(IrqLine),
    /// The VM has no controller that accepts this message.
    BadMsi(MsiMessage),
}

/// Why a timer operation (operation 10) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerError {
    /// A period of zero, or shorter than the VMM's tick can serve.
    BadPeriod(Nanos),
    /// The device already holds as many timers as the VMM allows.
    TooMany,
    /// The id does not name a timer this device holds.
    Unknown(TimerId),
}

/// Why a memory operation (operations 16–17) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocError {
    /// The device's quota or the VMM's heap is exhausted.
    OutOfMemory { requested: usize },
    /// The allocation was not made by this device's context.
    Foreign,
}

/// Why a critical-section operation (operations 18–21) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CriticalSectionError {
    /// The device already holds as many critical sections as the VMM allows.
    TooMany,
    /// The id does not name a critical section this device holds.
    Unknown(CriticalSectionId),
    /// Entering a section this device is already inside (it would deadlock).
    AlreadyEntered(CriticalSectionId),
    /// Exiting or removing a section in a state that does not allow it.
    NotEntered(CriticalSectionId),
}

/// Why a lifecycle operation (operations 11–14) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceError {
    /// The device's resources could not be obtained.
    Alloc(AllocError),
    Timer(TimerError),
    CriticalSection(CriticalSectionError),
    /// The device cannot work with this VM configuration; the text names the field.
    Config(String),
    /// The host back end behind the device failed.
    Backend(String),
    /// A region could not be claimed or released.
    Claim(ClaimError),
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::Alloc(e) => write!(f, "allocation failed: {e:?}"),
            DeviceError::Timer(e) => write!(f, "timer failed: {e:?}"),
            DeviceError::CriticalSection(e) => write!(f, "critical section failed: {e:?}"),
            DeviceError::Config(field) => write!(f, "bad configuration: {field}"),
            DeviceError::Backend(why) => write!(f, "host back end failed: {why}"),
            DeviceError::Claim(e) => write!(f, "claim failed: {e:?}"),
        }
    }
}

impl From<AllocError> for DeviceError {
    fn from(e: AllocError) -> Self {
        DeviceError::Alloc(e)
    }
}
impl From<TimerError> for DeviceError {
    fn from(e: TimerError) -> Self {
        DeviceError::Timer(e)
    }
}
impl From<CriticalSectionError> for DeviceError {
    fn from(e: CriticalSectionError) -> Self {
        DeviceError::CriticalSection(e)
    }
}

/// Memory a device obtained from the VMM (operation 16). Owned: dropping it without
/// [`DeviceContext::free`] still returns the bytes, but the accounting reports a leak.
#[derive(Debug, PartialEq, Eq)]
pub struct DeviceMemory {
    /// The context's ledger number for this allocation.
    pub id: u64,
    /// The bytes themselves, zero-filled on allocation.
    pub bytes: Box<[u8]>,
}

/// A request from a device to end or reset the whole VM (not one of the 21 operations: the
/// debug-exit device and the i8042's CPU-reset line need it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmRequest {
    /// Stop the VM with this status (0 = success).
    Shutdown { status: u32 },
    /// Reset the VM's CPUs (i8042 command 0xFE, port 0xCF9).
    Reset,
}

/// Why an address range or PCI address could not be built: an invalid value cannot exist past
/// the constructor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// A range of length zero.
    Empty,
    /// The range's last byte lies beyond the address space (`start + len - 1` overflows).
    Overflow,
    /// A PCI device number above 31 or function number above 7.
    BadBdf,
}

/// A non-empty, inclusive range of I/O ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// `len` ports from `start`; refuses an empty range or one past port 0xFFFF.
    pub const fn new(start: u16, len: u16) -> Result<Self, RangeError> {
        let Some(span) = len.checked_sub(1) else {
            return Err(RangeError::Empty);
        };
        match start.checked_add(span) {
            Some(last) => Ok(PortRange { first: start, last }),
            None => Err(RangeError::Overflow),
        }
    }
    /// One port.
    pub const fn single(port: u16) -> Self {
        PortRange {
            first: port,
            last: port,
        }
    }
    /// The first port.
    pub const fn first(&self) -> u16 {
        self.first
    }
    /// The last port (inclusive).
    pub const fn last(&self) -> u16 {
        self.last
    }
    /// Number of ports (1..=65536).
    pub const fn len(&self) -> u32 {
        self.last as u32 - self.first as u32 + 1
    }
    /// Never true: ranges are non-empty by construction.
    pub const fn is_empty(&self) -> bool {
        false
    }
    /// Whether `port` lies in the range.
    pub const fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

/// A non-empty, inclusive range of guest-physical addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MmioRange {
    first: Gpa,
    last: Gpa,
}

impl MmioRange {
    /// `len` bytes from `start`; refuses an empty range or one past the top of the address space.
    pub const fn new(start: Gpa, len: u64) -> Result<Self, RangeError> {
        let Some(span) = len.checked_sub(1) else {
            return Err(RangeError::Empty);
        };
        match start.checked_add(span) {
            Some(last) => Ok(MmioRange { first: start, last }),
            None => Err(RangeError::Overflow),
        }
    }
    /// The first address.
    pub const fn first(&self) -> Gpa {
        self.first
    }
    /// The last address (inclusive).
    pub const fn last(&self) -> Gpa {
        self.last
    }
    /// Number of bytes, saturating at `u64::MAX` for the whole address space.
    pub const fn len(&self) -> u64 {
        (self.last - self.first).saturating_add(1)
    }
    /// Never true: ranges are non-empty by construction.
    pub const fn is_empty(&self) -> bool {
        false
    }
    /// Whether `addr` lies in the range.
    pub const fn contains(&self, addr: Gpa) -> bool {
        self.first <= addr && addr <= self.last
    }
}

/// A PCI function's address: bus, device (0–31), function (0–7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf {
    bus: u8,
    device: u8,
    function: u8,
}

impl Bdf {
    /// Highest device number on a PCI bus.
    pub const MAX_DEVICE: u8 = 31;
    /// Highest function number of a PCI device.
    pub const MAX_FUNCTION: u8 = 7;

    /// Refuses a device above 31 or a function above 7.
    pub const fn new(bus: u8, device: u8, function: u8) -> Result<Self, RangeError> {
        if device > Self::MAX_DEVICE || function > Self::MAX_FUNCTION {
            return Err(RangeError::BadBdf);
        }
        Ok(Bdf {
            bus,
            device,
            function,
        })
    }
    /// The bus number.
    pub const fn bus(&self) -> u8 {
        self.bus
    }
    /// The device number (0–31).
    pub const fn device(&self) -> u8 {
        self.device
    }
    /// The function number (0–7).
    pub const fn function(&self) -> u8 {
        self.function
    }
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// Something a device can own on the bus: the guest's accesses there are routed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Region {
    /// A range of I/O ports (operations 3–4).
    Pio(PortRange),
    /// A range of guest-physical memory (operations 1–2).
    Mmio(MmioRange),
    /// A PCI function's configuration space (operations 8–9).
    Pci(Bdf),
}

impl Region {
    /// Whether the two regions share an address: same space and intersecting ranges (or the
    /// same PCI function).
    pub fn overlaps(&self, other: &Region) -> bool {
        match (self, other) {
            (Region::Pio(a), Region::Pio(b)) => a.first <= b.last && b.first <= a.last,
            (Region::Mmio(a), Region::Mmio(b)) => a.first <= b.last && b.first <= a.last,
            (Region::Pci(a), Region::Pci(b)) => a == b,
            _ => false,
        }
    }
}

/// Why a claim or release (part of operation 11, and of BAR programming) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimError {
    /// The region overlaps this existing claim.
    Overlap(Region),
    /// Releasing a region this device does not hold (exactly as claimed).
    NotClaimed(Region),
    /// The device already holds as many regions as the VMM allows.
    TooMany,
    /// This context does not let devices claim regions (the VMM claims for them).
    Unsupported,
}

impl From<ClaimError> for DeviceError {
    fn from(e: ClaimError) -> Self {
        DeviceError::Claim(e)
    }
}

/// What the VMM offers a device: handed in on every call (operations 5–7, 10, 15–21).
pub trait DeviceContext {
    /// Operation 5: the device reads guest memory (bus-master DMA).
    fn dma_read(&mut self, gpa: Gpa, buf: &mut [u8]) -> Result<(), DmaError>;
    /// Operation 6: the device writes guest memory (bus-master DMA).
    fn dma_write(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), DmaError>;

    /// Operation 7: drive an interrupt line. Level-triggered lines stay asserted until
    /// lowered; an edge is a low→high transition.
    fn set_irq(&mut self, line: IrqLine, level: bool) -> Result<(), IrqError>;
    /// Operation 7: one edge on a line (raise then lower).
    fn pulse_irq(&mut self, line: IrqLine) -> Result<(), IrqError> {
        self.set_irq(line, true)?;
        self.set_irq(line, false)
    }
    /// Operation 7: a message-signalled interrupt.
    fn signal_msi(&mut self, msg: MsiMessage) -> Result<(), IrqError>;

    /// Operation 10: call [`Device::timer`] every `period` nanoseconds from now on.
    fn connect_timer(&mut self, period: Nanos) -> Result<TimerId, TimerError>;
    /// Operation 10 (undo): stop a timer this device connected.
    fn disconnect_timer(&mut self, id: TimerId) -> Result<(), TimerError>;
    /// Guest-visible time now, in nanoseconds since the VM was created.
    fn now(&self) -> Nanos;

    /// Operation 15: the VM configuration.
    fn vm_config(&self) -> &VmConfig;

    /// Operation 16: `size` zeroed bytes, accounted to the calling device.
    fn alloc(&mut self, size: usize) -> Result<DeviceMemory, AllocError>;
    /// Operation 17: give memory back.
    fn free(&mut self, memory: DeviceMemory) -> Result<(), AllocError>;

    /// Operation 18: create a critical section (a spinlock shared by every VM's instance of
    /// whatever the device guards with it).
    fn create_critical_section(&mut self) -> Result<CriticalSectionId, CriticalSectionError>;
    /// Operation 19: enter it (spins until free; interrupts are held off inside).
    fn enter_critical_section(&mut self, id: CriticalSectionId)
    -> Result<(), CriticalSectionError>;
    /// Operation 20: leave it.
    fn exit_critical_section(&mut self, id: CriticalSectionId) -> Result<(), CriticalSectionError>;
    /// Operation 21: remove it (must not be entered).
    fn remove_critical_section(
        &mut self,
        id: CriticalSectionId,
    ) -> Result<(), CriticalSectionError>;

    /// Ask the VMM to stop or reset the VM once the current access completes.
    fn request(&mut self, request: VmRequest);

    /// Part of operation 11 (and of PCI BAR programming): route the guest's accesses to
    /// `region` to this device from now on. Refused if it overlaps another claim.
    fn claim(&mut self, _region: Region) -> Result<(), ClaimError> {
        Err(ClaimError::Unsupported)
    }
    /// Undo [`DeviceContext::claim`] for a region claimed exactly so.
    fn release(&mut self, _region: Region) -> Result<(), ClaimError> {
        Err(ClaimError::Unsupported)
    }
}

/// A virtual device, as the VMM sees it (operations 1–4, 8–14). One trait-object type,
/// `Box<dyn Device>`, is what the bus stores. Defaults model a device without that kind of
/// register: reads return all-ones, writes are dropped.
pub trait Device: Send {
    /// A short name for diagnostics ("uart16550", "pic8259").
    fn name(&self) -> &str;

    /// Operation 11: install in the VM; claim what it needs through the context.
    fn install(&mut self, _ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        Ok(())
    }
    /// Operation 12: power on (reset state; timers may be connected here).
    fn power_on(&mut self, _ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        Ok(())
    }
    /// Operation 13: power off (stop timers, lower interrupt lines).
    fn power_off(&mut self, _ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        Ok(())
    }
    /// Operation 14: remove from the VM: release everything obtained through the context.
    fn remove(&mut self, _ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        Ok(())
    }

    /// Operation 1: the guest reads device memory at guest-physical `addr`.
    fn mmio_read(&mut self, _ctx: &mut dyn DeviceContext, _addr: Gpa, data: &mut [u8]) {
        data.fill(0xff);
    }
    /// Operation 2: the guest writes device memory at guest-physical `addr`.
    fn mmio_write(&mut self, _ctx: &mut dyn DeviceContext, _addr: Gpa, _data: &[u8]) {}
    /// Operation 3: the guest reads I/O port `port`.
    fn pio_read(&mut self, _ctx: &mut dyn DeviceContext, _port: u16, data: &mut [u8]) {
        data.fill(0xff);
    }
    /// Operation 4: the guest writes I/O port `port`.
    fn pio_write(&mut self, _ctx: &mut dyn DeviceContext, _port: u16, _data: &[u8]) {}
    /// Operation 8: the guest reads this PCI function's configuration space at `offset`
    /// (0..4096; the bus guarantees the access does not cross the end).
    fn pci_config_read(&mut self, _ctx: &mut dyn DeviceContext, _offset: u16, data: &mut [u8]) {
        data.fill(0xff);
    }
    /// Operation 9: the guest writes this PCI function's configuration space at `offset`.
    fn pci_config_write(&mut self, _ctx: &mut dyn DeviceContext, _offset: u16, _data: &[u8]) {}

    /// Operation 10 (callback): a timer this device connected is due. `now` is the context's
    /// clock; a late call covers every missed period (the device catches up from `now`).
    fn timer(&mut self, _ctx: &mut dyn DeviceContext, _id: TimerId, _now: Nanos) {}
}
