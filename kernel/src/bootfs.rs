//! The boot file system: the bootloader's ramdisk is a tar archive written by the host tool.
//! Member `cmdline` holds the boot command line; every other member is a file (guest images)
//! found by name. A ramdisk that is not a tar archive is taken as the command line itself.
//! Nothing here allocates: the command line is read before the heap exists.

use tar_no_std::TarArchiveRef;

/// The name of the member holding the command line.
pub const CMDLINE_MEMBER: &str = "cmdline";

/// The files of the ramdisk.
#[derive(Debug)]
pub struct BootFiles {
    cmdline: &'static str,
    archive: Option<TarArchiveRef<'static>>,
}

impl BootFiles {
    /// Read the ramdisk.
    pub fn parse(ramdisk: &'static [u8]) -> Self {
        match TarArchiveRef::new(ramdisk) {
            Ok(archive) => {
                let mut files = BootFiles {
                    cmdline: "",
                    archive: Some(archive),
                };
                files.cmdline = files
                    .file(CMDLINE_MEMBER)
                    .and_then(|bytes| core::str::from_utf8(bytes).ok())
                    .unwrap_or("");
                files
            }
            Err(_) => {
                let text = core::str::from_utf8(ramdisk).unwrap_or("");
                BootFiles {
                    cmdline: text.trim_end_matches('\0'),
                    archive: None,
                }
            }
        }
    }

    /// The boot command line.
    pub fn cmdline(&self) -> &'static str {
        self.cmdline
    }

    /// The file called `name`.
    pub fn file(&self, name: &str) -> Option<&'static [u8]> {
        let archive = self.archive.as_ref()?;
        archive
            .entries()
            .find(|entry| entry.filename().as_str() == Ok(name))
            .map(|entry| entry.data())
    }
}
