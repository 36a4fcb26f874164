//! Bootable disk images of the kernel, made with the `bootloader` crate (0.11): an MBR image for
//! BIOS firmware and a GPT image with an EFI system partition for UEFI firmware.
//!
//! The kernel's command line and the guest images travel in the bootloader's ramdisk, a tar
//! archive (see [`crate::ramdisk`]); the bootloader loads it into memory and passes its address
//! and length in `BootInfo`. Nothing to carry means no ramdisk at all. The bootloader's own logging to the serial port and the framebuffer
//! is switched off in `boot.json`, so COM1 carries only the kernel's text.

use std::fs;
use std::path::{Path, PathBuf};

use bootloader::{BootConfig, DiskImageBuilder};

use crate::config::Firmware;
use crate::error::BootError;
use crate::ramdisk::Ramdisk;

/// File name of the BIOS image written by [`write_images`].
pub const BIOS_IMAGE_NAME: &str = "bios.img";
/// File name of the UEFI image written by [`write_images`].
pub const UEFI_IMAGE_NAME: &str = "uefi.img";

/// The bootloader settings of every image: no bootloader log on serial or screen.
pub fn boot_config() -> BootConfig {
    let mut config = BootConfig::default();
    config.serial_logging = false;
    config.frame_buffer_logging = false;
    config
}

/// Writes a disk image for `firmware` booting `kernel` with `ramdisk` to `out`.
pub fn build_image(
    kernel: &Path,
    firmware: Firmware,
    ramdisk: &Ramdisk,
    out: &Path,
) -> Result<(), BootError> {
    if !kernel.is_file() {
        return Err(BootError::KernelMissing(kernel.to_path_buf()));
    }
    let mut builder = DiskImageBuilder::new(kernel.to_path_buf());
    builder.set_boot_config(&boot_config());
    // The builder reads the ramdisk when the image is created: keep the file alive until then.
    let ramdisk_file = if ramdisk.is_empty() {
        None
    } else {
        let file = tempfile::Builder::new()
            .prefix("hv-ramdisk-")
            .tempfile()
            .map_err(|error| BootError::io("creating the ramdisk file", error))?;
        ramdisk.write(file.path())?;
        builder.set_ramdisk(file.path().to_path_buf());
        Some(file)
    };
    let result = match firmware {
        Firmware::Bios => builder.create_bios_image(out),
        Firmware::Uefi => builder.create_uefi_image(out),
    };
    drop(ramdisk_file);
    result.map_err(|error| BootError::Image {
        firmware: firmware.name(),
        path: out.to_path_buf(),
        message: format!("{error:#}"),
    })
}

/// Writes `bios.img` and `uefi.img` into `dir` (created if needed); returns their paths.
pub fn write_images(
    kernel: &Path,
    ramdisk: &Ramdisk,
    dir: &Path,
) -> Result<(PathBuf, PathBuf), BootError> {
    fs::create_dir_all(dir)
        .map_err(|error| BootError::io(format!("creating {}", dir.display()), error))?;
    let bios = dir.join(BIOS_IMAGE_NAME);
    let uefi = dir.join(UEFI_IMAGE_NAME);
    build_image(kernel, Firmware::Bios, ramdisk, &bios)?;
    build_image(kernel, Firmware::Uefi, ramdisk, &uefi)?;
    Ok((bios, uefi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_config_turns_bootloader_logging_off() {
        let config = boot_config();
        assert!(!config.serial_logging);
        assert!(!config.frame_buffer_logging);
    }

    #[test]
    fn missing_kernel_is_reported_before_building() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let kernel = dir.path().join("no-such-kernel");
        let result = build_image(
            &kernel,
            Firmware::Bios,
            &Ramdisk::default(),
            &dir.path().join("x.img"),
        );
        assert!(matches!(result, Err(BootError::KernelMissing(path)) if path == kernel));
    }
}
