//! A configuration directory for tests: guest files next to the configuration and a directory
//! of built-in guests (`hello`, `pio`), so refusals can be checked without Cargo's artifacts.

use std::path::PathBuf;

use devices::vm_config::Machine;
use tempfile::TempDir;

use super::{Builtins, GuestMembers, parse, validate};

/// A temporary configuration directory with guest files.
pub struct Fixture {
    dir: TempDir,
    builtins: Builtins,
}

impl Fixture {
    /// `guest.elf` (64 bytes) and `boot.bin` (512 bytes) in the configuration directory;
    /// built-ins `hello` and `pio`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let builtin_dir = dir.path().join("builtin");
        std::fs::create_dir(&builtin_dir).expect("builtin directory");
        for name in ["hello", "pio", "hello.d"] {
            std::fs::write(builtin_dir.join(name), b"\x7fELF").expect("builtin guest");
        }
        std::fs::write(dir.path().join("guest.elf"), [0u8; 64]).expect("guest.elf");
        std::fs::write(dir.path().join("boot.bin"), [0u8; 512]).expect("boot.bin");
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

/// A VM `name` running the built-in `hello`, followed by `devices` (TOML `[[vm.device]]`
/// tables).
pub fn vm_with(name: &str, devices: &str) -> String {
    format!("[[vm]]\nname = \"{name}\"\nelf = \"builtin:hello\"\n{devices}\n")
}
