//! The PCI host bridge at 00:00.0 with the Intel 82441FX (i440FX PMC) identity, as the guest's
//! PCI enumeration expects to find it (Intel 440FX PCIset datasheet, 290549-001, §3.2).
//!
//! It has no BARs and no interrupt; its PAM registers (0x59–0x5F, shadow-RAM attributes) and
//! SMRAM register (0x72) are stored and read back so firmware that programs them sees its
//! values, but they have no effect here: guest memory layout is fixed by the VMM.
//!
//! # Threat note
//! The guest controls configuration writes only: every byte goes through the write masks of
//! [`ConfigSpace`] (identity read-only, command/status masked, PAM/SMRAM bytes stored). No
//! state grows; there is nothing to claim beyond the function itself.

use crate::interface::{Bdf, Device, DeviceContext, DeviceError};
use crate::pci::config_space::{ConfigSpace, Header, InterruptPin};
use crate::pci::regs::{
    COMMAND_BUS_MASTER, COMMAND_MEMORY_SPACE, STATUS_DEVSEL_MEDIUM, STATUS_FAST_BACK_TO_BACK,
};

/// Intel's PCI vendor ID.
pub const VENDOR_INTEL: u16 = 0x8086;
/// The 82441FX PMC's device ID.
pub const DEVICE_I440FX: u16 = 0x1237;
/// The stepping QEMU and Bochs report.
pub const REVISION_I440FX: u8 = 0x02;
/// Base class 06h: bridge.
pub const CLASS_BRIDGE: u8 = 0x06;
/// Sub-class 00h: host bridge.
pub const SUBCLASS_HOST_BRIDGE: u8 = 0x00;
/// First PAM register (PAM0 at 0x59, PAM6 at 0x5F).
pub const PAM0: u16 = 0x59;
/// Number of PAM registers.
pub const PAM_COUNT: usize = 7;
/// PAM register bits that exist (read/write enables for two segments: bits 5:4 and 1:0).
pub const PAM_WRITABLE: u8 = 0x33;
/// SMRAM control register.
pub const SMRAM: u16 = 0x72;
/// SMRAM bits the model stores (D_OPEN, D_CLS, G_SMRAME; D_LCK and the fixed C_BASE_SEG
/// are not modelled).
pub const SMRAM_WRITABLE: u8 = 0x68;

/// Where the host bridge lives: bus 0, device 0, function 0.
pub const HOST_BRIDGE_BDF: Bdf = match Bdf::new(0, 0, 0) {
    Ok(bdf) => bdf,
    Err(_) => panic!("00:00.0 is a valid BDF"),
};

/// The i440FX host bridge's header: the datasheet's reset values (PCICMD 0006h, PCISTS 0280h).
pub const HEADER: Header = Header {
    vendor_id: VENDOR_INTEL,
    device_id: DEVICE_I440FX,
    revision: REVISION_I440FX,
    class: (CLASS_BRIDGE, SUBCLASS_HOST_BRIDGE, 0),
    multi_function: false,
    subsystem_vendor_id: 0,
    subsystem_id: 0,
    interrupt_pin: InterruptPin::None,
    status: STATUS_FAST_BACK_TO_BACK | STATUS_DEVSEL_MEDIUM,
    command: COMMAND_MEMORY_SPACE | COMMAND_BUS_MASTER,
};

/// The host bridge device.
#[derive(Debug, Clone)]
pub struct HostBridge {
    config: ConfigSpace,
}

impl HostBridge {
    /// The bridge at its usual place, 00:00.0.
    pub fn new() -> Self {
        Self::at(HOST_BRIDGE_BDF)
    }

    /// The bridge at `bdf`.
    pub fn at(bdf: Bdf) -> Self {
        let mut config = ConfigSpace::without_bars(bdf, &HEADER);
        config.allow_writes(PAM0, &[PAM_WRITABLE; PAM_COUNT]);
        config.allow_writes(SMRAM, &[SMRAM_WRITABLE]);
        HostBridge { config }
    }

    /// Its configuration space.
    pub fn config(&self) -> &ConfigSpace {
        &self.config
    }
}

impl Default for HostBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl Device for HostBridge {
    fn name(&self) -> &str {
        "i440fx-host-bridge"
    }
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.config.install(ctx)?;
        Ok(())
    }
    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.config.reset(ctx);
        Ok(())
    }
    fn pci_config_read(&mut self, _ctx: &mut dyn DeviceContext, offset: u16, data: &mut [u8]) {
        self.config.read(offset, data);
    }
    fn pci_config_write(&mut self, ctx: &mut dyn DeviceContext, offset: u16, data: &[u8]) {
        self.config.write(ctx, offset, data);
    }
}
