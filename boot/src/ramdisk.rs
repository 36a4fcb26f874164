//! The boot ramdisk: a cpio archive in the "newc" format (the one Linux initramfs images use),
//! which the kernel reads as its boot file system. Member `cmdline` holds the kernel command
//! line; every other member is a file the command line can name (guest images, and `vms.cfg`,
//! the encoded VM configuration). An empty command line with no members means no ramdisk at all.

use std::fs::File;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use crate::error::BootError;

/// The member holding the command line (the kernel's `bootfs::CMDLINE_MEMBER`).
pub const CMDLINE_MEMBER: &str = "cmdline";
/// Longest member name accepted.
pub const MAX_NAME: usize = 100;
/// Mode of every member: a regular file, rw-r--r--.
const REGULAR_FILE_0644: u32 = 0o100_644;

/// What goes into the ramdisk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ramdisk {
    /// The kernel command line.
    pub cmdline: String,
    /// Files by the name the kernel will look them up under.
    pub files: Vec<(String, PathBuf)>,
    /// Members given as bytes (the encoded VM configuration), written after the files.
    pub blobs: Vec<(String, Vec<u8>)>,
}

fn invalid(what: String, why: &str) -> BootError {
    BootError::io(
        what,
        std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string()),
    )
}

impl Ramdisk {
    /// Whether there is nothing to put in a ramdisk.
    pub fn is_empty(&self) -> bool {
        self.cmdline.is_empty() && self.files.is_empty() && self.blobs.is_empty()
    }

    /// Write the archive to `out`.
    pub fn write(&self, out: &Path) -> Result<(), BootError> {
        let mut members = vec![(CMDLINE_MEMBER.to_string(), self.cmdline.as_bytes().to_vec())];
        let names = self
            .files
            .iter()
            .map(|(name, _)| name)
            .chain(self.blobs.iter().map(|(name, _)| name));
        for name in names {
            if name.is_empty()
                || name.len() > MAX_NAME
                || name == CMDLINE_MEMBER
                || name.contains('/')
            {
                return Err(invalid(
                    format!("ramdisk file name `{name}`"),
                    "must be 1-100 characters, no `/`, not `cmdline`",
                ));
            }
        }
        for (name, path) in &self.files {
            let data = std::fs::read(path).map_err(|error| {
                BootError::io(format!("reading {} for the ramdisk", path.display()), error)
            })?;
            if u32::try_from(data.len()).is_err() {
                return Err(invalid(format!("{}", path.display()), "larger than 4 GiB"));
            }
            members.push((name.clone(), data));
        }
        members.extend(self.blobs.iter().cloned());
        let inputs = members.into_iter().map(|(name, data)| {
            (
                cpio::NewcBuilder::new(&name)
                    .mode(REGULAR_FILE_0644)
                    .nlink(1),
                Cursor::new(data),
            )
        });
        let file =
            File::create(out).map_err(|error| BootError::io("creating the ramdisk", error))?;
        let mut file = cpio::write_cpio(inputs, file)
            .map_err(|error| BootError::io("writing the ramdisk", error))?;
        file.flush()
            .map_err(|error| BootError::io("writing the ramdisk", error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_holds_cmdline_then_files() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let guest = dir.path().join("guest.elf");
        std::fs::write(&guest, b"\x7fELF-not-really").expect("write guest");
        let ramdisk = Ramdisk {
            cmdline: "vms=guest.elf".into(),
            files: vec![("guest.elf".into(), guest)],
            blobs: vec![("vms.cfg".into(), b"HVMC\x01\x00\x00".to_vec())],
        };
        let out = dir.path().join("ramdisk.cpio");
        ramdisk.write(&out).expect("archive");
        let mut reader = File::open(&out).expect("open");
        let mut members = Vec::new();
        loop {
            let entry = cpio::NewcReader::new(reader).expect("entry");
            if entry.entry().is_trailer() {
                break;
            }
            let name = entry.entry().name().to_string();
            let mut data = Vec::new();
            let mut entry = entry;
            std::io::Read::read_to_end(&mut entry, &mut data).expect("read");
            members.push((name, data));
            reader = entry.finish().expect("next");
        }
        assert_eq!(
            members[0],
            ("cmdline".to_string(), b"vms=guest.elf".to_vec())
        );
        assert_eq!(
            members[1],
            ("guest.elf".to_string(), b"\x7fELF-not-really".to_vec())
        );
        assert_eq!(
            members[2],
            ("vms.cfg".to_string(), b"HVMC\x01\x00\x00".to_vec())
        );
        assert_eq!(members.len(), 3);
    }

    #[test]
    fn bad_names_are_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ramdisk = Ramdisk {
            cmdline: String::new(),
            files: vec![("a/b".into(), dir.path().join("x"))],
            blobs: Vec::new(),
        };
        assert!(ramdisk.write(&dir.path().join("r.cpio")).is_err());
        let ramdisk = Ramdisk {
            blobs: vec![("cmdline".into(), Vec::new())],
            ..Ramdisk::default()
        };
        assert!(ramdisk.write(&dir.path().join("r.cpio")).is_err());
    }

    #[test]
    fn empty_means_no_ramdisk() {
        assert!(Ramdisk::default().is_empty());
        assert!(
            !Ramdisk {
                cmdline: "x=1".into(),
                ..Ramdisk::default()
            }
            .is_empty()
        );
        assert!(
            !Ramdisk {
                blobs: vec![("vms.cfg".into(), vec![1])],
                ..Ramdisk::default()
            }
            .is_empty()
        );
    }
}
