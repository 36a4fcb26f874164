//! A host-side reader of the bzImage setup header, the fields of the Linux/x86 boot protocol a
//! 64-bit loader looks at (Linux `Documentation/arch/x86/boot.rst`, "The real-mode kernel header"
//! and "Details of header fields"). It describes a kernel; the hypervisor's own loader decides
//! independently what it can boot.

use std::fmt;
use std::path::Path;

use super::error::LinuxError;

/// Offset of `setup_sects`: size of the real-mode setup code in 512-byte sectors after the boot
/// sector (0 means 4).
pub const SETUP_SECTS_OFFSET: usize = 0x1F1;
/// Offset of `boot_flag`, which holds [`BOOT_FLAG`].
pub const BOOT_FLAG_OFFSET: usize = 0x1FE;
/// The boot sector signature.
pub const BOOT_FLAG: u16 = 0xAA55;
/// Offset of `header`, which holds [`HEADER_MAGIC`].
pub const HEADER_OFFSET: usize = 0x202;
/// `"HdrS"` read as a little-endian `u32`.
pub const HEADER_MAGIC: u32 = 0x5372_6448;
/// Offset of `version`, the boot protocol version (`0x020F` is 2.15).
pub const VERSION_OFFSET: usize = 0x206;
/// Offset of `loadflags`.
pub const LOADFLAGS_OFFSET: usize = 0x211;
/// Offset of `code32_start`.
pub const CODE32_START_OFFSET: usize = 0x214;
/// Offset of `initrd_addr_max`.
pub const INITRD_ADDR_MAX_OFFSET: usize = 0x22C;
/// Offset of `kernel_alignment`.
pub const KERNEL_ALIGNMENT_OFFSET: usize = 0x230;
/// Offset of `relocatable_kernel`.
pub const RELOCATABLE_OFFSET: usize = 0x234;
/// Offset of `min_alignment` (a power of two, as its exponent).
pub const MIN_ALIGNMENT_OFFSET: usize = 0x235;
/// Offset of `xloadflags`.
pub const XLOADFLAGS_OFFSET: usize = 0x236;
/// Offset of `cmdline_size`.
pub const CMDLINE_SIZE_OFFSET: usize = 0x238;
/// Offset of `payload_offset` (from the start of the protected-mode code).
pub const PAYLOAD_OFFSET_OFFSET: usize = 0x248;
/// Offset of `payload_length`.
pub const PAYLOAD_LENGTH_OFFSET: usize = 0x24C;
/// Offset of `pref_address`.
pub const PREF_ADDRESS_OFFSET: usize = 0x258;
/// Offset of `init_size`.
pub const INIT_SIZE_OFFSET: usize = 0x260;
/// Offset of `handover_offset`.
pub const HANDOVER_OFFSET_OFFSET: usize = 0x264;
/// One past the last header byte read here.
pub const HEADER_END: usize = 0x268;
/// Size of a sector.
pub const SECTOR: usize = 512;
/// `setup_sects` value 0 means this many.
pub const DEFAULT_SETUP_SECTS: u8 = 4;
/// First protocol version with `xloadflags`, `pref_address` and `init_size` (2.12 for
/// `xloadflags`; 2.10 for the others): what a 64-bit loader needs.
pub const MIN_64BIT_VERSION: u16 = 0x020C;
/// The 64-bit entry point lies this far into the protected-mode kernel (boot.rst, "64-bit BOOT
/// PROTOCOL").
pub const STARTUP_64_OFFSET: u64 = 0x200;

/// `loadflags` bit 0: the protected-mode code is loaded at 0x100000.
pub const LOADED_HIGH: u8 = 1 << 0;
/// `loadflags` bit 7: `heap_end_ptr` is valid.
pub const CAN_USE_HEAP: u8 = 1 << 7;
/// `xloadflags` bit 0: the kernel has the legacy 64-bit entry point at 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `xloadflags` bit 1: kernel, boot_params, command line and ramdisk may lie above 4 GiB.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// `xloadflags` bit 2: 32-bit EFI handover entry.
pub const XLF_EFI_HANDOVER_32: u16 = 1 << 2;
/// `xloadflags` bit 3: 64-bit EFI handover entry.
pub const XLF_EFI_HANDOVER_64: u16 = 1 << 3;
/// `xloadflags` bit 4: EFI kexec support.
pub const XLF_EFI_KEXEC: u16 = 1 << 4;

/// The compression of the kernel payload, told by its first bytes (the magic numbers the
/// decompressors in Linux `lib/decompress.c` match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip: `1f 8b`.
    Gzip,
    /// bzip2: `BZh`.
    Bzip2,
    /// LZMA: `5d 00 00`.
    Lzma,
    /// XZ: `fd 37 7a 58 5a 00`.
    Xz,
    /// LZO (lzop): `89 4c 5a 4f`.
    Lzo,
    /// LZ4 legacy frame: `02 21 4c 18`.
    Lz4,
    /// Zstandard: `28 b5 2f fd`.
    Zstd,
    /// None of the above.
    Unknown,
}

/// Magic bytes of each [`Compression`].
const COMPRESSION_MAGICS: [(&[u8], Compression); 7] = [
    (&[0x1F, 0x8B], Compression::Gzip),
    (b"BZh", Compression::Bzip2),
    (&[0x5D, 0x00, 0x00], Compression::Lzma),
    (&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], Compression::Xz),
    (&[0x89, 0x4C, 0x5A, 0x4F], Compression::Lzo),
    (&[0x02, 0x21, 0x4C, 0x18], Compression::Lz4),
    (&[0x28, 0xB5, 0x2F, 0xFD], Compression::Zstd),
];

impl Compression {
    /// The compression whose magic `payload` starts with.
    pub fn detect(payload: &[u8]) -> Self {
        COMPRESSION_MAGICS
            .iter()
            .find(|(magic, _)| payload.starts_with(magic))
            .map_or(Self::Unknown, |(_, kind)| *kind)
    }
}

/// What a bzImage's setup header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupHeaderFacts {
    /// Boot protocol version, major in the high byte (`0x020F` = 2.15).
    pub version: u16,
    /// Real-mode setup sectors after the boot sector (0 already read as 4).
    pub setup_sects: u8,
    /// `loadflags`.
    pub loadflags: u8,
    /// `xloadflags`.
    pub xloadflags: u16,
    /// `code32_start`: default load address of the protected-mode kernel.
    pub code32_start: u32,
    /// Highest address the initramfs may end at (`initrd_addr_max`).
    pub initrd_addr_max: u32,
    /// Alignment a relocatable kernel needs.
    pub kernel_alignment: u32,
    /// Whether the protected-mode kernel may be loaded at any `kernel_alignment` address.
    pub relocatable: bool,
    /// Smallest acceptable alignment, as a power of two (`min_alignment` exponent).
    pub min_alignment_log2: u8,
    /// Longest command line without the terminating NUL.
    pub cmdline_size: u32,
    /// Preferred load address (for a non-relocatable kernel the only one).
    pub pref_address: u64,
    /// Bytes the kernel needs from its load address while decompressing itself.
    pub init_size: u32,
    /// Offset of the EFI handover entry.
    pub handover_offset: u32,
    /// Offset of the compressed payload from the protected-mode code's start.
    pub payload_offset: u32,
    /// Length of the compressed payload.
    pub payload_length: u32,
    /// The payload's compression.
    pub compression: Compression,
    /// Size of the image file.
    pub file_size: u64,
}

impl SetupHeaderFacts {
    /// Reads the facts from a bzImage's bytes; refuses a file without the boot flag or `HdrS`
    /// magic, or too short for the fields read.
    pub fn parse(image: &[u8]) -> Result<Self, String> {
        let field = |offset: usize, len: usize| {
            image
                .get(offset..offset.saturating_add(len))
                .ok_or_else(|| format!("file ends before offset {offset:#x}"))
        };
        let u8_at = |offset| field(offset, 1).map(|b| b[0]);
        let u16_at = |offset| field(offset, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let u32_at =
            |offset| field(offset, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let u64_at = |offset| {
            field(offset, 8).map(|b| {
                let mut bytes = [0_u8; 8];
                bytes.copy_from_slice(b);
                u64::from_le_bytes(bytes)
            })
        };
        if image.len() < HEADER_END {
            return Err(format!(
                "{} bytes, shorter than the setup header",
                image.len()
            ));
        }
        let boot_flag = u16_at(BOOT_FLAG_OFFSET)?;
        if boot_flag != BOOT_FLAG {
            return Err(format!(
                "boot_flag is {boot_flag:#06x}, not {BOOT_FLAG:#06x}"
            ));
        }
        let magic = u32_at(HEADER_OFFSET)?;
        if magic != HEADER_MAGIC {
            return Err(format!("header magic is {magic:#010x}, not \"HdrS\""));
        }
        let version = u16_at(VERSION_OFFSET)?;
        if version < MIN_64BIT_VERSION {
            return Err(format!(
                "boot protocol {}.{:02}, older than 2.12",
                version >> 8,
                version & 0xFF
            ));
        }
        let setup_sects = match u8_at(SETUP_SECTS_OFFSET)? {
            0 => DEFAULT_SETUP_SECTS,
            sects => sects,
        };
        let payload_offset = u32_at(PAYLOAD_OFFSET_OFFSET)?;
        let payload_length = u32_at(PAYLOAD_LENGTH_OFFSET)?;
        let payload = (usize::from(setup_sects) + 1)
            .checked_mul(SECTOR)
            .and_then(|kernel| kernel.checked_add(usize::try_from(payload_offset).ok()?))
            .and_then(|start| image.get(start..))
            .ok_or("payload_offset points past the end of the file")?;
        Ok(Self {
            version,
            setup_sects,
            loadflags: u8_at(LOADFLAGS_OFFSET)?,
            xloadflags: u16_at(XLOADFLAGS_OFFSET)?,
            code32_start: u32_at(CODE32_START_OFFSET)?,
            initrd_addr_max: u32_at(INITRD_ADDR_MAX_OFFSET)?,
            kernel_alignment: u32_at(KERNEL_ALIGNMENT_OFFSET)?,
            relocatable: u8_at(RELOCATABLE_OFFSET)? != 0,
            min_alignment_log2: u8_at(MIN_ALIGNMENT_OFFSET)?,
            cmdline_size: u32_at(CMDLINE_SIZE_OFFSET)?,
            pref_address: u64_at(PREF_ADDRESS_OFFSET)?,
            init_size: u32_at(INIT_SIZE_OFFSET)?,
            handover_offset: u32_at(HANDOVER_OFFSET_OFFSET)?,
            payload_offset,
            payload_length,
            compression: Compression::detect(payload),
            file_size: image.len() as u64,
        })
    }

    /// Bytes before the protected-mode kernel in the file: the boot sector and setup code.
    pub fn setup_size(&self) -> u64 {
        (u64::from(self.setup_sects) + 1) * SECTOR as u64
    }

    /// Whether the kernel has the 64-bit entry point ([`XLF_KERNEL_64`]).
    pub fn has_64bit_entry(&self) -> bool {
        self.xloadflags & XLF_KERNEL_64 != 0
    }

    /// Whether the kernel may be loaded above 4 GiB ([`XLF_CAN_BE_LOADED_ABOVE_4G`]).
    pub fn can_load_above_4g(&self) -> bool {
        self.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G != 0
    }

    /// The 64-bit entry point for a kernel loaded at `load_address`.
    pub fn entry_64(&self, load_address: u64) -> Option<u64> {
        load_address.checked_add(STARTUP_64_OFFSET)
    }
}

impl fmt::Display for SetupHeaderFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "boot protocol {}.{:02}, setup_sects {} ({} bytes of setup), loadflags {:#04x}, \
             xloadflags {:#06x} (64-bit entry: {}, above 4G: {}), code32_start {:#x}, \
             pref_address {:#x}, init_size {:#x} ({} MiB), kernel_alignment {:#x}, \
             min_alignment 2^{}, relocatable {}, initrd_addr_max {:#x}, cmdline_size {}, \
             handover_offset {:#x}, payload {:?} {} bytes at +{:#x}, file {} bytes",
            self.version >> 8,
            self.version & 0xFF,
            self.setup_sects,
            self.setup_size(),
            self.loadflags,
            self.xloadflags,
            self.has_64bit_entry(),
            self.can_load_above_4g(),
            self.code32_start,
            self.pref_address,
            self.init_size,
            self.init_size >> 20,
            self.kernel_alignment,
            self.min_alignment_log2,
            self.relocatable,
            self.initrd_addr_max,
            self.cmdline_size,
            self.handover_offset,
            self.compression,
            self.payload_length,
            self.payload_offset,
            self.file_size,
        )
    }
}

/// Reads the setup header facts of the bzImage at `path`.
pub fn setup_header(path: &Path) -> Result<SetupHeaderFacts, LinuxError> {
    let image = std::fs::read(path)
        .map_err(|error| LinuxError::io(format!("reading {}", path.display()), error))?;
    SetupHeaderFacts::parse(&image).map_err(|reason| LinuxError::SetupHeader {
        path: path.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bzImage-shaped buffer with the fields Debian 12's cloud kernel has.
    fn image() -> Vec<u8> {
        let setup_sects: u8 = 27;
        let payload_offset: u32 = 0x3B5;
        let mut image = vec![0_u8; (usize::from(setup_sects) + 1) * SECTOR + 0x1000];
        let mut put = |offset: usize, bytes: &[u8]| {
            image[offset..offset + bytes.len()].copy_from_slice(bytes);
        };
        put(SETUP_SECTS_OFFSET, &[setup_sects]);
        put(BOOT_FLAG_OFFSET, &BOOT_FLAG.to_le_bytes());
        put(HEADER_OFFSET, b"HdrS");
        put(VERSION_OFFSET, &0x020F_u16.to_le_bytes());
        put(LOADFLAGS_OFFSET, &[LOADED_HIGH | CAN_USE_HEAP]);
        put(CODE32_START_OFFSET, &0x10_0000_u32.to_le_bytes());
        put(INITRD_ADDR_MAX_OFFSET, &0x7FFF_FFFF_u32.to_le_bytes());
        put(KERNEL_ALIGNMENT_OFFSET, &0x20_0000_u32.to_le_bytes());
        put(RELOCATABLE_OFFSET, &[1]);
        put(MIN_ALIGNMENT_OFFSET, &[21]);
        put(XLOADFLAGS_OFFSET, &0x007F_u16.to_le_bytes());
        put(CMDLINE_SIZE_OFFSET, &2047_u32.to_le_bytes());
        put(PAYLOAD_OFFSET_OFFSET, &payload_offset.to_le_bytes());
        put(PAYLOAD_LENGTH_OFFSET, &0x800_u32.to_le_bytes());
        put(PREF_ADDRESS_OFFSET, &0x100_0000_u64.to_le_bytes());
        put(INIT_SIZE_OFFSET, &0x0300_0000_u32.to_le_bytes());
        put(HANDOVER_OFFSET_OFFSET, &0x190_u32.to_le_bytes());
        let payload = (usize::from(setup_sects) + 1) * SECTOR + payload_offset as usize;
        put(payload, &[0x02, 0x21, 0x4C, 0x18]);
        image
    }

    #[test]
    fn header_fields_are_read_at_their_boot_protocol_offsets() {
        let facts = SetupHeaderFacts::parse(&image()).expect("valid header");
        assert_eq!(facts.version, 0x020F);
        assert_eq!(facts.setup_sects, 27);
        assert_eq!(facts.setup_size(), 28 * 512);
        assert_eq!(facts.loadflags, LOADED_HIGH | CAN_USE_HEAP);
        assert_eq!(facts.xloadflags, 0x7F);
        assert!(facts.has_64bit_entry());
        assert!(facts.can_load_above_4g());
        assert_eq!(facts.code32_start, 0x10_0000);
        assert_eq!(facts.kernel_alignment, 0x20_0000);
        assert!(facts.relocatable);
        assert_eq!(facts.min_alignment_log2, 21);
        assert_eq!(facts.cmdline_size, 2047);
        assert_eq!(facts.pref_address, 0x100_0000);
        assert_eq!(facts.init_size, 0x0300_0000);
        assert_eq!(facts.payload_length, 0x800);
        assert_eq!(facts.compression, Compression::Lz4);
        assert_eq!(facts.entry_64(0x100_0000), Some(0x100_0200));
    }

    #[test]
    fn zero_setup_sects_means_four() {
        let mut bytes = image();
        bytes[SETUP_SECTS_OFFSET] = 0;
        let facts = SetupHeaderFacts::parse(&bytes).expect("valid header");
        assert_eq!(facts.setup_sects, 4);
    }

    #[test]
    fn missing_magic_boot_flag_or_old_protocol_is_refused() {
        let mut no_magic = image();
        no_magic[HEADER_OFFSET] = b'X';
        assert!(SetupHeaderFacts::parse(&no_magic).is_err());
        let mut no_flag = image();
        no_flag[BOOT_FLAG_OFFSET] = 0;
        assert!(SetupHeaderFacts::parse(&no_flag).is_err());
        let mut old = image();
        old[VERSION_OFFSET..VERSION_OFFSET + 2].copy_from_slice(&0x0206_u16.to_le_bytes());
        let error = SetupHeaderFacts::parse(&old).expect_err("2.06 is too old");
        assert!(error.contains("2.06"), "{error}");
        assert!(SetupHeaderFacts::parse(&image()[..0x200]).is_err());
    }

    #[test]
    fn payload_past_the_end_is_refused() {
        let mut bytes = image();
        bytes[PAYLOAD_OFFSET_OFFSET..PAYLOAD_OFFSET_OFFSET + 4]
            .copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(SetupHeaderFacts::parse(&bytes).is_err());
    }

    #[test]
    fn compression_is_told_by_magic() {
        assert_eq!(Compression::detect(&[0x1F, 0x8B, 8]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0xFD, b'7', b'z', b'X', b'Z', 0]),
            Compression::Xz
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xB5, 0x2F, 0xFD]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"MZ"), Compression::Unknown);
    }
}
