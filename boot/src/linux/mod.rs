//! Linux guest artefacts, built by the host tool: Debian 12's packaged cloud kernel and
//! busybox-static fetched into a cache ([`assets()`]), and a gzip newc initramfs with a busybox
//! `/init` ([`initramfs()`]), with no root needed and nothing committed. The hypervisor boots the
//! kernel's bzImage with that initramfs (Linux `Documentation/arch/x86/boot.rst`); a VM
//! configuration names the two files and the command line.
//!
//! * [`cache`] downloads with `apt-get download` and unpacks with `dpkg-deb -x` once
//!   ([`apt`] drives the tools), then reuses the unpacked files; [`mod@assets`] finds them.
//! * [`mod@initramfs`] writes the archive; [`init_script`] has the `/init` texts and the markers they
//!   print; [`modules`] orders the virtio kernel modules for `insmod`.
//! * [`boot_log`] judges the serial log of a marker-test boot.
//! * [`mod@setup_header`] reads the bzImage's setup header, to report what the kernel asks of a loader.

pub mod apt;
pub mod assets;
pub mod boot_log;
pub mod cache;
pub mod error;
pub mod init_script;
pub mod initramfs;
pub mod modules;
pub mod setup_header;

#[cfg(test)]
mod initramfs_tests;
#[cfg(test)]
mod real_packages_tests;

pub use assets::LinuxAssets;
pub use boot_log::{MarkerReport, judge_marker_test};
pub use cache::{assets, default_cache_dir};
pub use error::LinuxError;
pub use initramfs::{InitramfsSpec, initramfs};
pub use modules::{KernelModule, VIRTIO_MODULES};
pub use setup_header::{SetupHeaderFacts, setup_header};

/// The kernel command line for a guest on the emulated 16550: console on COM1, boot messages
/// limited to warnings (Debian's kernel has `CONFIG_SERIAL_8250_CONSOLE=y`).
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 quiet";

impl LinuxAssets {
    /// The virtio modules ([`VIRTIO_MODULES`] and their dependencies) in load order.
    pub fn virtio_modules(&self) -> Result<Vec<KernelModule>, LinuxError> {
        modules::resolve(&self.modules_dir, &VIRTIO_MODULES)
    }

    /// The setup header facts of the kernel.
    pub fn setup_header(&self) -> Result<SetupHeaderFacts, LinuxError> {
        setup_header(&self.bzimage)
    }
}
