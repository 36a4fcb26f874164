//! Tests of the initramfs archive: each writes an archive from fake assets, gunzips it and reads
//! it back with the `cpio` crate's newc reader.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use flate2::read::GzDecoder;

use super::assets::LinuxAssets;
use super::error::LinuxError;
use super::init_script;
use super::initramfs::*;
use super::modules::tests::fake_virtio_tree;

/// One entry read back from an archive.
#[derive(Debug)]
struct Entry {
    name: String,
    mode: u32,
    rdev: (u32, u32),
    ino: u32,
    mtime: u32,
    data: Vec<u8>,
}

fn read_back(path: &Path) -> Vec<Entry> {
    let mut reader = GzDecoder::new(fs::File::open(path).expect("open"));
    let mut entries = Vec::new();
    loop {
        let mut entry = cpio::NewcReader::new(reader).expect("newc entry");
        if entry.entry().is_trailer() {
            break;
        }
        let header = entry.entry();
        let mut read = Entry {
            name: header.name().to_string(),
            mode: header.mode(),
            rdev: (header.rdev_major(), header.rdev_minor()),
            ino: header.ino(),
            mtime: header.mtime(),
            data: Vec::new(),
        };
        entry.read_to_end(&mut read.data).expect("entry data");
        entries.push(read);
        reader = entry.finish().expect("next entry");
    }
    entries
}

fn find<'a>(entries: &'a [Entry], name: &str) -> &'a Entry {
    entries
        .iter()
        .find(|entry| entry.name == name)
        .unwrap_or_else(|| panic!("{name} not in the archive"))
}

/// Fake assets in `dir`: a busybox stand-in and the virtio module tree.
fn fake_assets(dir: &Path) -> LinuxAssets {
    let busybox = dir.join("busybox");
    fs::write(&busybox, b"\x7fELF busybox stand-in").expect("busybox");
    let modules_dir = dir.join("lib/modules/6.1.0-56-cloud-amd64");
    fake_virtio_tree(&modules_dir);
    LinuxAssets {
        bzimage: dir.join("vmlinuz"),
        busybox,
        modules_dir,
        version: "6.1.0-56-cloud-amd64".into(),
    }
}

fn build(spec: &InitramfsSpec) -> (tempfile::TempDir, Vec<Entry>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let assets = fake_assets(dir.path());
    let out = dir.path().join("initramfs.cpio.gz");
    initramfs(&assets, spec, &out).expect("initramfs written");
    let entries = read_back(&out);
    (dir, entries)
}

#[test]
fn console_node_is_char_device_5_1_readable_by_root_only() {
    let (_dir, entries) = build(&InitramfsSpec::default());
    let console = find(&entries, "dev/console");
    assert_eq!(console.mode, 0o020_600);
    assert!(mode_is(console.mode, MODE_CHAR_DEVICE));
    assert_eq!(console.rdev, (5, 1));
    assert!(console.data.is_empty());
}

#[test]
fn init_is_the_given_script_and_executable() {
    let (_dir, entries) = build(&InitramfsSpec::new("#!/bin/busybox sh\necho hi\n"));
    let init = find(&entries, "init");
    assert_eq!(init.mode, 0o100_755);
    assert_eq!(init.data, b"#!/bin/busybox sh\necho hi\n");
}

#[test]
fn default_spec_runs_the_marker_test_script() {
    let (_dir, entries) = build(&InitramfsSpec::default());
    assert_eq!(
        find(&entries, "init").data,
        init_script::marker_test().into_bytes()
    );
}

#[test]
fn busybox_is_executable_with_a_relative_sh_link() {
    let (_dir, entries) = build(&InitramfsSpec::default());
    let busybox = find(&entries, "bin/busybox");
    assert_eq!(busybox.mode, 0o100_755);
    assert_eq!(busybox.data, b"\x7fELF busybox stand-in");
    let sh = find(&entries, "bin/sh");
    assert!(mode_is(sh.mode, MODE_SYMLINK));
    assert_eq!(sh.data, b"busybox");
}

#[test]
fn mount_points_exist_and_tmp_is_sticky() {
    let (_dir, entries) = build(&InitramfsSpec::default());
    for dir in ["proc", "sys", "dev", "bin", "sbin", "usr/bin", "usr/sbin"] {
        assert_eq!(find(&entries, dir).mode, 0o040_755, "{dir}");
    }
    assert_eq!(find(&entries, "tmp").mode, 0o041_777);
}

#[test]
fn parents_come_before_children_and_inodes_are_unique() {
    let (_dir, entries) = build(&InitramfsSpec::default().with_virtio_modules());
    for (index, entry) in entries.iter().enumerate() {
        if let Some((parent, _)) = entry.name.rsplit_once('/') {
            let parent_at = entries
                .iter()
                .position(|other| other.name == parent)
                .unwrap_or_else(|| panic!("no parent for {}", entry.name));
            assert!(parent_at < index, "{} before its parent", entry.name);
        }
    }
    let mut inodes: Vec<u32> = entries.iter().map(|entry| entry.ino).collect();
    inodes.sort_unstable();
    inodes.dedup();
    assert_eq!(inodes.len(), entries.len());
    assert!(entries.iter().all(|entry| entry.mtime == 0));
}

#[test]
fn virtio_modules_come_with_their_load_order() {
    let (_dir, plain) = build(&InitramfsSpec::default());
    assert!(!plain.iter().any(|entry| entry.name.ends_with(".ko")));
    let (_dir, entries) = build(&InitramfsSpec::default().with_virtio_modules());
    let order = String::from_utf8(find(&entries, VIRTIO_ORDER_FILE).data.clone()).expect("text");
    let lines: Vec<&str> = order.lines().collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(
        lines[0],
        "/lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/virtio/virtio_ring.ko"
    );
    assert_eq!(
        lines[6],
        "/lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/char/virtio_console.ko"
    );
    for line in lines {
        let module = find(&entries, line.trim_start_matches('/'));
        assert_eq!(module.mode, 0o100_644);
        assert!(module.data.starts_with(b"\x7fELF"));
    }
}

#[test]
fn extra_files_keep_their_execute_bit_and_get_parents() {
    let host = tempfile::tempdir().expect("temporary directory");
    let data = host.path().join("data.txt");
    let tool = host.path().join("tool.sh");
    fs::write(&data, b"payload").expect("write");
    fs::write(&tool, b"#!/bin/sh\n").expect("write");
    fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).expect("chmod");
    let spec = InitramfsSpec::default()
        .with_file("/opt/test/data.txt", &data)
        .with_file("usr/bin/tool", &tool);
    let (_dir, entries) = build(&spec);
    assert_eq!(find(&entries, "opt").mode, 0o040_755);
    assert_eq!(find(&entries, "opt/test").mode, 0o040_755);
    let file = find(&entries, "opt/test/data.txt");
    assert_eq!(
        (file.mode, file.data.as_slice()),
        (0o100_644, &b"payload"[..])
    );
    assert_eq!(find(&entries, "usr/bin/tool").mode, 0o100_755);
}

#[test]
fn extra_file_over_an_existing_member_is_refused() {
    let host = tempfile::tempdir().expect("temporary directory");
    let assets = fake_assets(host.path());
    let file = host.path().join("x");
    fs::write(&file, b"x").expect("write");
    let spec = InitramfsSpec::default().with_file("/init", &file);
    let error = members(&assets, &spec).expect_err("duplicate");
    assert!(matches!(
        error,
        LinuxError::ArchivePath {
            reason: "already in the archive",
            ..
        }
    ));
}

#[test]
fn archive_paths_are_canonical_and_cannot_escape() {
    assert_eq!(archive_path("/etc/x").expect("ok"), "etc/x");
    for bad in ["", "/", "a//b", "../x", "a/./b", "a/", "a\0b"] {
        assert!(archive_path(bad).is_err(), "{bad:?}");
    }
    assert!(archive_path(&"a".repeat(MAX_ARCHIVE_PATH + 1)).is_err());
}

#[test]
fn same_inputs_give_the_same_bytes() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let assets = fake_assets(dir.path());
    let first = dir.path().join("a.gz");
    let second = dir.path().join("b.gz");
    initramfs(&assets, &InitramfsSpec::default(), &first).expect("first");
    initramfs(&assets, &InitramfsSpec::default(), &second).expect("second");
    assert_eq!(
        fs::read(first).expect("read"),
        fs::read(second).expect("read")
    );
}
