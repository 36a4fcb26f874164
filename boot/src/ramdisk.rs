//! The boot ramdisk: a tar archive the kernel reads as its boot file system. Member `cmdline`
//! holds the kernel command line; every other member is a file the command line can name
//! (guest images). An empty command line with no files means no ramdisk at all.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::BootError;

/// The member holding the command line (the kernel's `bootfs::CMDLINE_MEMBER`).
pub const CMDLINE_MEMBER: &str = "cmdline";
/// Longest member name (the tar header's name field).
pub const MAX_NAME: usize = 100;

/// What goes into the ramdisk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ramdisk {
    /// The kernel command line.
    pub cmdline: String,
    /// Files by the name the kernel will look them up under.
    pub files: Vec<(String, PathBuf)>,
}

impl Ramdisk {
    /// Whether there is nothing to put in a ramdisk.
    pub fn is_empty(&self) -> bool {
        self.cmdline.is_empty() && self.files.is_empty()
    }

    /// Write the archive to `out`.
    pub fn write(&self, out: &Path) -> Result<(), BootError> {
        let file =
            File::create(out).map_err(|error| BootError::io("creating the ramdisk", error))?;
        let mut archive = tar::Builder::new(file);
        let mut header = tar::Header::new_ustar();
        header.set_size(self.cmdline.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, CMDLINE_MEMBER, self.cmdline.as_bytes())
            .map_err(|error| BootError::io("writing the ramdisk's cmdline", error))?;
        for (name, path) in &self.files {
            if name.is_empty()
                || name.len() > MAX_NAME
                || name == CMDLINE_MEMBER
                || name.contains('/')
            {
                return Err(BootError::io(
                    format!("ramdisk file name `{name}`"),
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "must be 1-100 characters, no `/`, not `cmdline`",
                    ),
                ));
            }
            archive.append_path_with_name(path, name).map_err(|error| {
                BootError::io(format!("adding {} to the ramdisk", path.display()), error)
            })?;
        }
        archive
            .finish()
            .map_err(|error| BootError::io("finishing the ramdisk", error))
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
        };
        let out = dir.path().join("ramdisk.tar");
        ramdisk.write(&out).expect("archive");
        let mut archive = tar::Archive::new(File::open(&out).expect("open"));
        let members: Vec<(String, Vec<u8>)> = archive
            .entries()
            .expect("entries")
            .map(|entry| {
                let mut entry = entry.expect("entry");
                let name = entry.path().expect("path").display().to_string();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data).expect("read");
                (name, data)
            })
            .collect();
        assert_eq!(
            members[0],
            ("cmdline".to_string(), b"vms=guest.elf".to_vec())
        );
        assert_eq!(
            members[1],
            ("guest.elf".to_string(), b"\x7fELF-not-really".to_vec())
        );
    }

    #[test]
    fn bad_names_are_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ramdisk = Ramdisk {
            cmdline: String::new(),
            files: vec![("a/b".into(), dir.path().join("x"))],
        };
        assert!(ramdisk.write(&dir.path().join("r.tar")).is_err());
    }

    #[test]
    fn empty_means_no_ramdisk() {
        assert!(Ramdisk::default().is_empty());
        assert!(
            !Ramdisk {
                cmdline: "x=1".into(),
                files: vec![]
            }
            .is_empty()
        );
    }
}
