//! The initramfs: a gzip-compressed cpio archive in the "newc" format, which the Linux kernel
//! unpacks into its root file system and whose `/init` it runs (Linux
//! `Documentation/driver-api/early-userspace/buffer-format.rst`; Debian's kernel has
//! `CONFIG_RD_GZIP=y`). Built here without root: directories, the `/dev/console` device node and
//! symbolic links are only archive entries with the right mode and device numbers.
//!
//! Contents: the base directories, `/dev/console` (character device 5,1: the kernel opens it as
//! init's standard input and output before any file system is mounted), `/bin/busybox` with a
//! `/bin/sh` link, `/init` (mode 0755) from [`InitramfsSpec::init_script`], optionally the virtio
//! modules with a load-order file, and extra host files. Every timestamp is 0, so the same inputs
//! give the same bytes.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::assets::{LinuxAssets, MODULES_ROOT};
use super::error::LinuxError;
use super::init_script;
use super::modules::{self, VIRTIO_MODULES};

/// File type bits of a cpio mode (`S_IFMT`, as in stat(2)).
const MODE_TYPE_MASK: u32 = 0o170_000;
/// `S_IFDIR`.
pub const MODE_DIRECTORY: u32 = 0o040_000;
/// `S_IFREG`.
pub const MODE_REGULAR: u32 = 0o100_000;
/// `S_IFLNK`.
pub const MODE_SYMLINK: u32 = 0o120_000;
/// `S_IFCHR`.
pub const MODE_CHAR_DEVICE: u32 = 0o020_000;
/// Permissions of directories and executables.
const PERM_0755: u32 = 0o755;
/// Permissions of plain files.
const PERM_0644: u32 = 0o644;
/// Permissions of `/dev/console`: root only.
const PERM_0600: u32 = 0o600;
/// Permissions of `/tmp`: sticky, writable by all.
const PERM_1777: u32 = 0o1777;
/// Permissions of a symbolic link.
const PERM_0777: u32 = 0o777;
/// Any execute bit in a host file's mode.
const ANY_EXECUTE: u32 = 0o111;
/// `/dev/console`'s device number: major 5 (`TTYAUX_MAJOR`), minor 1 (Linux
/// `Documentation/admin-guide/devices.txt`).
pub const CONSOLE_MAJOR: u32 = 5;
/// See [`CONSOLE_MAJOR`].
pub const CONSOLE_MINOR: u32 = 1;
/// Directories every initramfs has, parents first.
pub const BASE_DIRECTORIES: [&str; 12] = [
    "bin", "dev", "etc", "lib", "mnt", "proc", "root", "sbin", "sys", "usr", "usr/bin", "usr/sbin",
];
/// `/tmp`, created sticky.
pub const TMP_DIRECTORY: &str = "tmp";
/// The load-order file the virtio modules come with: absolute module paths, one per line.
pub const VIRTIO_ORDER_FILE: &str = "lib/modules/virtio.order";
/// Longest path accepted inside the archive (a component of `PATH_MAX` to spare).
pub const MAX_ARCHIVE_PATH: usize = 255;
/// Most extra files one initramfs takes.
pub const MAX_EXTRA_FILES: usize = 256;

/// What goes into an initramfs besides busybox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitramfsSpec {
    /// The text of `/init` (see [`init_script`] for ready ones and the common prelude).
    pub init_script: String,
    /// Put the virtio modules ([`VIRTIO_MODULES`] and what they need) under
    /// `/lib/modules/<release>/` with [`VIRTIO_ORDER_FILE`] listing them in load order.
    pub include_virtio_modules: bool,
    /// Host files by their path in the archive (`etc/expected.sha256`); executable on the host
    /// means mode 0755 in the archive, else 0644. Missing parent directories are added.
    pub extra_files: Vec<(String, PathBuf)>,
}

impl Default for InitramfsSpec {
    /// The marker test: [`init_script::marker_test`], no modules, no extra files.
    fn default() -> Self {
        Self::new(init_script::marker_test())
    }
}

impl InitramfsSpec {
    /// An initramfs running `init_script` as `/init`, nothing else added.
    pub fn new(init_script: impl Into<String>) -> Self {
        Self {
            init_script: init_script.into(),
            include_virtio_modules: false,
            extra_files: Vec::new(),
        }
    }

    /// The configuration for `cargo run`: an interactive shell on the console.
    pub fn interactive_shell() -> Self {
        Self::new(init_script::interactive_shell())
    }

    /// Adds the virtio modules (builder style).
    pub fn with_virtio_modules(mut self) -> Self {
        self.include_virtio_modules = true;
        self
    }

    /// Adds the host file `host` as `archive_path` (builder style).
    pub fn with_file(mut self, archive_path: &str, host: impl Into<PathBuf>) -> Self {
        self.extra_files
            .push((archive_path.to_string(), host.into()));
        self
    }
}

/// What one archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberKind {
    /// A directory with these permissions.
    Directory {
        /// Permission bits.
        permissions: u32,
    },
    /// A regular file.
    File {
        /// Permission bits.
        permissions: u32,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// A symbolic link to `target`.
    Symlink {
        /// What it points at.
        target: String,
    },
    /// A character device node.
    CharDevice {
        /// Permission bits.
        permissions: u32,
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
}

/// One archive entry: a path without a leading `/`, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Path inside the archive (`bin/busybox`).
    pub path: String,
    /// What it is.
    pub kind: MemberKind,
}

impl Member {
    /// The cpio mode: file type and permission bits.
    pub fn mode(&self) -> u32 {
        match &self.kind {
            MemberKind::Directory { permissions } => MODE_DIRECTORY | permissions,
            MemberKind::File { permissions, .. } => MODE_REGULAR | permissions,
            MemberKind::Symlink { .. } => MODE_SYMLINK | PERM_0777,
            MemberKind::CharDevice { permissions, .. } => MODE_CHAR_DEVICE | permissions,
        }
    }

    /// The entry's data: file contents, or a link's target.
    fn data(&self) -> &[u8] {
        match &self.kind {
            MemberKind::File { data, .. } => data,
            MemberKind::Symlink { target } => target.as_bytes(),
            MemberKind::Directory { .. } | MemberKind::CharDevice { .. } => &[],
        }
    }
}

/// Whether a cpio `mode` has the file type `kind` (one of the `MODE_*` type constants).
pub fn mode_is(mode: u32, kind: u32) -> bool {
    mode & MODE_TYPE_MASK == kind
}

/// An archive path in canonical form: no leading `/`, no empty, `.` or `..` component.
pub fn archive_path(path: &str) -> Result<String, LinuxError> {
    let refuse = |reason| LinuxError::ArchivePath {
        path: path.to_string(),
        reason,
    };
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() {
        return Err(refuse("empty"));
    }
    if trimmed.len() > MAX_ARCHIVE_PATH {
        return Err(refuse("longer than 255 bytes"));
    }
    if trimmed.contains('\0') {
        return Err(refuse("contains NUL"));
    }
    if trimmed
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(refuse("has an empty, `.` or `..` component"));
    }
    Ok(trimmed.to_string())
}

/// The archive being assembled: members in order, with every parent directory before its
/// children and no path twice.
#[derive(Debug, Default)]
struct Layout {
    members: Vec<Member>,
    paths: BTreeSet<String>,
}

impl Layout {
    /// Adds `path`'s missing parent directories (0755).
    fn parents(&mut self, path: &str) {
        let mut end = 0;
        while let Some(slash) = path.get(end..).and_then(|rest| rest.find('/')) {
            let parent = &path[..end + slash];
            if !self.paths.contains(parent) {
                self.push_unchecked(
                    parent.to_string(),
                    MemberKind::Directory {
                        permissions: PERM_0755,
                    },
                );
            }
            end += slash + 1;
        }
    }

    /// Adds a member at `path` (already canonical), parents first; a path given twice is refused.
    fn add(&mut self, path: String, kind: MemberKind) -> Result<(), LinuxError> {
        if self.paths.contains(&path) {
            return Err(LinuxError::ArchivePath {
                path,
                reason: "already in the archive",
            });
        }
        self.parents(&path);
        self.push_unchecked(path, kind);
        Ok(())
    }

    fn push_unchecked(&mut self, path: String, kind: MemberKind) {
        self.paths.insert(path.clone());
        self.members.push(Member { path, kind });
    }
}

/// Reads a host file for the archive, checking it fits a cpio size field.
fn host_file(path: &Path) -> Result<(Vec<u8>, u32), LinuxError> {
    let context = || format!("reading {} for the initramfs", path.display());
    let data = fs::read(path).map_err(|error| LinuxError::io(context(), error))?;
    if u32::try_from(data.len()).is_err() {
        return Err(LinuxError::io(
            context(),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "larger than 4 GiB"),
        ));
    }
    let mode = fs::metadata(path)
        .map_err(|error| LinuxError::io(context(), error))?
        .permissions()
        .mode();
    let permissions = if mode & ANY_EXECUTE != 0 {
        PERM_0755
    } else {
        PERM_0644
    };
    Ok((data, permissions))
}

/// The archive's members, in the order they are written.
pub fn members(assets: &LinuxAssets, spec: &InitramfsSpec) -> Result<Vec<Member>, LinuxError> {
    if spec.extra_files.len() > MAX_EXTRA_FILES {
        return Err(LinuxError::ArchivePath {
            path: format!("{} extra files", spec.extra_files.len()),
            reason: "more than 256 extra files",
        });
    }
    let mut layout = Layout::default();
    for dir in BASE_DIRECTORIES {
        layout.add(
            dir.to_string(),
            MemberKind::Directory {
                permissions: PERM_0755,
            },
        )?;
    }
    layout.add(
        TMP_DIRECTORY.to_string(),
        MemberKind::Directory {
            permissions: PERM_1777,
        },
    )?;
    layout.add(
        "dev/console".to_string(),
        MemberKind::CharDevice {
            permissions: PERM_0600,
            major: CONSOLE_MAJOR,
            minor: CONSOLE_MINOR,
        },
    )?;
    let (busybox, _) = host_file(&assets.busybox)?;
    layout.add(
        archive_path(init_script::BUSYBOX_IN_ARCHIVE)?,
        MemberKind::File {
            permissions: PERM_0755,
            data: busybox,
        },
    )?;
    layout.add(
        "bin/sh".to_string(),
        MemberKind::Symlink {
            target: "busybox".to_string(),
        },
    )?;
    layout.add(
        "init".to_string(),
        MemberKind::File {
            permissions: PERM_0755,
            data: spec.init_script.as_bytes().to_vec(),
        },
    )?;
    if spec.include_virtio_modules {
        let release_dir = format!("{MODULES_ROOT}/{}", assets.version);
        let mut order = String::new();
        for module in modules::resolve(&assets.modules_dir, &VIRTIO_MODULES)? {
            let relative = module.relative.to_string_lossy();
            let path = archive_path(&format!("{release_dir}/{relative}"))?;
            let (data, _) = host_file(&module.path)?;
            order.push_str(&format!("/{path}\n"));
            layout.add(
                path,
                MemberKind::File {
                    permissions: PERM_0644,
                    data,
                },
            )?;
        }
        layout.add(
            VIRTIO_ORDER_FILE.to_string(),
            MemberKind::File {
                permissions: PERM_0644,
                data: order.into_bytes(),
            },
        )?;
    }
    for (path, host) in &spec.extra_files {
        let path = archive_path(path)?;
        let (data, permissions) = host_file(host)?;
        layout.add(path, MemberKind::File { permissions, data })?;
    }
    Ok(layout.members)
}

/// Writes `members` as a newc cpio archive, gzip-compressed, to `out`.
pub fn write_archive(members: &[Member], out: &Path) -> Result<(), LinuxError> {
    let context = || format!("writing the initramfs {}", out.display());
    let file = File::create(out).map_err(|error| LinuxError::io(context(), error))?;
    let mut gzip = GzEncoder::new(BufWriter::new(file), Compression::best());
    for (index, member) in members.iter().enumerate() {
        let data = member.data();
        let size = u32::try_from(data.len()).map_err(|_| {
            LinuxError::io(
                context(),
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "member over 4 GiB"),
            )
        })?;
        // Inode numbers only need to be unique (hard links are not used); 0 stays unused.
        let inode = u32::try_from(index.saturating_add(1)).unwrap_or(u32::MAX);
        let mut builder = cpio::NewcBuilder::new(&member.path)
            .ino(inode)
            .mode(member.mode())
            .nlink(if matches!(member.kind, MemberKind::Directory { .. }) {
                2
            } else {
                1
            });
        if let MemberKind::CharDevice { major, minor, .. } = member.kind {
            builder = builder.rdev_major(major).rdev_minor(minor);
        }
        let mut writer = builder.write(&mut gzip, size);
        writer
            .write_all(data)
            .map_err(|error| LinuxError::io(context(), error))?;
        writer
            .finish()
            .map_err(|error| LinuxError::io(context(), error))?;
    }
    cpio::newc::trailer(&mut gzip).map_err(|error| LinuxError::io(context(), error))?;
    gzip.finish()
        .and_then(|mut inner| inner.flush())
        .map_err(|error| LinuxError::io(context(), error))
}

/// Builds the initramfs `spec` describes from `assets` and writes it to `out`.
pub fn initramfs(assets: &LinuxAssets, spec: &InitramfsSpec, out: &Path) -> Result<(), LinuxError> {
    write_archive(&members(assets, spec)?, out)
}
