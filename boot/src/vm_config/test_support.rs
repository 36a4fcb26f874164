//! A configuration directory for tests: guest files and a disk image next to the configuration,
//! a directory of built-in guests (`hello`, `pio`), and optionally a Linux guest cache that
//! needs no apt tool, so refusals can be checked without Cargo's artifacts or the network.

use std::path::{Path, PathBuf};

use devices::vm_config::Machine;
use tempfile::TempDir;

use super::{Builtins, GuestMembers, parse, validate};

/// A temporary configuration directory with guest files.
pub struct Fixture {
    dir: TempDir,
    builtins: Builtins,
}

impl Fixture {
    /// `guest.elf` (64 bytes), `boot.bin` (512 bytes) and `disk.img` (4 sectors) in the
    /// configuration directory; built-ins `hello` and `pio`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let builtin_dir = dir.path().join("builtin");
        std::fs::create_dir(&builtin_dir).expect("builtin directory");
        for name in ["hello", "pio", "hello.d"] {
            std::fs::write(builtin_dir.join(name), b"\x7fELF").expect("builtin guest");
        }
        std::fs::write(dir.path().join("guest.elf"), [0u8; 64]).expect("guest.elf");
        std::fs::write(dir.path().join("boot.bin"), [0u8; 512]).expect("boot.bin");
        std::fs::write(dir.path().join("disk.img"), [0u8; 4 * 512]).expect("disk.img");
        Fixture {
            builtins: Builtins::in_dir(builtin_dir),
            dir,
        }
    }

    /// A file in the configuration directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The built-in guests.
    pub fn builtins(&self) -> &Builtins {
        &self.builtins
    }

    /// Debian guest files come from a fake guest cache in the directory ([`fake_linux_cache`]).
    pub fn with_fake_linux_cache(mut self) -> Self {
        let cache = self.dir.path().join("guest-cache");
        fake_linux_cache(&cache);
        self.builtins = self.builtins.with_linux_cache(cache);
        self
    }

    /// Parses and validates `text` as if it were a file in the directory; a refusal as its
    /// message.
    pub fn check(&self, text: &str) -> Result<(Machine, GuestMembers), String> {
        let file = parse(text)?;
        validate(&file, self.dir.path(), &self.builtins).map_err(|invalid| invalid.to_string())
    }

    /// The refusal of `text`; panics if it is accepted.
    pub fn refusal(&self, text: &str) -> String {
        match self.check(text) {
            Ok((machine, _)) => panic!("accepted: {machine:?}"),
            Err(message) => message,
        }
    }
}

/// A guest cache in `cache` that `linux::assets` takes without any apt tool: unpacked packages
/// marked complete and the stamp naming them; the kernel and busybox are stand-in files.
pub fn fake_linux_cache(cache: &Path) {
    let touch = |relative: &str| {
        let path = cache.join(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("directory");
        std::fs::write(path, b"x").expect("file");
    };
    touch("unpacked/k/boot/vmlinuz-6.1.0-56-cloud-amd64");
    touch("unpacked/k/lib/modules/6.1.0-56-cloud-amd64/kernel/x.ko");
    touch("unpacked/k/.complete");
    touch("unpacked/b/bin/busybox");
    touch("unpacked/b/.complete");
    std::fs::write(
        cache.join(crate::linux::cache::STAMP_FILE),
        "kernel=k\nbusybox=b\n",
    )
    .expect("stamp");
}

/// A VM `name` running the built-in `hello`, followed by `devices` (TOML `[[vm.device]]`
/// tables).
pub fn vm_with(name: &str, devices: &str) -> String {
    format!("[[vm]]\nname = \"{name}\"\nelf = \"builtin:hello\"\n{devices}\n")
}
