//! The boot file system: the bootloader's ramdisk is a cpio archive (the "newc" format Linux
//! initramfs images use), written by the host tool and read with `cpio_reader`. Member
//! `cmdline` holds the boot command line; every other member is a file (guest images) found by
//! name. A ramdisk that is not a cpio archive is taken as the command line itself. Nothing here
//! allocates: the command line is read before the heap exists.

/// The name of the member holding the command line.
pub const CMDLINE_MEMBER: &str = "cmdline";
/// The magic that opens a newc cpio archive.
const NEWC_MAGIC: &[u8] = b"070701";

/// The files of the ramdisk.
#[derive(Debug)]
pub struct BootFiles {
    cmdline: &'static str,
    archive: &'static [u8],
}

impl BootFiles {
    /// Read the ramdisk.
    pub fn parse(ramdisk: &'static [u8]) -> Self {
        if !ramdisk.starts_with(NEWC_MAGIC) {
            let text = core::str::from_utf8(ramdisk).unwrap_or("");
            return BootFiles {
                cmdline: text.trim_end_matches('\0'),
                archive: &[],
            };
        }
        let mut files = BootFiles {
            cmdline: "",
            archive: ramdisk,
        };
        files.cmdline = files
            .file(CMDLINE_MEMBER)
            .and_then(|bytes| core::str::from_utf8(bytes).ok())
            .unwrap_or("");
        files
    }

    /// The boot command line.
    pub fn cmdline(&self) -> &'static str {
        self.cmdline
    }

    /// The file called `name`.
    pub fn file(&self, name: &str) -> Option<&'static [u8]> {
        cpio_reader::iter_files(self.archive)
            .find(|entry| entry.name() == name)
            .map(|entry| entry.file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One newc member (header, name, padding, data, padding), as `cpio -H newc` writes it.
    fn member(archive: &mut Vec<u8>, name: &str, data: &[u8]) {
        let name_size = name.len() + 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1,
            0o100644,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name_size,
            0
        );
        archive.extend_from_slice(header.as_bytes());
        archive.extend_from_slice(name.as_bytes());
        archive.push(0);
        while archive.len() % 4 != 0 {
            archive.push(0);
        }
        archive.extend_from_slice(data);
        while archive.len() % 4 != 0 {
            archive.push(0);
        }
    }

    fn leak(bytes: Vec<u8>) -> &'static [u8] {
        Box::leak(bytes.into_boxed_slice())
    }

    #[test]
    fn archive_gives_cmdline_and_files() {
        let mut archive = Vec::new();
        member(&mut archive, "cmdline", b"vms=a.elf");
        member(&mut archive, "a.elf", b"\x7fELF");
        member(&mut archive, "TRAILER!!!", b"");
        let files = BootFiles::parse(leak(archive));
        assert_eq!(files.cmdline(), "vms=a.elf");
        assert_eq!(files.file("a.elf"), Some(&b"\x7fELF"[..]));
        assert_eq!(files.file("b.elf"), None);
    }

    #[test]
    fn plain_text_is_the_command_line() {
        let files = BootFiles::parse(b"test=heap\0\0");
        assert_eq!(files.cmdline(), "test=heap");
        assert_eq!(files.file("cmdline"), None);
    }
}
