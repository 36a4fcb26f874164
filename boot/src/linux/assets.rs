//! The unpacked Linux guest files: Debian's cloud kernel (a bzImage at `boot/vmlinuz-<release>`,
//! its modules under `lib/modules/<release>/`) and busybox-static (`bin/busybox`), each found in
//! the directory `dpkg-deb -x` unpacked its package into.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::LinuxError;

/// Start of the kernel image's file name in the package's `boot/` directory.
pub const VMLINUZ_PREFIX: &str = "vmlinuz-";
/// The kernel image's directory inside the kernel package.
pub const KERNEL_BOOT_DIR: &str = "boot";
/// The modules' directory inside the kernel package; `<release>` follows.
pub const MODULES_ROOT: &str = "lib/modules";
/// The busybox binary inside the busybox-static package.
pub const BUSYBOX_PATH: &str = "bin/busybox";

/// The files a Linux guest is built from, all inside the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxAssets {
    /// The kernel, a bzImage (`.../boot/vmlinuz-6.1.0-56-cloud-amd64`).
    pub bzimage: PathBuf,
    /// The statically linked busybox.
    pub busybox: PathBuf,
    /// `lib/modules/<release>` of the kernel package (the `.ko` files; Debian ships no
    /// `modules.dep`, which `depmod` writes on installation).
    pub modules_dir: PathBuf,
    /// The kernel release, as `uname -r` prints it (`6.1.0-56-cloud-amd64`).
    pub version: String,
}

impl LinuxAssets {
    /// Finds the files in the unpacked kernel package `kernel_root` and busybox package
    /// `busybox_root`.
    pub fn locate(kernel_root: &Path, busybox_root: &Path) -> Result<Self, LinuxError> {
        let boot = kernel_root.join(KERNEL_BOOT_DIR);
        let mut releases = Vec::new();
        let entries = fs::read_dir(&boot)
            .map_err(|error| LinuxError::io(format!("listing {}", boot.display()), error))?;
        for entry in entries {
            let entry = entry
                .map_err(|error| LinuxError::io(format!("listing {}", boot.display()), error))?;
            let name = entry.file_name();
            if let Some(release) = name.to_str().and_then(|n| n.strip_prefix(VMLINUZ_PREFIX))
                && !release.is_empty()
            {
                releases.push(release.to_string());
            }
        }
        releases.sort();
        let Some(version) = releases.pop() else {
            return Err(LinuxError::AssetMissing {
                what: "boot/vmlinuz-*",
                dir: kernel_root.to_path_buf(),
            });
        };
        let bzimage = boot.join(format!("{VMLINUZ_PREFIX}{version}"));
        let modules_dir = kernel_root.join(MODULES_ROOT).join(&version);
        if !modules_dir.is_dir() {
            return Err(LinuxError::AssetMissing {
                what: "lib/modules/<release>",
                dir: kernel_root.to_path_buf(),
            });
        }
        let busybox = busybox_root.join(BUSYBOX_PATH);
        if !busybox.is_file() {
            return Err(LinuxError::AssetMissing {
                what: "bin/busybox",
                dir: busybox_root.to_path_buf(),
            });
        }
        Ok(Self {
            bzimage,
            busybox,
            modules_dir,
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(path, b"x").expect("write");
    }

    #[test]
    fn locate_finds_vmlinuz_release_modules_and_busybox() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let kernel = dir.path().join("kernel");
        let busybox = dir.path().join("busybox");
        touch(&kernel.join("boot/vmlinuz-6.1.0-56-cloud-amd64"));
        touch(&kernel.join("boot/config-6.1.0-56-cloud-amd64"));
        touch(&kernel.join("lib/modules/6.1.0-56-cloud-amd64/kernel/x.ko"));
        touch(&busybox.join("bin/busybox"));
        let assets = LinuxAssets::locate(&kernel, &busybox).expect("found");
        assert_eq!(assets.version, "6.1.0-56-cloud-amd64");
        assert_eq!(
            assets.bzimage,
            kernel.join("boot/vmlinuz-6.1.0-56-cloud-amd64")
        );
        assert_eq!(
            assets.modules_dir,
            kernel.join("lib/modules/6.1.0-56-cloud-amd64")
        );
        assert_eq!(assets.busybox, busybox.join("bin/busybox"));
    }

    #[test]
    fn locate_reports_what_is_missing() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let kernel = dir.path().join("kernel");
        fs::create_dir_all(kernel.join("boot")).expect("mkdir");
        let error = LinuxAssets::locate(&kernel, dir.path()).expect_err("no vmlinuz");
        assert!(matches!(
            error,
            LinuxError::AssetMissing {
                what: "boot/vmlinuz-*",
                ..
            }
        ));
        touch(&kernel.join("boot/vmlinuz-6.1.0-1-cloud-amd64"));
        touch(&kernel.join("lib/modules/6.1.0-1-cloud-amd64/kernel/x.ko"));
        let error = LinuxAssets::locate(&kernel, dir.path()).expect_err("no busybox");
        assert!(matches!(
            error,
            LinuxError::AssetMissing {
                what: "bin/busybox",
                ..
            }
        ));
    }
}
