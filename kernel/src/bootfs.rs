//! The boot file system: the bootloader's ramdisk is a tar archive written by the host tool.
//! Member `cmdline` holds the boot command line; every other member is a file (guest images)
//! found by name. A ramdisk that is not a tar archive is taken as the command line itself.

use alloc::string::String;
use alloc::vec::Vec;

use tar_no_std::TarArchiveRef;

/// The name of the member holding the command line.
pub const CMDLINE_MEMBER: &str = "cmdline";
/// Most files kept from the archive.
pub const MAX_FILES: usize = 64;

/// The files of the ramdisk.
#[derive(Debug, Default)]
pub struct BootFiles {
    cmdline: &'static str,
    files: Vec<(String, &'static [u8])>,
}

impl BootFiles {
    /// Read the ramdisk.
    pub fn parse(ramdisk: &'static [u8]) -> Self {
        let Ok(archive) = TarArchiveRef::new(ramdisk) else {
            let text = core::str::from_utf8(ramdisk).unwrap_or("");
            return BootFiles { cmdline: text.trim_end_matches('\0'), files: Vec::new() };
        };
        let mut boot = BootFiles::default();
        for entry in archive.entries().take(MAX_FILES) {
            let Ok(name) = entry.filename().as_str().map(String::from) else { continue };
            let data: &'static [u8] = entry.data();
            if name == CMDLINE_MEMBER {
                boot.cmdline = core::str::from_utf8(data).unwrap_or("");
            } else {
                boot.files.push((name, data));
            }
        }
        boot
    }

    /// The boot command line.
    pub fn cmdline(&self) -> &'static str {
        self.cmdline
    }

    /// The file called `name`.
    pub fn file(&self, name: &str) -> Option<&'static [u8]> {
        self.files.iter().find(|(file, _)| file == name).map(|&(_, data)| data)
    }

    /// Every file name, in archive order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|(name, _)| name.as_str())
    }
}
