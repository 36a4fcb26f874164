//! `debian:NAME` guest files: Debian 12's packaged Linux kernel and a busybox initramfs, fetched
//! and built into the guest cache by [`crate::linux`] rather than named by path, so that a
//! configuration (`boot/configs/linux.toml`) can boot Linux on any machine.
//!
//! | name | file | ramdisk member |
//! |---|---|---|
//! | `debian:kernel` | the cloud kernel's bzImage ([`crate::linux::assets`]) | `debian.bzimage` |
//! | `debian:shell-initramfs` | [`InitramfsSpec::interactive_shell`], built into the cache | `debian.initrd` |
//!
//! The initramfs is built once into `<cache>/initramfs/` under a name that carries the kernel
//! release and a hash of its inputs (init script, busybox), and rebuilt when that file is
//! missing; it is written through a temporary file and a rename, so a racing run sees either no
//! file or a whole one.

use std::path::{Path, PathBuf};

use devices::virtio::tracked_disk::{FNV_OFFSET_BASIS, fnv1a};

use super::error::Problem;
use crate::linux::{self, InitramfsSpec, LinuxAssets, LinuxError};

/// The prefix naming a Debian guest file.
pub const DEBIAN_PREFIX: &str = "debian:";
/// `debian:kernel`: the kernel.
pub const KERNEL: &str = "kernel";
/// `debian:shell-initramfs`: the interactive-shell initramfs.
pub const SHELL_INITRAMFS: &str = "shell-initramfs";
/// Every Debian guest file there is.
pub const DEBIAN_FILES: [&str; 2] = [KERNEL, SHELL_INITRAMFS];
/// The kernel's ramdisk member name.
pub const KERNEL_MEMBER: &str = "debian.bzimage";
/// The initramfs' ramdisk member name.
pub const SHELL_INITRAMFS_MEMBER: &str = "debian.initrd";
/// Where built initramfs images live, inside the guest cache.
pub const INITRAMFS_DIR: &str = "initramfs";

/// Refuses a name that is not one of [`DEBIAN_FILES`] (before anything is fetched).
pub fn check_name(name: &str) -> Result<(), Problem> {
    if DEBIAN_FILES.contains(&name) {
        return Ok(());
    }
    Err(Problem::UnknownDebianFile {
        name: name.to_string(),
        known: DEBIAN_FILES
            .iter()
            .map(|file| format!("{DEBIAN_PREFIX}{file}"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The member name and host path of `debian:name`, fetching the packages into `cache` and
/// building the initramfs there when needed.
pub fn resolve(cache: &Path, name: &str) -> Result<(String, PathBuf), Problem> {
    check_name(name)?;
    let failed = |error: LinuxError| Problem::DebianFile {
        name: format!("{DEBIAN_PREFIX}{name}"),
        message: error.to_string(),
    };
    let assets = linux::assets(cache).map_err(failed)?;
    if name == KERNEL {
        return Ok((KERNEL_MEMBER.to_string(), assets.bzimage));
    }
    let path = shell_initramfs(cache, &assets).map_err(failed)?;
    Ok((SHELL_INITRAMFS_MEMBER.to_string(), path))
}

/// The interactive-shell initramfs for `assets` in `cache`, built unless it is there.
fn shell_initramfs(cache: &Path, assets: &LinuxAssets) -> Result<PathBuf, LinuxError> {
    let spec = InitramfsSpec::interactive_shell();
    let inputs = fnv1a(
        fnv1a(FNV_OFFSET_BASIS, spec.init_script.as_bytes()),
        assets.busybox.to_string_lossy().as_bytes(),
    );
    let dir = cache.join(INITRAMFS_DIR);
    let path = dir.join(format!("shell-{}-{:016x}.cpio.gz", assets.version, inputs));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|error| LinuxError::io(format!("creating {}", dir.display()), error))?;
    let staging = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|error| LinuxError::io(format!("creating a file in {}", dir.display()), error))?;
    linux::initramfs(assets, &spec, staging.path())?;
    staging
        .persist(&path)
        .map_err(|error| LinuxError::io(format!("writing {}", path.display()), error.error))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_cache() -> tempfile::TempDir {
        let cache = tempfile::tempdir().expect("temporary directory");
        super::super::test_support::fake_linux_cache(cache.path());
        cache
    }

    #[test]
    fn unknown_names_are_refused_listing_the_known_ones() {
        assert_eq!(
            check_name("foo").expect_err("unknown").to_string(),
            r#"unknown Debian guest file "foo" (there are: debian:kernel, debian:shell-initramfs)"#
        );
        // Refused before any fetch: the cache directory is never created.
        let cache = tempfile::tempdir().expect("temporary directory");
        let missing = cache.path().join("never-created");
        assert!(resolve(&missing, "initramfs").is_err());
        assert!(!missing.exists());
    }

    #[test]
    fn kernel_resolves_to_the_cached_bzimage() {
        let cache = fake_cache();
        let (member, path) = resolve(cache.path(), KERNEL).expect("kernel");
        assert_eq!(member, "debian.bzimage");
        assert_eq!(
            path,
            cache
                .path()
                .join("unpacked/k/boot/vmlinuz-6.1.0-56-cloud-amd64")
        );
    }

    #[test]
    fn shell_initramfs_is_built_into_the_cache_once_and_rebuilt_when_missing() {
        let cache = fake_cache();
        let (member, path) = resolve(cache.path(), SHELL_INITRAMFS).expect("initramfs");
        assert_eq!(member, "debian.initrd");
        assert!(path.starts_with(cache.path().join(INITRAMFS_DIR)));
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        assert!(name.starts_with("shell-6.1.0-56-cloud-amd64-"), "{name}");
        let built = std::fs::read(&path).expect("built");
        assert_eq!(built.get(..2), Some(&[0x1f, 0x8b][..]), "gzip magic");
        // A second resolution reuses the file; a removed one is built again, identically.
        std::fs::write(&path, b"kept").expect("overwrite");
        assert_eq!(
            resolve(cache.path(), SHELL_INITRAMFS).expect("again").1,
            path
        );
        assert_eq!(std::fs::read(&path).expect("kept"), b"kept");
        std::fs::remove_file(&path).expect("remove");
        resolve(cache.path(), SHELL_INITRAMFS).expect("rebuilt");
        assert_eq!(std::fs::read(&path).expect("rebuilt"), built);
    }

    #[test]
    fn a_cache_without_packages_is_a_field_error_not_a_panic() {
        // An empty cache makes `linux::assets` try apt; whatever that gives (offline, no apt),
        // a failure is a `DebianFile` problem naming the source.
        let cache = tempfile::tempdir().expect("temporary directory");
        let unusable = cache.path().join("file-not-dir");
        std::fs::write(&unusable, b"x").expect("file");
        match resolve(&unusable, KERNEL) {
            Err(Problem::DebianFile { name, .. }) => assert_eq!(name, "debian:kernel"),
            other => panic!("expected a DebianFile problem, got {other:?}"),
        }
    }
}
