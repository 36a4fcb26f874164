//! Linux bzImage guests through the x86 64-bit boot protocol (the kernel's
//! `Documentation/arch/x86/boot.rst`): the setup header is parsed and validated, the
//! protected-mode kernel is placed at its preferred (aligned) address, the initramfs near the
//! top of RAM, and a zero page (`struct boot_params`) carries the header, the command line, the
//! initramfs and an e820 memory map built from the VM's RAM. The vCPU enters at the 64-bit entry
//! point (load address + 0x200) in long mode on an identity map, with RSI = the zero page.
//!
//! The pure part (parsing, layout, the zero page) is unit-tested on the host.

use alloc::vec::Vec;
use core::fmt;

/// Where the zero page goes.
pub const ZERO_PAGE: u64 = 0x1_0000;
/// Where the command line goes.
pub const CMDLINE: u64 = 0x2_0000;
/// The longest command line we place (the kernel's own limit may be smaller).
pub const MAX_CMDLINE: usize = 4095;
/// Bytes of the zero page.
pub const ZERO_PAGE_SIZE: usize = 4096;
/// The 64-bit entry point's offset from the load address.
pub const ENTRY_64_OFFSET: u64 = 0x200;

// Setup header fields, by offset in the image (and in the zero page).
const SETUP_SECTS: usize = 0x1f1;
const BOOT_FLAG: usize = 0x1fe;
const HEADER_JUMP_LENGTH: usize = 0x201;
const HEADER_MAGIC: usize = 0x202;
const VERSION: usize = 0x206;
const TYPE_OF_LOADER: usize = 0x210;
const LOADFLAGS: usize = 0x211;
const RAMDISK_IMAGE: usize = 0x218;
const RAMDISK_SIZE: usize = 0x21c;
const CMD_LINE_PTR: usize = 0x228;
const INITRD_ADDR_MAX: usize = 0x22c;
const KERNEL_ALIGNMENT: usize = 0x230;
const RELOCATABLE_KERNEL: usize = 0x234;
const XLOADFLAGS: usize = 0x236;
const CMDLINE_SIZE: usize = 0x238;
const PREF_ADDRESS: usize = 0x258;
const INIT_SIZE: usize = 0x260;
// Zero-page fields outside the setup header.
const EXT_RAMDISK_IMAGE: usize = 0x0c0;
const EXT_RAMDISK_SIZE: usize = 0x0c4;
const EXT_CMD_LINE_PTR: usize = 0x0c8;
const E820_ENTRIES: usize = 0x1e8;
const E820_TABLE: usize = 0x2d0;
const E820_ENTRY_SIZE: usize = 20;
const E820_MAX_ENTRIES: usize = 128;

/// "HdrS".
const HEADER_SIGNATURE: u32 = 0x5372_6448;
const BOOT_FLAG_VALUE: u16 = 0xaa55;
/// Boot protocol 2.12: the first with `xloadflags` (and so the 64-bit entry flag).
const MIN_VERSION: u16 = 0x020c;
/// loadflags bit 0: the protected-mode code loads at 0x100000 or above.
const LOADED_HIGH: u8 = 1 << 0;
/// xloadflags bit 0: the kernel has the 64-bit entry point at +0x200.
const XLF_KERNEL_64: u16 = 1 << 0;
/// xloadflags bit 1: the kernel, boot_params, command line and initramfs may be above 4 GiB.
const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// type_of_loader 0xFF: "undefined" boot loader.
const LOADER_UNDEFINED: u8 = 0xff;
/// e820 types.
const E820_RAM: u32 = 1;
const E820_RESERVED: u32 = 2;
/// Low memory ends where the EBDA would start; BIOS ROM area 0xF0000–0xFFFFF is reserved.
const LOW_MEMORY_END: u64 = 0x9_fc00;
const BIOS_AREA: (u64, u64) = (0xf_0000, 0x10_0000);
const ONE_MIB: u64 = 0x10_0000;
const PAGE: u64 = 4096;

/// Why a bzImage cannot be booted; the text says what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinuxError {
    /// Too short for a setup header, or the boot flag / "HdrS" is missing.
    NotABzImage,
    /// The boot protocol is older than 2.12 or the kernel has no 64-bit entry point.
    No64BitEntry { version: u16 },
    /// The kernel must load high (loadflags.LOADED_HIGH).
    NotLoadedHigh,
    /// The kernel (at its load address, with `init_size`) does not fit the VM's RAM.
    KernelDoesNotFit { load: u64, init_size: u64, ram: u64 },
    /// The initramfs does not fit between the kernel and the top of usable RAM.
    InitrdDoesNotFit { size: u64 },
    /// The command line is longer than the kernel accepts.
    CmdlineTooLong { length: usize, max: usize },
}

impl fmt::Display for LinuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinuxError::NotABzImage => write!(f, "not a bzImage (no boot flag or HdrS signature)"),
            LinuxError::No64BitEntry { version } => write!(
                f,
                "boot protocol {}.{} without a 64-bit entry point (needs 2.12+ with XLF_KERNEL_64)",
                version >> 8,
                version & 0xff
            ),
            LinuxError::NotLoadedHigh => write!(f, "the kernel does not load high"),
            LinuxError::KernelDoesNotFit {
                load,
                init_size,
                ram,
            } => write!(
                f,
                "the kernel needs {init_size:#x} bytes at {load:#x} but the VM has {ram:#x} bytes of RAM"
            ),
            LinuxError::InitrdDoesNotFit { size } => {
                write!(
                    f,
                    "the initramfs ({size} bytes) does not fit above the kernel"
                )
            }
            LinuxError::CmdlineTooLong { length, max } => {
                write!(
                    f,
                    "command line of {length} bytes, the kernel takes at most {max}"
                )
            }
        }
    }
}

fn u8_at(image: &[u8], offset: usize) -> u8 {
    image.get(offset).copied().unwrap_or(0)
}

fn u16_at(image: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes([u8_at(image, offset), u8_at(image, offset + 1)])
}

fn u32_at(image: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(core::array::from_fn(|i| u8_at(image, offset + i)))
}

fn u64_at(image: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(core::array::from_fn(|i| u8_at(image, offset + i)))
}

/// The parts of the setup header the loader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupHeader {
    pub version: u16,
    /// Bytes of the real-mode setup code (the protected-mode kernel follows it).
    pub setup_bytes: usize,
    /// Bytes of the header to copy into the zero page (from 0x1F1).
    pub header_end: usize,
    pub relocatable: bool,
    pub kernel_alignment: u64,
    pub pref_address: u64,
    pub init_size: u64,
    pub initrd_addr_max: u64,
    pub cmdline_size: usize,
    pub xloadflags: u16,
}

impl SetupHeader {
    /// Parse and validate the header of `image`.
    pub fn parse(image: &[u8]) -> Result<Self, LinuxError> {
        if image.len() < 0x270
            || u16_at(image, BOOT_FLAG) != BOOT_FLAG_VALUE
            || u32_at(image, HEADER_MAGIC) != HEADER_SIGNATURE
        {
            return Err(LinuxError::NotABzImage);
        }
        let version = u16_at(image, VERSION);
        let xloadflags = u16_at(image, XLOADFLAGS);
        if version < MIN_VERSION || xloadflags & XLF_KERNEL_64 == 0 {
            return Err(LinuxError::No64BitEntry { version });
        }
        if u8_at(image, LOADFLAGS) & LOADED_HIGH == 0 {
            return Err(LinuxError::NotLoadedHigh);
        }
        let sectors = match u8_at(image, SETUP_SECTS) {
            0 => 4,
            n => usize::from(n),
        };
        let setup_bytes = (sectors + 1) * 512;
        if setup_bytes >= image.len() {
            return Err(LinuxError::NotABzImage);
        }
        Ok(SetupHeader {
            version,
            setup_bytes,
            header_end: (HEADER_MAGIC + usize::from(u8_at(image, HEADER_JUMP_LENGTH))).min(0x1000),
            relocatable: u8_at(image, RELOCATABLE_KERNEL) != 0,
            kernel_alignment: u64::from(u32_at(image, KERNEL_ALIGNMENT)).max(PAGE),
            pref_address: u64_at(image, PREF_ADDRESS),
            init_size: u64::from(u32_at(image, INIT_SIZE)),
            initrd_addr_max: u64::from(u32_at(image, INITRD_ADDR_MAX)),
            cmdline_size: u32_at(image, CMDLINE_SIZE) as usize,
            xloadflags,
        })
    }
}

/// Where everything goes in guest-physical memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub kernel: u64,
    pub initrd: Option<(u64, u64)>,
    pub entry: u64,
}

/// Place the kernel and the initramfs in `ram` bytes of RAM.
pub fn plan(
    header: &SetupHeader,
    ram: u64,
    initrd_size: Option<u64>,
) -> Result<Layout, LinuxError> {
    let mut kernel = header.pref_address.max(ONE_MIB);
    if header.relocatable {
        kernel = kernel.next_multiple_of(header.kernel_alignment);
    }
    let kernel_end = kernel
        .checked_add(header.init_size)
        .filter(|&end| end <= ram)
        .ok_or(LinuxError::KernelDoesNotFit {
            load: kernel,
            init_size: header.init_size,
            ram,
        })?;
    let initrd = match initrd_size {
        None => None,
        Some(size) => {
            let above_4g = header.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G != 0;
            let limit = if above_4g {
                ram
            } else {
                ram.min(header.initrd_addr_max + 1)
            };
            let start = limit.checked_sub(size).map(|s| s & !(PAGE - 1));
            match start {
                Some(start) if start >= kernel_end => Some((start, size)),
                _ => return Err(LinuxError::InitrdDoesNotFit { size }),
            }
        }
    };
    Ok(Layout {
        kernel,
        initrd,
        entry: kernel + ENTRY_64_OFFSET,
    })
}

/// The e820 map of a VM with `ram` bytes of RAM.
pub fn e820(ram: u64) -> Vec<(u64, u64, u32)> {
    let mut map = alloc::vec![
        (0, LOW_MEMORY_END, E820_RAM),
        (LOW_MEMORY_END, 0xa_0000 - LOW_MEMORY_END, E820_RESERVED),
        (BIOS_AREA.0, BIOS_AREA.1 - BIOS_AREA.0, E820_RESERVED),
    ];
    if ram > ONE_MIB {
        map.push((ONE_MIB, ram - ONE_MIB, E820_RAM));
    }
    map
}

/// The zero page for `image` with `layout`, a command line of `cmdline_len` bytes at
/// [`CMDLINE`], the e820 `map` and, when the VM has ACPI tables, their RSDP.
pub fn zero_page(
    image: &[u8],
    header: &SetupHeader,
    layout: &Layout,
    cmdline_len: usize,
    map: &[(u64, u64, u32)],
) -> Result<[u8; ZERO_PAGE_SIZE], LinuxError> {
    let max = if header.cmdline_size == 0 {
        255
    } else {
        header.cmdline_size.min(MAX_CMDLINE)
    };
    if cmdline_len > max {
        return Err(LinuxError::CmdlineTooLong {
            length: cmdline_len,
            max,
        });
    }
    let mut page = [0u8; ZERO_PAGE_SIZE];
    let header_bytes = image
        .get(SETUP_SECTS..header.header_end)
        .ok_or(LinuxError::NotABzImage)?;
    page[SETUP_SECTS..header.header_end].copy_from_slice(header_bytes);
    let mut put =
        |offset: usize, bytes: &[u8]| page[offset..offset + bytes.len()].copy_from_slice(bytes);
    put(TYPE_OF_LOADER, &[LOADER_UNDEFINED]);
    put(CMD_LINE_PTR, &(CMDLINE as u32).to_le_bytes());
    put(EXT_CMD_LINE_PTR, &((CMDLINE >> 32) as u32).to_le_bytes());
    if let Some((start, size)) = layout.initrd {
        put(RAMDISK_IMAGE, &(start as u32).to_le_bytes());
        put(RAMDISK_SIZE, &(size as u32).to_le_bytes());
        put(EXT_RAMDISK_IMAGE, &((start >> 32) as u32).to_le_bytes());
        put(EXT_RAMDISK_SIZE, &((size >> 32) as u32).to_le_bytes());
    }
    let entries = map.len().min(E820_MAX_ENTRIES);
    put(E820_ENTRIES, &[entries as u8]);
    for (index, &(start, size, kind)) in map.iter().take(entries).enumerate() {
        let at = E820_TABLE + index * E820_ENTRY_SIZE;
        put(at, &start.to_le_bytes());
        put(at + 8, &size.to_le_bytes());
        put(at + 16, &kind.to_le_bytes());
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic bzImage header: protocol 2.15, 64-bit entry, relocatable, 16 MiB preferred.
    fn image() -> Vec<u8> {
        let mut image = vec![0u8; 0x4000];
        image[SETUP_SECTS] = 3;
        image[BOOT_FLAG..BOOT_FLAG + 2].copy_from_slice(&BOOT_FLAG_VALUE.to_le_bytes());
        image[HEADER_JUMP_LENGTH] = 0x6a;
        image[HEADER_MAGIC..HEADER_MAGIC + 4].copy_from_slice(&HEADER_SIGNATURE.to_le_bytes());
        image[VERSION..VERSION + 2].copy_from_slice(&0x020fu16.to_le_bytes());
        image[LOADFLAGS] = LOADED_HIGH;
        image[INITRD_ADDR_MAX..INITRD_ADDR_MAX + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        image[KERNEL_ALIGNMENT..KERNEL_ALIGNMENT + 4].copy_from_slice(&0x20_0000u32.to_le_bytes());
        image[RELOCATABLE_KERNEL] = 1;
        image[XLOADFLAGS..XLOADFLAGS + 2]
            .copy_from_slice(&(XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G).to_le_bytes());
        image[CMDLINE_SIZE..CMDLINE_SIZE + 4].copy_from_slice(&2047u32.to_le_bytes());
        image[PREF_ADDRESS..PREF_ADDRESS + 8].copy_from_slice(&0x100_0000u64.to_le_bytes());
        image[INIT_SIZE..INIT_SIZE + 4].copy_from_slice(&0x200_0000u32.to_le_bytes());
        image
    }

    #[test]
    fn header_fields_are_read() {
        let header = SetupHeader::parse(&image()).unwrap();
        assert_eq!(header.version, 0x020f);
        assert_eq!(header.setup_bytes, 4 * 512);
        assert_eq!(header.header_end, 0x202 + 0x6a);
        assert!(header.relocatable);
        assert_eq!(
            (header.pref_address, header.init_size),
            (0x100_0000, 0x200_0000)
        );
    }

    #[test]
    fn images_without_a_64_bit_entry_are_refused() {
        let mut old = image();
        old[VERSION..VERSION + 2].copy_from_slice(&0x020au16.to_le_bytes());
        assert_eq!(
            SetupHeader::parse(&old),
            Err(LinuxError::No64BitEntry { version: 0x020a })
        );
        let mut no64 = image();
        no64[XLOADFLAGS..XLOADFLAGS + 2].copy_from_slice(&0u16.to_le_bytes());
        assert!(matches!(
            SetupHeader::parse(&no64),
            Err(LinuxError::No64BitEntry { .. })
        ));
        let mut garbage = image();
        garbage[HEADER_MAGIC] = b'X';
        assert_eq!(SetupHeader::parse(&garbage), Err(LinuxError::NotABzImage));
        assert_eq!(SetupHeader::parse(&[0; 16]), Err(LinuxError::NotABzImage));
    }

    #[test]
    fn kernel_goes_to_the_aligned_preferred_address_and_initrd_to_the_top() {
        let header = SetupHeader::parse(&image()).unwrap();
        let layout = plan(&header, 128 << 20, Some(0x12345)).unwrap();
        assert_eq!(layout.kernel, 0x100_0000);
        assert_eq!(layout.entry, 0x100_0200);
        let (start, size) = layout.initrd.unwrap();
        assert_eq!(size, 0x12345);
        assert_eq!(start % 4096, 0);
        assert!(start + size <= 128 << 20 && start >= 0x300_0000);
    }

    #[test]
    fn too_little_ram_is_a_clear_error() {
        let header = SetupHeader::parse(&image()).unwrap();
        assert_eq!(
            plan(&header, 32 << 20, None),
            Err(LinuxError::KernelDoesNotFit {
                load: 0x100_0000,
                init_size: 0x200_0000,
                ram: 32 << 20
            })
        );
        assert_eq!(
            plan(&header, 50 << 20, Some(40 << 20)),
            Err(LinuxError::InitrdDoesNotFit { size: 40 << 20 })
        );
    }

    #[test]
    fn zero_page_carries_header_cmdline_initrd_and_e820() {
        let image = image();
        let header = SetupHeader::parse(&image).unwrap();
        let layout = plan(&header, 128 << 20, Some(0x1000)).unwrap();
        let map = e820(128 << 20);
        let page = zero_page(&image, &header, &layout, 20, &map).unwrap();
        assert_eq!(u32_at(&page, HEADER_MAGIC), HEADER_SIGNATURE);
        assert_eq!(page[TYPE_OF_LOADER], LOADER_UNDEFINED);
        assert_eq!(u32_at(&page, CMD_LINE_PTR), CMDLINE as u32);
        assert_eq!(
            u32_at(&page, RAMDISK_IMAGE) as u64,
            layout.initrd.unwrap().0
        );
        assert_eq!(u32_at(&page, RAMDISK_SIZE), 0x1000);
        assert_eq!(page[E820_ENTRIES], 4);
        let last = E820_TABLE + 3 * E820_ENTRY_SIZE;
        assert_eq!(
            (
                u64_at(&page, last),
                u64_at(&page, last + 8),
                u32_at(&page, last + 16)
            ),
            (ONE_MIB, (128 << 20) - ONE_MIB, E820_RAM)
        );
        assert_eq!(
            zero_page(&image, &header, &layout, 5000, &map),
            Err(LinuxError::CmdlineTooLong {
                length: 5000,
                max: 2047
            })
        );
    }
}
