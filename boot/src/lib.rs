//! The host side of the hypervisor: disk images and emulator runs.
//!
//! * [`image`] builds BIOS and UEFI disk images of the kernel with the `bootloader` crate; the
//!   kernel's command line travels in the ramdisk.
//! * [`run`] boots an image under QEMU (TCG or KVM) or Bochs, collects COM1, enforces a timeout
//!   and judges the run by the exit protocol of [`exit`].
//! * [`linux`] fetches Debian's kernel and busybox into a cache and builds Linux initramfs
//!   images.
//! * [`host`] picks the emulator that can run VT-x here and installs missing emulators.
//! * [`vm_config`] reads and validates VM configuration files for the ramdisk.
//! * [`disk_writeback`] reads the disk dumps the kernel prints after a VM and writes them into
//!   the configuration's disk images.

pub mod bochs;
pub mod config;
pub mod disk_writeback;
pub mod error;
pub mod exit;
pub mod host;
pub mod image;
pub mod linux;
pub mod qemu;
pub mod ramdisk;
pub mod runner;
pub mod serial;
pub mod supervise;
pub mod vm_config;

pub use config::{
    DEFAULT_CPUS, DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT, Emulator, Firmware, KERNEL_PATH, RunConfig,
};
pub use error::BootError;
pub use exit::{EXIT_MARKER, Verdict};
pub use host::HostProbe;
pub use runner::{RunOutcome, run, run_cancellable};
