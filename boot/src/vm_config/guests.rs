//! Guest files: resolving what a configuration names (`builtin:NAME` or a path relative to the
//! configuration file's directory) to a host file, and giving each distinct file one ramdisk
//! member name.
//!
//! Built-in guests are the binaries of the `tests/guests` crate, which Cargo builds as artifacts
//! of this crate into one directory (the one holding [`crate::config::DEMO_GUEST_PATH`]);
//! `builtin:hello` is the file `hello` there.

use std::path::{Path, PathBuf};

use devices::vm_config::{MAX_FILE_NAME_LEN, RAMDISK_MEMBER};

use super::error::{Invalid, Problem};
use super::names::check_name;
use crate::ramdisk::CMDLINE_MEMBER;

/// The prefix naming a built-in guest.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// Where built-in guests are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builtins {
    dir: PathBuf,
}

impl Builtins {
    /// The guests Cargo built for this tool.
    pub fn cargo() -> Self {
        let demo = Path::new(crate::config::DEMO_GUEST_PATH);
        Self::in_dir(demo.parent().unwrap_or(Path::new(".")))
    }

    /// The guests in `dir` (tests use their own).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Builtins { dir: dir.into() }
    }

    /// The built-in guest `name`, if there is one.
    fn find(&self, name: &str) -> Option<PathBuf> {
        check_name(name).ok()?;
        let path = self.dir.join(name);
        path.is_file().then_some(path)
    }

    /// The names there are, sorted (files without an extension: Cargo's `.d` files are not
    /// guests).
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().is_file() && entry.path().extension().is_none())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }
}

/// The guest files of a configuration, by ramdisk member name.
#[derive(Debug)]
pub struct GuestFiles<'a> {
    config_dir: &'a Path,
    builtins: &'a Builtins,
    members: Vec<(String, PathBuf)>,
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
        let invalid = |problem| Invalid {
            field: field.to_string(),
            problem,
        };
        let (preferred, path) = match given.strip_prefix(BUILTIN_PREFIX) {
            Some(name) => {
                let path = self.builtins.find(name).ok_or_else(|| {
                    invalid(Problem::UnknownBuiltin {
                        name: name.to_string(),
                        known: self.builtins.names().join(", "),
                    })
                })?;
                (name.to_string(), path)
            }
            None => {
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
            }
        };
        let identity = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Some((member, _)) = self.members.iter().find(|(_, known)| {
            std::fs::canonicalize(known).unwrap_or_else(|_| known.clone()) == identity
        }) {
            return Ok((member.clone(), path));
        }
        let taken = |name: &str| self.members.iter().any(|(member, _)| member == name);
        let member = if usable_member(&preferred) && !taken(&preferred) {
            preferred
        } else {
            (1..)
                .map(|number| format!("guest{number}"))
                .find(|name| !taken(name))
                .unwrap_or_default()
        };
        self.members.push((member.clone(), path.clone()));
        Ok((member, path))
    }

    /// The members, in the order first named.
    pub fn into_members(self) -> Vec<(String, PathBuf)> {
        self.members
    }
}
