//! Guest files: resolving what a configuration names (`builtin:NAME`, `debian:NAME` or a path
//! relative to the configuration file's directory) to a host file, and giving each distinct file
//! one ramdisk member name. Disk images of virtio-blk devices are packed the same way, but a file
//! that is a disk belongs to that one device alone.
//!
//! Built-in guests are the binaries of the `tests/guests` crate, which Cargo builds as artifacts
//! of this crate ([`BUILT_IN_GUESTS`]); `builtin:hello` is the `hello` guest. `debian:kernel` and
//! `debian:shell-initramfs` are fetched and built into the Linux guest cache ([`super::debian`]).

use std::path::{Path, PathBuf};

use devices::vm_config::{MAX_FILE_NAME_LEN, RAMDISK_MEMBER};

use super::debian::{self, DEBIAN_PREFIX};
use super::disks::disk_size;
use super::error::{Invalid, Problem};
use super::names::check_name;
use crate::ramdisk::CMDLINE_MEMBER;

/// The prefix naming a built-in guest.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// Every guest `tests/guests` builds, with the path Cargo gave it (each artifact binary lives
/// in a folder of its own, so they are listed rather than searched for).
pub const BUILT_IN_GUESTS: &[(&str, &str)] = &[
    ("hello", env!("CARGO_BIN_FILE_GUESTS_hello")),
    ("pio", env!("CARGO_BIN_FILE_GUESTS_pio")),
    ("mmio", env!("CARGO_BIN_FILE_GUESTS_mmio")),
    ("cpuid_msr", env!("CARGO_BIN_FILE_GUESTS_cpuid_msr")),
    ("escape_read", env!("CARGO_BIN_FILE_GUESTS_escape_read")),
    ("escape_write", env!("CARGO_BIN_FILE_GUESTS_escape_write")),
    ("escape_exec", env!("CARGO_BIN_FILE_GUESTS_escape_exec")),
    ("pit_irq", env!("CARGO_BIN_FILE_GUESTS_pit_irq")),
    ("hlt_wake", env!("CARGO_BIN_FILE_GUESTS_hlt_wake")),
    (
        "irq_masked_long",
        env!("CARGO_BIN_FILE_GUESTS_irq_masked_long"),
    ),
    ("level_irq", env!("CARGO_BIN_FILE_GUESTS_level_irq")),
    ("dma", env!("CARGO_BIN_FILE_GUESTS_dma")),
    ("sti_shadow", env!("CARGO_BIN_FILE_GUESTS_sti_shadow")),
    (
        "com2_passthrough",
        env!("CARGO_BIN_FILE_GUESTS_com2_passthrough"),
    ),
    ("com2_mediated", env!("CARGO_BIN_FILE_GUESTS_com2_mediated")),
    ("chatter", env!("CARGO_BIN_FILE_GUESTS_chatter")),
    ("ram_pattern", env!("CARGO_BIN_FILE_GUESTS_ram_pattern")),
    ("triple_fault", env!("CARGO_BIN_FILE_GUESTS_triple_fault")),
    ("lapic_timer", env!("CARGO_BIN_FILE_GUESTS_lapic_timer")),
    ("ioapic_route", env!("CARGO_BIN_FILE_GUESTS_ioapic_route")),
];

/// Where built-in guests and Debian guest files are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builtins {
    guests: Vec<(String, PathBuf)>,
    linux_cache: PathBuf,
}

impl Builtins {
    /// The guests Cargo built for this tool; Debian files in the default guest cache
    /// ([`crate::linux::default_cache_dir`]).
    pub fn cargo() -> Self {
        let guests = BUILT_IN_GUESTS
            .iter()
            .map(|(name, path)| (name.to_string(), PathBuf::from(path)))
            .collect();
        Builtins {
            guests,
            linux_cache: crate::linux::default_cache_dir(),
        }
    }

    /// The guests in `dir`: its files without an extension (Cargo's `.d` files are not
    /// guests); Debian files in `dir/guest-cache`. Tests use their own folders.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let guests = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().is_file() && entry.path().extension().is_none())
            .filter_map(|entry| Some((entry.file_name().into_string().ok()?, entry.path())))
            .collect();
        Builtins {
            guests,
            linux_cache: dir.join(crate::linux::cache::CACHE_DIR_NAME),
        }
    }

    /// Looks Debian guest files up in the guest cache `dir` (builder style).
    pub fn with_linux_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.linux_cache = dir.into();
        self
    }

    /// The built-in guest `name`, if there is one.
    fn find(&self, name: &str) -> Option<PathBuf> {
        check_name(name).ok()?;
        self.guests
            .iter()
            .find(|(guest, path)| guest == name && path.is_file())
            .map(|(_, path)| path.clone())
    }

    /// The names there are, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.guests.iter().map(|(name, _)| name.clone()).collect();
        names.sort();
        names
    }
}

/// One packed file.
#[derive(Debug)]
struct Member {
    /// Its ramdisk member name.
    name: String,
    /// The host file.
    path: PathBuf,
    /// The field that named it first.
    first: String,
    /// Whether it is a device's disk image.
    disk: bool,
}

/// The guest files of a configuration, by ramdisk member name.
#[derive(Debug)]
pub struct GuestFiles<'a> {
    config_dir: &'a Path,
    builtins: &'a Builtins,
    members: Vec<Member>,
}

/// Whether `name` can be a member the kernel finds a guest under.
fn usable_member(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_LEN
        && name != CMDLINE_MEMBER
        && name != RAMDISK_MEMBER
        && !name.contains('/')
}

impl<'a> GuestFiles<'a> {
    /// Files named relative to `config_dir`, built-ins from `builtins`.
    pub fn new(config_dir: &'a Path, builtins: &'a Builtins) -> Self {
        GuestFiles {
            config_dir,
            builtins,
            members: Vec::new(),
        }
    }

    /// Resolves `given` (from field `field`) and returns its member name and host path; the
    /// same host file always gets the same member.
    pub fn add(&mut self, field: &str, given: &str) -> Result<(String, PathBuf), Invalid> {
        self.add_as(field, given, false)
    }

    /// Resolves the disk image `given` (from field `field`, a path relative to the
    /// configuration) and returns its member name, host path and size; the file must be a
    /// whole number of sectors ([`super::disks`]) and named by no other field.
    pub fn add_disk(
        &mut self,
        field: &str,
        given: &str,
    ) -> Result<(String, PathBuf, u64), Invalid> {
        if given.starts_with(BUILTIN_PREFIX) || given.starts_with(DEBIAN_PREFIX) {
            return Err(Invalid {
                field: field.to_string(),
                problem: Problem::DiskNotAPath {
                    given: given.to_string(),
                },
            });
        }
        let (member, path) = self.add_as(field, given, true)?;
        let size = disk_size(&path).map_err(|problem| Invalid {
            field: field.to_string(),
            problem,
        })?;
        Ok((member, path, size))
    }

    fn add_as(
        &mut self,
        field: &str,
        given: &str,
        disk: bool,
    ) -> Result<(String, PathBuf), Invalid> {
        let invalid = |problem| Invalid {
            field: field.to_string(),
            problem,
        };
        let (preferred, path) = if let Some(name) = given.strip_prefix(BUILTIN_PREFIX) {
            let path = self.builtins.find(name).ok_or_else(|| {
                invalid(Problem::UnknownBuiltin {
                    name: name.to_string(),
                    known: self.builtins.names().join(", "),
                })
            })?;
            (name.to_string(), path)
        } else if let Some(name) = given.strip_prefix(DEBIAN_PREFIX) {
            debian::resolve(&self.builtins.linux_cache, name).map_err(invalid)?
        } else {
            let path = self.config_dir.join(given);
            if !path.is_file() {
                return Err(invalid(Problem::MissingFile {
                    given: given.to_string(),
                    resolved: path,
                }));
            }
            let name = path
                .file_name()
                .map(|name| {
                    name.to_str()
                        .ok_or_else(|| Problem::FileNameNotUtf8(path.clone()))
                })
                .transpose()
                .map_err(invalid)?
                .unwrap_or_default()
                .to_string();
            (name, path)
        };
        let identity = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Some(known) = self.members.iter().find(|known| {
            std::fs::canonicalize(&known.path).unwrap_or_else(|_| known.path.clone()) == identity
        }) {
            if disk || known.disk {
                return Err(invalid(Problem::DiskInUse {
                    path,
                    first: known.first.clone(),
                }));
            }
            return Ok((known.name.clone(), path));
        }
        let taken = |name: &str| self.members.iter().any(|member| member.name == name);
        let member = if usable_member(&preferred) && !taken(&preferred) {
            preferred
        } else {
            (1..)
                .map(|number| format!("guest{number}"))
                .find(|name| !taken(name))
                .unwrap_or_default()
        };
        self.members.push(Member {
            name: member.clone(),
            path: path.clone(),
            first: field.to_string(),
            disk,
        });
        Ok((member, path))
    }

    /// The members, in the order first named.
    pub fn into_members(self) -> Vec<(String, PathBuf)> {
        self.members
            .into_iter()
            .map(|member| (member.name, member.path))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guest_bin_is_a_built_in_guest() {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/guests/Cargo.toml");
        let text = std::fs::read_to_string(manifest).expect("the guests manifest");
        let bins: Vec<&str> = text
            .split("[[bin]]")
            .skip(1)
            .filter_map(|section| {
                section
                    .lines()
                    .find_map(|line| line.strip_prefix("name = "))
            })
            .map(|name| name.trim_matches('"'))
            .collect();
        assert!(!bins.is_empty());
        for bin in bins {
            assert!(
                BUILT_IN_GUESTS.iter().any(|(name, _)| *name == bin),
                "guest `{bin}` is missing from BUILT_IN_GUESTS"
            );
        }
    }

    #[test]
    fn built_in_guests_resolve_to_their_own_artifacts() {
        let builtins = Builtins::cargo();
        let hello = builtins.find("hello").expect("hello is built");
        let pio = builtins.find("pio").expect("pio is built");
        assert_ne!(
            hello.parent(),
            pio.parent(),
            "Cargo gives each artifact its own folder"
        );
        assert_eq!(builtins.find("no_such_guest"), None);
    }
}
