//! Tests on Debian's real packages: they fetch `linux-image-6.1.0-*-cloud-amd64` and
//! `busybox-static` into the default cache on first use (about 28 MB from the Debian mirror) and
//! reuse it afterwards, so they also pass offline once the cache is filled. The last one boots the
//! kernel with the marker-test initramfs on bare QEMU (TCG, no hypervisor): the reference run the
//! hypervisor's Linux tests are compared with, skipped with a message where QEMU is missing.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::setup_header::{Compression, XLF_KERNEL_64};
use super::*;

/// How long the bare-QEMU boot may take on a loaded two-core machine.
const QEMU_BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// Poll interval while waiting for QEMU.
const POLL: Duration = Duration::from_millis(100);

fn real_assets() -> LinuxAssets {
    let cache = default_cache_dir();
    let started = Instant::now();
    let found =
        assets(&cache).unwrap_or_else(|error| panic!("fetching into {}: {error}", cache.display()));
    eprintln!(
        "linux assets in {}: {:.2?} (kernel {})",
        cache.display(),
        started.elapsed(),
        found.version
    );
    found
}

#[test]
fn debian_cloud_kernel_and_busybox_are_fetched_once_then_reused() {
    let first = real_assets();
    assert!(first.version.starts_with("6.1.0-"), "{}", first.version);
    assert!(first.version.ends_with("-cloud-amd64"), "{}", first.version);
    assert!(first.bzimage.is_file());
    let busybox = fs::read(&first.busybox).expect("busybox");
    assert!(busybox.starts_with(b"\x7fELF"));
    let started = Instant::now();
    let second = assets(&default_cache_dir()).expect("cached");
    assert_eq!(second, first);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn debian_cloud_kernel_is_a_relocatable_64bit_lz4_bzimage() {
    let facts = real_assets().setup_header().expect("setup header");
    eprintln!("bzImage: {facts}");
    assert!(facts.version >= 0x020F, "protocol {:#x}", facts.version);
    assert_ne!(facts.xloadflags & XLF_KERNEL_64, 0);
    assert!(facts.relocatable);
    assert_eq!(facts.compression, Compression::Lz4);
    assert!(facts.kernel_alignment.is_power_of_two());
    assert!(facts.init_size > 0);
}

#[test]
fn debian_virtio_modules_resolve_in_dependency_order() {
    let modules = real_assets().virtio_modules().expect("virtio modules");
    let names: Vec<&str> = modules.iter().map(|module| module.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "virtio_ring",
            "virtio_pci_modern_dev",
            "virtio_pci_legacy_dev",
            "virtio",
            "virtio_pci",
            "virtio_blk",
            "virtio_console",
        ]
    );
}

#[test]
fn real_initramfs_sizes() {
    let found = real_assets();
    let dir = tempfile::tempdir().expect("temporary directory");
    for (label, spec) in [
        ("marker test", InitramfsSpec::default()),
        (
            "with virtio",
            InitramfsSpec::default().with_virtio_modules(),
        ),
    ] {
        let out = dir.path().join("initramfs.cpio.gz");
        let started = Instant::now();
        initramfs(&found, &spec, &out).expect("initramfs");
        let size = fs::metadata(&out).expect("size").len();
        eprintln!(
            "initramfs ({label}): {size} bytes in {:.2?}",
            started.elapsed()
        );
        assert!(size > 500_000 && size < 4_000_000, "{size}");
    }
}

/// Boots `bzimage` with `initrd` on bare QEMU, returning the serial log and whether QEMU exited
/// by itself (`-no-reboot` turns the guest's reboot into QEMU's exit).
fn boot_on_bare_qemu(bzimage: &Path, initrd: &Path, log: &Path) -> (String, bool, Duration) {
    let started = Instant::now();
    let mut child = Command::new(crate::host::QEMU_PROGRAM)
        .args([
            "-machine",
            "pc",
            "-m",
            "256",
            "-display",
            "none",
            "-no-reboot",
        ])
        .args(["-monitor", "none"])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .arg("-kernel")
        .arg(bzimage)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", DEFAULT_CMDLINE])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start qemu");
    let exited = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.success();
        }
        if started.elapsed() > QEMU_BOOT_TIMEOUT {
            // Only our own child is killed.
            drop(child.kill());
            drop(child.wait());
            break false;
        }
        std::thread::sleep(POLL);
    };
    let text = fs::read_to_string(log).unwrap_or_default();
    (text, exited, started.elapsed())
}

#[test]
fn marker_initramfs_boots_debian_kernel_on_bare_qemu() {
    if crate::host::find_program(crate::host::QEMU_PROGRAM).is_none() {
        eprintln!("skipped: {} is not installed", crate::host::QEMU_PROGRAM);
        return;
    }
    let found = real_assets();
    let dir = tempfile::tempdir().expect("temporary directory");
    let initrd = dir.path().join("initramfs.cpio.gz");
    initramfs(&found, &InitramfsSpec::default(), &initrd).expect("initramfs");
    let log = dir.path().join("serial.log");
    let (text, exited, took) = boot_on_bare_qemu(&found.bzimage, &initrd, &log);
    eprintln!("bare QEMU TCG boot to reboot: {took:.2?}");
    assert!(
        exited,
        "QEMU did not exit by the guest's reboot; serial log:\n{text}"
    );
    let report = boot_log::judge_marker_test(&text).unwrap_or_else(|failure| panic!("{failure}"));
    eprintln!(
        "timer ticks {:?}, date {:?}",
        report.timer_ticks, report.date
    );
    assert!(report.date.is_some_and(|date| date.starts_with("20")));
}
