//! The guest cache: where Debian's kernel and busybox packages are downloaded and unpacked once,
//! then reused by every later run, online or not. Nothing in it is ever committed (it lives in a
//! Cargo target directory by default).
//!
//! Layout below the cache directory:
//!
//! * `downloads/<package>_<version>_<arch>.deb`: what `apt-get download` fetched. A `.deb` put
//!   here by hand (the command in a fetch error does exactly that) is used as if fetched.
//! * `unpacked/<deb file stem>/`: `dpkg-deb -x` of one package, with a `.complete` marker written
//!   last.
//! * `linux-guest.stamp`: which two unpacked directories make up the guest; while it names
//!   complete directories holding the files, no apt tool runs at all.
//!
//! Each step writes into a temporary directory inside the cache and renames it into place, so a
//! second process racing on the same cache sees either nothing or a complete directory; threads
//! of one process are serialised by a lock.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::apt::{self, BUSYBOX_PACKAGE, KERNEL_METAPACKAGE};
use super::assets::LinuxAssets;
use super::error::LinuxError;

/// Environment variable naming the cache directory, overriding every default.
pub const CACHE_ENV: &str = "HV_GUEST_CACHE";
/// The cache's directory name inside a Cargo target directory.
pub const CACHE_DIR_NAME: &str = "guest-cache";
/// Downloaded `.deb` files, inside the cache.
pub const DOWNLOADS_DIR: &str = "downloads";
/// Unpacked packages, inside the cache.
pub const UNPACKED_DIR: &str = "unpacked";
/// The file naming the unpacked kernel and busybox directories.
pub const STAMP_FILE: &str = "linux-guest.stamp";
/// Written last into an unpacked package directory.
pub const COMPLETE_MARKER: &str = ".complete";
/// File name ending of a Debian package.
const DEB_SUFFIX: &str = ".deb";
/// Stamp keys.
const STAMP_KERNEL: &str = "kernel";
const STAMP_BUSYBOX: &str = "busybox";

/// Serialises fetching within this process: parallel tests share one cache.
static FETCH_LOCK: Mutex<()> = Mutex::new(());

/// The default cache directory: `$HV_GUEST_CACHE`, else `guest-cache` in an absolute
/// `$CARGO_TARGET_DIR`, else `target/guest-cache` in this workspace (the same directory for
/// `cargo run` and `cargo test`, whatever the current directory).
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = env::var_os(CACHE_ENV).filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(target) = env::var_os("CARGO_TARGET_DIR").map(PathBuf::from)
        && target.is_absolute()
    {
        return target.join(CACHE_DIR_NAME);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .unwrap_or(manifest)
        .join("target")
        .join(CACHE_DIR_NAME)
}

/// Which unpacked directories (names below `unpacked/`) make up the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The kernel package's directory.
    pub kernel: String,
    /// The busybox package's directory.
    pub busybox: String,
}

impl Stamp {
    /// Reads `kernel=...` and `busybox=...` lines; `None` if either is missing or unsafe as a
    /// directory name.
    pub fn parse(text: &str) -> Option<Self> {
        let value = |key: &str| {
            text.lines().find_map(|line| {
                let (k, v) = line.split_once('=')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        let plain =
            |name: &String| !name.is_empty() && !name.contains('/') && !name.starts_with('.');
        let kernel = value(STAMP_KERNEL).filter(plain)?;
        let busybox = value(STAMP_BUSYBOX).filter(plain)?;
        Some(Self { kernel, busybox })
    }

    /// The stamp file's text.
    pub fn render(&self) -> String {
        format!(
            "{STAMP_KERNEL}={}\n{STAMP_BUSYBOX}={}\n",
            self.kernel, self.busybox
        )
    }
}

/// Fetches (once) and locates the guest files in `cache`: Debian 12's newest cloud kernel and
/// busybox-static. A cache holding a valid stamp is used without running any apt tool.
pub fn assets(cache: &Path) -> Result<LinuxAssets, LinuxError> {
    let _serial = FETCH_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = from_stamp(cache) {
        return Ok(found);
    }
    let downloads = cache.join(DOWNLOADS_DIR);
    fs::create_dir_all(&downloads)
        .map_err(|error| LinuxError::io(format!("creating {}", downloads.display()), error))?;
    let kernel_deb = match cached_deb(&downloads, kernel_rank)? {
        Some(deb) => deb,
        None => {
            let manual = || {
                let resolved = format!(
                    "\"$(apt-cache depends {KERNEL_METAPACKAGE} | sed -n 's/^ *Depends: //p' | head -n1)\""
                );
                apt::download_command(&downloads, &[&resolved, BUSYBOX_PACKAGE])
            };
            let package = apt::resolve_kernel_package(&manual)?;
            fetch_deb(cache, &downloads, &package)?
        }
    };
    let busybox_deb = match cached_deb(&downloads, busybox_rank)? {
        Some(deb) => deb,
        None => fetch_deb(cache, &downloads, BUSYBOX_PACKAGE)?,
    };
    let kernel_root = unpacked(cache, &kernel_deb)?;
    let busybox_root = unpacked(cache, &busybox_deb)?;
    let found = LinuxAssets::locate(&kernel_root, &busybox_root)?;
    let stamp = Stamp {
        kernel: dir_name(&kernel_root),
        busybox: dir_name(&busybox_root),
    };
    write_atomically(cache, STAMP_FILE, stamp.render().as_bytes())?;
    Ok(found)
}

/// The assets the stamp names, if it exists and they are all there.
fn from_stamp(cache: &Path) -> Option<LinuxAssets> {
    let stamp = Stamp::parse(&fs::read_to_string(cache.join(STAMP_FILE)).ok()?)?;
    let unpacked = cache.join(UNPACKED_DIR);
    let kernel = unpacked.join(stamp.kernel);
    let busybox = unpacked.join(stamp.busybox);
    if !kernel.join(COMPLETE_MARKER).is_file() || !busybox.join(COMPLETE_MARKER).is_file() {
        return None;
    }
    LinuxAssets::locate(&kernel, &busybox).ok()
}

/// `path`'s last component as text.
fn dir_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The package name of a `.deb` file name (`<package>_<version>_<arch>.deb`).
fn deb_package(file_name: &str) -> Option<&str> {
    let stem = file_name.strip_suffix(DEB_SUFFIX)?;
    stem.split_once('_').map(|(package, _)| package)
}

/// Preference of a downloaded kernel package: its ABI number.
fn kernel_rank(file_name: &str) -> Option<u32> {
    apt::kernel_abi(deb_package(file_name)?)
}

/// Preference of a downloaded busybox package: any `busybox-static` is as good as another.
fn busybox_rank(file_name: &str) -> Option<u32> {
    (deb_package(file_name)? == BUSYBOX_PACKAGE).then_some(0)
}

/// The best-ranked `.deb` in `downloads` (ties broken by the later file name).
fn cached_deb(
    downloads: &Path,
    rank: fn(&str) -> Option<u32>,
) -> Result<Option<PathBuf>, LinuxError> {
    let listing = |error| LinuxError::io(format!("listing {}", downloads.display()), error);
    let mut best: Option<(u32, String)> = None;
    for entry in fs::read_dir(downloads).map_err(listing)? {
        let name = entry.map_err(listing)?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(score) = rank(name) else { continue };
        let candidate = (score, name.to_string());
        if best.as_ref().is_none_or(|current| candidate > *current) {
            best = Some(candidate);
        }
    }
    Ok(best.map(|(_, name)| downloads.join(name)))
}

/// Downloads `package` into a fresh directory in the cache and moves the `.deb` into
/// `downloads`. A failure names the command that downloads it by hand.
fn fetch_deb(cache: &Path, downloads: &Path, package: &str) -> Result<PathBuf, LinuxError> {
    let staging = tempfile::tempdir_in(cache).map_err(|error| {
        LinuxError::io(
            format!("creating a directory in {}", cache.display()),
            error,
        )
    })?;
    apt::download(package, staging.path()).map_err(|error| match error {
        LinuxError::CommandFailed { status, stderr, .. } => LinuxError::CommandFailed {
            command: apt::download_command(downloads, &[package]),
            status,
            stderr,
        },
        other => other,
    })?;
    let listing = |error| LinuxError::io(format!("listing {}", staging.path().display()), error);
    for entry in fs::read_dir(staging.path()).map_err(listing)? {
        let entry = entry.map_err(listing)?;
        let name = entry.file_name();
        if name.to_str().and_then(deb_package) == Some(package) {
            let target = downloads.join(&name);
            fs::rename(entry.path(), &target).map_err(|error| {
                LinuxError::io(format!("moving {} into the cache", target.display()), error)
            })?;
            return Ok(target);
        }
    }
    Err(LinuxError::AssetMissing {
        what: "the downloaded .deb",
        dir: staging.path().to_path_buf(),
    })
}

/// The directory `deb` is unpacked in, unpacking it first unless that was done before.
fn unpacked(cache: &Path, deb: &Path) -> Result<PathBuf, LinuxError> {
    let stem = deb
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_suffix(DEB_SUFFIX))
        .ok_or_else(|| LinuxError::AssetMissing {
            what: "a .deb file name",
            dir: deb.to_path_buf(),
        })?;
    let root = cache.join(UNPACKED_DIR);
    let target = root.join(stem);
    if target.join(COMPLETE_MARKER).is_file() {
        return Ok(target);
    }
    fs::create_dir_all(&root)
        .map_err(|error| LinuxError::io(format!("creating {}", root.display()), error))?;
    let staging = tempfile::tempdir_in(&root).map_err(|error| {
        LinuxError::io(format!("creating a directory in {}", root.display()), error)
    })?;
    apt::unpack(deb, staging.path())?;
    fs::write(staging.path().join(COMPLETE_MARKER), stem.as_bytes())
        .map_err(|error| LinuxError::io("marking an unpacked package complete", error))?;
    if target.exists() && !target.join(COMPLETE_MARKER).is_file() {
        // A directory left by an interrupted run of an older layout: replace it.
        fs::remove_dir_all(&target)
            .map_err(|error| LinuxError::io(format!("removing {}", target.display()), error))?;
    }
    match fs::rename(staging.path(), &target) {
        Ok(()) => Ok(target),
        // Another process renamed its complete copy into place first: use that one.
        Err(_) if target.join(COMPLETE_MARKER).is_file() => Ok(target),
        Err(error) => Err(LinuxError::io(
            format!("moving the unpacked package to {}", target.display()),
            error,
        )),
    }
}

/// Writes `name` in `dir` through a temporary file and a rename.
fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> Result<(), LinuxError> {
    let target = dir.join(name);
    let context = || format!("writing {}", target.display());
    let mut staging =
        tempfile::NamedTempFile::new_in(dir).map_err(|error| LinuxError::io(context(), error))?;
    std::io::Write::write_all(&mut staging, contents)
        .map_err(|error| LinuxError::io(context(), error))?;
    staging
        .persist(&target)
        .map_err(|error| LinuxError::io(context(), error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(path, b"x").expect("write");
    }

    #[test]
    fn stamp_round_trips_and_refuses_paths() {
        let stamp = Stamp {
            kernel: "linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64".into(),
            busybox: "busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64".into(),
        };
        assert_eq!(Stamp::parse(&stamp.render()), Some(stamp));
        assert_eq!(Stamp::parse("kernel=../etc\nbusybox=b\n"), None);
        assert_eq!(Stamp::parse("kernel=k\n"), None);
    }

    #[test]
    fn deb_file_names_give_package_and_rank() {
        assert_eq!(
            deb_package("busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb"),
            Some("busybox-static")
        );
        assert_eq!(
            kernel_rank("linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb"),
            Some(56)
        );
        assert_eq!(
            kernel_rank("linux-image-cloud-amd64_6.1.192-2_amd64.deb"),
            None
        );
        assert_eq!(busybox_rank("busybox_1%3a1.35.0-4_amd64.deb"), None);
    }

    #[test]
    fn cached_deb_prefers_the_highest_kernel_abi() {
        let dir = tempfile::tempdir().expect("temporary directory");
        for name in [
            "linux-image-6.1.0-9-cloud-amd64_6.1.27-1_amd64.deb",
            "linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb",
            "busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb",
        ] {
            touch(&dir.path().join(name));
        }
        assert_eq!(
            cached_deb(dir.path(), kernel_rank).expect("listing"),
            Some(
                dir.path()
                    .join("linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb")
            )
        );
        assert_eq!(
            cached_deb(dir.path(), busybox_rank).expect("listing"),
            Some(
                dir.path()
                    .join("busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb")
            )
        );
    }

    #[test]
    fn valid_stamp_is_used_without_any_apt_tool() {
        let cache = tempfile::tempdir().expect("temporary directory");
        let kernel = cache.path().join("unpacked/k");
        let busybox = cache.path().join("unpacked/b");
        touch(&kernel.join("boot/vmlinuz-6.1.0-56-cloud-amd64"));
        touch(&kernel.join("lib/modules/6.1.0-56-cloud-amd64/kernel/x.ko"));
        touch(&busybox.join("bin/busybox"));
        touch(&kernel.join(COMPLETE_MARKER));
        touch(&busybox.join(COMPLETE_MARKER));
        let stamp = Stamp {
            kernel: "k".into(),
            busybox: "b".into(),
        };
        fs::write(cache.path().join(STAMP_FILE), stamp.render()).expect("stamp");
        // No downloads directory exists: reaching apt would fail or create it.
        let found = assets(cache.path()).expect("from the stamp");
        assert_eq!(found.version, "6.1.0-56-cloud-amd64");
        assert!(!cache.path().join(DOWNLOADS_DIR).exists());
    }

    #[test]
    fn incomplete_unpack_is_not_trusted() {
        let cache = tempfile::tempdir().expect("temporary directory");
        touch(
            &cache
                .path()
                .join("unpacked/k/boot/vmlinuz-6.1.0-1-cloud-amd64"),
        );
        touch(&cache.path().join("unpacked/b/bin/busybox"));
        touch(&cache.path().join("unpacked/b").join(COMPLETE_MARKER));
        fs::write(cache.path().join(STAMP_FILE), "kernel=k\nbusybox=b\n").expect("stamp");
        assert_eq!(from_stamp(cache.path()), None);
    }

    #[test]
    fn default_cache_is_absolute_and_named_guest_cache() {
        let dir = default_cache_dir();
        if env::var_os(CACHE_ENV).is_none() {
            assert!(dir.ends_with(CACHE_DIR_NAME));
            assert!(dir.is_absolute());
        }
    }
}
