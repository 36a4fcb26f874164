//! The VM configuration as the hypervisor receives it (issue 6): which VMs to run and, per VM,
//! its RAM, vCPUs, guest image, CPUID overrides and devices — each device with the guest
//! resources it occupies and how it is built, one of the seed paper's four ways
//! ([`Method`]: full emulation, host-driver backed, passthrough, mediated passthrough).
//!
//! The boot tool reads a human-written TOML file, validates it (`boot::vm_config`) and writes
//! the [`Machine`] with [`encode`] into the boot ramdisk as member [`RAMDISK_MEMBER`], naming
//! it on the command line with `config=vms.cfg`; the kernel reads it back with [`decode`].
//!
//! - [`schema`]: the types.
//! - [`encoding`]: the compact form (magic, version, a hand-written binary layout) and its
//!   errors; `layout` and `wire` implement it.
//! - [`limits`]: the caps on sizes, enforced by both [`encode`] and [`decode`].
//! - [`resources`]: what each device kind and host device occupies, the always-present PC
//!   devices, and the host resources the hypervisor keeps.
//! - [`policy`]: a mediated device's rules turned into the [`crate::mediated`] engine's
//!   policy (first match wins, default deny).
//!
//! The always-present PC devices (PIC pair, PIT with port B, RTC/CMOS, i8042, PCI host bridge)
//! are not listed in a configuration: every VM has them, fully emulated.

pub mod encoding;
mod layout;
pub mod limits;
pub mod policy;
pub mod resources;
pub mod schema;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_wire;

pub use encoding::{
    DecodeError, EncodeError, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_ENCODED_LEN, decode, encode,
};
pub use limits::{
    Limit, LimitError, MAX_CMDLINE_LEN, MAX_CPUID_OVERRIDES, MAX_DEVICES, MAX_FILE_NAME_LEN,
    MAX_NAME_LEN, MAX_POLICY_RULES, MAX_VMS, check_limits,
};
pub use policy::{PolicyBuildError, build_policy};
pub use resources::{
    HYPERVISOR_OWNED, MAX_ISA_IRQ, NamedRegion, PAGE_SIZE, PC_PLATFORM, PC_PLATFORM_IRQS,
    VIRTIO_IO_BASE, VIRTIO_IO_STRIDE, virtio_io_window,
};
pub use schema::{
    Access, Action, CpuidOverride, DeviceDesc, DeviceKind, Guest, HostDevice, Machine, Method,
    PolicyRule, PortSpan, VmDesc,
};

/// The ramdisk member holding the encoded configuration.
pub const RAMDISK_MEMBER: &str = "vms.cfg";
/// The kernel command-line key naming that member (`config=vms.cfg`).
pub const CMDLINE_KEY: &str = "config";

/// Least guest RAM, in MiB.
pub const MIN_RAM_MIB: u32 = 2;
/// Most guest RAM, in MiB.
pub const MAX_RAM_MIB: u32 = 2048;
/// Guest RAM is a whole number of these (EPT maps it with 2 MiB pages).
pub const RAM_GRANULE_MIB: u32 = 2;
/// Lowest PCI device number a configured device may take (00:00.0 is the host bridge).
pub const MIN_PCI_SLOT: u8 = 1;
/// The only vCPU count supported for now.
pub const SUPPORTED_VCPUS: u32 = 1;
/// Lowest load address of a real-mode guest (below: the IVT and BIOS data area).
pub const REAL_MODE_LOWEST: u32 = 0x500;
/// End (exclusive) of where a real-mode guest may be loaded: conventional memory, 640 KiB.
pub const REAL_MODE_END: u32 = 0xA_0000;
