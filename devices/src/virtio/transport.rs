//! The virtio **legacy** PCI transport (VIRTIO 1.1 §4.1.4.8 "Legacy Interfaces: A Note on PCI
//! Device Layout", §4.1.5 "PCI-specific Initialization And Device Operation"):
//! [`VirtioPci`] puts any [`VirtioDevice`] on the PCI bus as a transitional function with one
//! I/O BAR holding the legacy registers, and implements [`Device`].
//!
//! # Layout of BAR0 (I/O, [`MIN_BAR_SIZE`] ports or the next power of two covering the
//! device configuration)
//! | offset | width | register |
//! |---|---|---|
//! | 0x00 | 4 | device features (read-only) |
//! | 0x04 | 4 | driver features |
//! | 0x08 | 4 | queue address: page number (4 KiB) of the selected queue; 0 disables it |
//! | 0x0C | 2 | queue size (read-only; 0 for a queue that does not exist) |
//! | 0x0E | 2 | queue select |
//! | 0x10 | 2 | queue notify |
//! | 0x12 | 1 | device status (writing 0 resets the device) |
//! | 0x13 | 1 | ISR status (read returns and clears it, and lowers INTx) |
//! | 0x14 | — | device-specific configuration |
//!
//! # Behaviour
//! - **PCI identity**: vendor 0x1AF4, the device type's transitional device ID and class,
//!   subsystem vendor 0x1AF4, subsystem ID = virtio device ID, revision 0, INTx pin A, no
//!   capabilities (so Linux's virtio-pci falls back to the legacy interface). The interrupt
//!   line register is preset to the line the VMM wired at power-on, as firmware would.
//! - **Register accesses** must use each register's width at its offset (as legacy drivers
//!   do); other writes to the common registers are ignored and counted
//!   ([`VirtioPci::ignored_writes`]); reads of any width return the bytes of the registers they
//!   cover. Configuration bytes take any width.
//! - **Queues are run** when the driver notifies one, and all at once when it sets DRIVER_OK,
//!   synchronously inside the port write — only while DRIVER_OK is set, DEVICE_NEEDS_RESET and
//!   FAILED are clear, and the command register allows bus mastering. [`VirtioPci::poll`]
//!   (and the device's poll timer, if it asks for one) runs the device's own work.
//! - **Interrupts**: when a queue gets used buffers and the driver did not set NO_INTERRUPT,
//!   ISR bit 0 is set; INTx follows "ISR ≠ 0 and the command register's interrupt-disable bit
//!   clear", driven through `ctx.set_irq` on changes only, and mirrored in the status
//!   register's interrupt bit. Reading ISR clears it.
//! - **Errors**: a [`VirtioError`] from the device (malformed ring or chain, buffer outside
//!   RAM) sets DEVICE_NEEDS_RESET, raises ISR bit 1 (configuration change, §2.1.2) and stops the
//!   queues until the driver writes status 0; [`VirtioPci::last_error`] keeps it.
//! - **Firmware placement**: a VMM that plays the firmware's part gives the function an I/O
//!   base with [`VirtioPci::with_firmware_io_base`]; power-on then programs BAR0 there and turns
//!   I/O decoding on, as a PC BIOS does before the OS starts (the guest may move it later).
//! - **Lifecycle**: install claims the function; power-on resets configuration space and
//!   transport and borrows a [`BOUNCE_BYTES`] bounce buffer from the VMM (operation 16);
//!   power-off lowers INTx, stops the poll timer and gives the buffer back (operation 17);
//!   remove does the same and releases the BAR claim.
//!
//! # Threat note
//! The guest controls port accesses to the BAR, configuration-space writes (through
//! [`ConfigSpace`]'s masks) and, through DMA, the rings. The queue select is any 16-bit value:
//! a missing queue reads size 0 and ignores its address writes. Feature writes are masked to
//! what the device offers; status writes cannot set DEVICE_NEEDS_RESET. Notifications of
//! missing or unset queues are ignored. Work per notification is bounded by the device (one
//! queue's worth of chains); memory is fixed after power-on (queues, one bounce buffer).
//! Counters saturate.

use alloc::vec::Vec;

use crate::interface::{
    Bdf, Device, DeviceContext, DeviceError, DeviceMemory, IrqLine, Nanos, PortRange, TimerId,
};
use crate::pci::bar::{Bar, BarError, MAX_IO_SIZE};
use crate::pci::config_space::{ConfigSpace, Header, InterruptPin};
use crate::pci::regs::{
    BAR0, COMMAND, COMMAND_BUS_MASTER, COMMAND_INTERRUPT_DISABLE, COMMAND_IO_SPACE, INTERRUPT_LINE,
};
use crate::virtio::device::{UsedQueues, VirtioDevice, VirtioError};
use crate::virtio::queue::{QueueError, Virtqueue};
use crate::virtio::regs::*;

/// Most queues a device may have.
pub const MAX_QUEUES: usize = 8;
/// Bytes of the bounce buffer borrowed from the VMM at power-on (a whole number of sectors).
pub const BOUNCE_BYTES: usize = 16 * 1024;
/// The BAR holding the legacy registers.
pub const LEGACY_BAR: usize = 0;

/// Why a [`VirtioPci`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtioPciError {
    /// The BAR could not be defined.
    Bar(BarError),
    /// A queue size the queue model refuses.
    Queue(QueueError),
    /// The device has no queues or more than [`MAX_QUEUES`].
    QueueCount(usize),
    /// The device configuration does not fit a 256-port I/O BAR.
    ConfigTooLarge(usize),
    /// A firmware window the BAR does not fit in, or not aligned to the BAR's size.
    FirmwareWindow(PortRange),
}

/// A virtio device on the PCI bus through the legacy transport.
#[derive(Debug)]
pub struct VirtioPci<D> {
    config: ConfigSpace,
    irq: IrqLine,
    device: D,
    queues: Vec<Virtqueue>,
    driver_features: u32,
    status: u8,
    isr: u8,
    queue_select: u16,
    line_high: bool,
    bounce: Option<DeviceMemory>,
    poll_timer: Option<TimerId>,
    firmware_io_base: Option<u16>,
    io_bar_size: u64,
    last_error: Option<VirtioError>,
    notifications: u64,
    ignored_writes: u64,
    irq_errors: u64,
}

impl<D: VirtioDevice> VirtioPci<D> {
    /// `device` as PCI function `bdf`, raising INTx on `irq`.
    pub fn new(bdf: Bdf, irq: IrqLine, device: D) -> Result<Self, VirtioPciError> {
        let sizes = device.queue_sizes();
        if sizes.is_empty() || sizes.len() > MAX_QUEUES {
            return Err(VirtioPciError::QueueCount(sizes.len()));
        }
        let queues = sizes
            .iter()
            .map(|size| Virtqueue::new(*size))
            .collect::<Result<Vec<_>, _>>()
            .map_err(VirtioPciError::Queue)?;
        let config_len = device.config_len();
        let bar_size = u64::try_from(config_len)
            .ok()
            .and_then(|len| len.checked_add(REG_DEVICE_CONFIG))
            .and_then(u64::checked_next_power_of_two)
            .map(|size| size.max(MIN_BAR_SIZE))
            .filter(|size| *size <= MAX_IO_SIZE)
            .ok_or(VirtioPciError::ConfigTooLarge(config_len))?;
        let identity = device.identity();
        let header = Header {
            vendor_id: VIRTIO_PCI_VENDOR_ID,
            device_id: identity.pci_device_id,
            revision: VIRTIO_PCI_REVISION_TRANSITIONAL,
            class: identity.class,
            multi_function: false,
            subsystem_vendor_id: VIRTIO_PCI_VENDOR_ID,
            subsystem_id: identity.virtio_id,
            interrupt_pin: InterruptPin::IntA,
            status: 0,
            command: 0,
        };
        let bar = Bar::io(bar_size).map_err(VirtioPciError::Bar)?;
        let config =
            ConfigSpace::new(bdf, &header, &[(LEGACY_BAR, bar)]).map_err(VirtioPciError::Bar)?;
        Ok(VirtioPci {
            config,
            irq,
            device,
            queues,
            driver_features: 0,
            status: 0,
            isr: 0,
            queue_select: 0,
            line_high: false,
            bounce: None,
            poll_timer: None,
            firmware_io_base: None,
            io_bar_size: bar_size,
            last_error: None,
            notifications: 0,
            ignored_writes: 0,
            irq_errors: 0,
        })
    }

    /// Program BAR0 to the start of `window` and enable I/O decoding at every power-on (the
    /// firmware's resource assignment). Refused unless the BAR fits in `window` and its start is
    /// aligned to the BAR's size, as a BAR requires.
    pub fn with_firmware_io_base(mut self, window: PortRange) -> Result<Self, VirtioPciError> {
        let base = u64::from(window.first());
        if self.io_bar_size > u64::from(window.len()) || !base.is_multiple_of(self.io_bar_size) {
            return Err(VirtioPciError::FirmwareWindow(window));
        }
        self.firmware_io_base = Some(window.first());
        Ok(self)
    }

    /// The number of ports BAR0 decodes.
    pub fn io_bar_size(&self) -> u64 {
        self.io_bar_size
    }

    /// The device type.
    pub fn device(&self) -> &D {
        &self.device
    }
    /// The device type, mutably (to queue console input, or look at the disk).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }
    /// The device type, giving up the function (the VMM takes a disk back this way).
    pub fn into_device(self) -> D {
        self.device
    }
    /// The configuration space.
    pub fn config(&self) -> &ConfigSpace {
        &self.config
    }
    /// The INTx line the function drives.
    pub fn irq_line(&self) -> IrqLine {
        self.irq
    }
    /// The device status register.
    pub fn status(&self) -> u8 {
        self.status
    }
    /// The ISR status register (without clearing it).
    pub fn isr(&self) -> u8 {
        self.isr
    }
    /// The driver's accepted features.
    pub fn driver_features(&self) -> u32 {
        self.driver_features
    }
    /// The queues.
    pub fn queues(&self) -> &[Virtqueue] {
        &self.queues
    }
    /// The error that last stopped the device since power-on.
    pub fn last_error(&self) -> Option<VirtioError> {
        self.last_error
    }
    /// Queue notifications written (saturating).
    pub fn notifications(&self) -> u64 {
        self.notifications
    }
    /// Writes to common registers at a wrong width or offset, ignored (saturating).
    pub fn ignored_writes(&self) -> u64 {
        self.ignored_writes
    }
    /// `set_irq` calls the VMM refused (saturating).
    pub fn irq_errors(&self) -> u64 {
        self.irq_errors
    }

    /// Runs the device's own work (console input) now, if the device may run.
    pub fn poll(&mut self, ctx: &mut dyn DeviceContext) {
        if !self.may_run() {
            return;
        }
        let Some(bounce) = self.bounce.as_mut() else {
            return;
        };
        let result = self.device.poll(ctx, &mut self.queues, &mut bounce.bytes);
        self.finish(ctx, result);
    }

    /// Whether queues may be run now.
    fn may_run(&self) -> bool {
        self.status & STATUS_DRIVER_OK != 0
            && self.status & (STATUS_DEVICE_NEEDS_RESET | STATUS_FAILED) == 0
            && self.config.command() & COMMAND_BUS_MASTER != 0
            && self.bounce.is_some()
    }

    /// Runs queue `index` if it exists and is set up.
    fn run_queue(&mut self, ctx: &mut dyn DeviceContext, index: usize) {
        if !self.may_run() || !self.queues.get(index).is_some_and(Virtqueue::is_ready) {
            return;
        }
        let Some(bounce) = self.bounce.as_mut() else {
            return;
        };
        let result = self
            .device
            .process(ctx, index, &mut self.queues, &mut bounce.bytes);
        self.finish(ctx, result);
    }

    /// Interrupts for used buffers, or the error state.
    fn finish(&mut self, ctx: &mut dyn DeviceContext, result: Result<UsedQueues, VirtioError>) {
        match result {
            Ok(used) => {
                let mut wanted = false;
                for (index, queue) in self.queues.iter().enumerate() {
                    if used.contains(index) {
                        match queue.wants_interrupt(ctx) {
                            Ok(wants) => wanted |= wants,
                            Err(error) => return self.fail(ctx, error.into()),
                        }
                    }
                }
                if wanted {
                    self.isr |= ISR_QUEUE;
                    self.update_line(ctx);
                }
            }
            Err(error) => self.fail(ctx, error),
        }
    }

    /// Stops the device: DEVICE_NEEDS_RESET and a configuration-change interrupt.
    fn fail(&mut self, ctx: &mut dyn DeviceContext, error: VirtioError) {
        self.last_error = Some(error);
        self.status |= STATUS_DEVICE_NEEDS_RESET;
        self.isr |= ISR_CONFIG;
        self.update_line(ctx);
    }

    /// Drives INTx from ISR and the command register's interrupt-disable bit.
    fn update_line(&mut self, ctx: &mut dyn DeviceContext) {
        let pending = self.isr != 0;
        self.config.set_interrupt_status(pending);
        let high = pending && self.config.command() & COMMAND_INTERRUPT_DISABLE == 0;
        if high != self.line_high {
            if ctx.set_irq(self.irq, high).is_err() {
                self.irq_errors = self.irq_errors.saturating_add(1);
            }
            self.line_high = high;
        }
    }

    /// Device reset (status 0, §2.1.1 / §4.1.4.8): back to the initial transport state.
    fn reset_transport(&mut self, ctx: &mut dyn DeviceContext) {
        self.driver_features = 0;
        self.status = 0;
        self.isr = 0;
        self.queue_select = 0;
        for queue in &mut self.queues {
            queue.reset();
        }
        self.device.reset();
        self.update_line(ctx);
    }

    /// A device-status write.
    fn write_status(&mut self, ctx: &mut dyn DeviceContext, value: u8) {
        if value == 0 {
            self.reset_transport(ctx);
            return;
        }
        let was_ok = self.status & STATUS_DRIVER_OK != 0;
        self.status = (value & STATUS_DRIVER_WRITABLE) | (self.status & STATUS_DEVICE_NEEDS_RESET);
        if !was_ok && self.status & STATUS_DRIVER_OK != 0 {
            for index in 0..self.queues.len() {
                self.run_queue(ctx, index);
            }
            self.poll(ctx);
        }
    }

    /// The selected queue, if it exists.
    fn selected(&mut self) -> Option<&mut Virtqueue> {
        self.queues.get_mut(usize::from(self.queue_select))
    }

    /// One byte of the common registers (`offset` < [`REG_DEVICE_CONFIG`]).
    fn common_byte(&self, offset: u64) -> u8 {
        let queue = self.queues.get(usize::from(self.queue_select));
        let mut common = [0u8; REG_DEVICE_CONFIG as usize];
        put(
            &mut common,
            REG_DEVICE_FEATURES,
            &self.device.features().to_le_bytes(),
        );
        put(
            &mut common,
            REG_DRIVER_FEATURES,
            &self.driver_features.to_le_bytes(),
        );
        let page = queue.map_or(0, Virtqueue::page);
        put(&mut common, REG_QUEUE_ADDRESS, &page.to_le_bytes());
        let size = queue.map_or(0, Virtqueue::size);
        put(&mut common, REG_QUEUE_SIZE, &size.to_le_bytes());
        put(
            &mut common,
            REG_QUEUE_SELECT,
            &self.queue_select.to_le_bytes(),
        );
        put(&mut common, REG_DEVICE_STATUS, &[self.status]);
        put(&mut common, REG_ISR_STATUS, &[self.isr]);
        usize::try_from(offset)
            .ok()
            .and_then(|at| common.get(at))
            .copied()
            .unwrap_or(0)
    }

    /// Gives back what power-on took: INTx low, timer stopped, bounce buffer freed.
    fn stop(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        if self.line_high {
            if ctx.set_irq(self.irq, false).is_err() {
                self.irq_errors = self.irq_errors.saturating_add(1);
            }
            self.line_high = false;
        }
        if let Some(timer) = self.poll_timer.take() {
            ctx.disconnect_timer(timer)?;
        }
        if let Some(bounce) = self.bounce.take() {
            ctx.free(bounce)?;
        }
        Ok(())
    }
}

/// Copies `bytes` into `common` at register `offset` (constant offsets inside the array).
fn put(common: &mut [u8; REG_DEVICE_CONFIG as usize], offset: u64, bytes: &[u8]) {
    for (i, byte) in bytes.iter().enumerate() {
        if let Some(slot) = usize::try_from(offset)
            .ok()
            .and_then(|at| at.checked_add(i))
            .and_then(|at| common.get_mut(at))
        {
            *slot = *byte;
        }
    }
}

/// The little-endian value of an access of up to 8 bytes.
fn value_of(data: &[u8]) -> u64 {
    data.iter()
        .take(8)
        .rev()
        .fold(0, |value, byte| value << 8 | u64::from(*byte))
}

impl<D: VirtioDevice> Device for VirtioPci<D> {
    fn name(&self) -> &str {
        self.device.name()
    }

    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.config.install(ctx)?;
        Ok(())
    }

    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.config.reset(ctx);
        self.config.write(ctx, INTERRUPT_LINE, &[self.irq.0]);
        if let Some(base) = self.firmware_io_base {
            self.config.write(ctx, BAR0, &u32::from(base).to_le_bytes());
            self.config
                .write(ctx, COMMAND, &COMMAND_IO_SPACE.to_le_bytes());
        }
        self.last_error = None;
        self.reset_transport(ctx);
        if self.bounce.is_none() {
            self.bounce = Some(ctx.alloc(BOUNCE_BYTES)?);
        }
        if self.poll_timer.is_none()
            && let Some(period) = self.device.poll_period()
        {
            self.poll_timer = Some(ctx.connect_timer(period)?);
        }
        Ok(())
    }

    fn power_off(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.stop(ctx)
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.stop(ctx)?;
        // Back to reset values: BARs at zero and decoding off, so their claims are released.
        self.config.reset(ctx);
        Ok(())
    }

    fn pio_read(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &mut [u8]) {
        let Some((LEGACY_BAR, offset)) = self.config.find_io(port) else {
            data.fill(0xFF);
            return;
        };
        let mut read_isr = false;
        for (i, byte) in data.iter_mut().enumerate() {
            let at = offset.saturating_add(i as u64);
            *byte = if at < REG_DEVICE_CONFIG {
                read_isr |= at == REG_ISR_STATUS;
                self.common_byte(at)
            } else {
                let mut one = [0u8; 1];
                let config_offset = usize::try_from(at - REG_DEVICE_CONFIG).unwrap_or(usize::MAX);
                self.device.read_config(config_offset, &mut one);
                one[0]
            };
        }
        if read_isr {
            self.isr = 0;
            self.update_line(ctx);
        }
    }

    fn pio_write(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &[u8]) {
        let Some((LEGACY_BAR, offset)) = self.config.find_io(port) else {
            return;
        };
        let value = value_of(data);
        match (offset, data.len()) {
            (REG_DRIVER_FEATURES, WIDTH_32) => {
                self.driver_features = (value as u32) & self.device.features();
                self.device.set_driver_features(self.driver_features);
            }
            (REG_QUEUE_ADDRESS, WIDTH_32) => match self.selected() {
                Some(queue) => queue.set_page(value as u32),
                None => self.ignored_writes = self.ignored_writes.saturating_add(1),
            },
            (REG_QUEUE_SELECT, WIDTH_16) => self.queue_select = value as u16,
            (REG_QUEUE_NOTIFY, WIDTH_16) => {
                self.notifications = self.notifications.saturating_add(1);
                self.run_queue(ctx, value as usize);
            }
            (REG_DEVICE_STATUS, WIDTH_8) => self.write_status(ctx, value as u8),
            (at, _) if at >= REG_DEVICE_CONFIG => {
                let config_offset = usize::try_from(at - REG_DEVICE_CONFIG).unwrap_or(usize::MAX);
                self.device.write_config(config_offset, data);
            }
            _ => self.ignored_writes = self.ignored_writes.saturating_add(1),
        }
    }

    fn pci_config_read(&mut self, _ctx: &mut dyn DeviceContext, offset: u16, data: &mut [u8]) {
        self.config.read(offset, data);
    }

    fn pci_config_write(&mut self, ctx: &mut dyn DeviceContext, offset: u16, data: &[u8]) {
        self.config.write(ctx, offset, data);
        self.update_line(ctx);
    }

    fn timer(&mut self, ctx: &mut dyn DeviceContext, id: TimerId, _now: Nanos) {
        if self.poll_timer == Some(id) {
            self.poll(ctx);
        }
    }
}
