//! Guest loaders: put an image into a VM's RAM and say what the vCPU's first state is.
//! - [`real_mode`]: a flat binary at a chosen address, entered in real mode (unrestricted guest);
//! - [`elf64`] + [`long_mode`]: a 64-bit ELF entered in long mode on page tables and a GDT the
//!   hypervisor builds in guest RAM.

pub mod elf64;
pub mod linux;
pub mod long_mode;
pub mod real_mode;

use core::fmt;

use devices::interface::DmaError;

use super::memory::GuestMemory;
use super::vmcs_setup::GuestState;

/// What to load.
#[derive(Debug, Clone, Copy)]
pub enum GuestImage<'a> {
    /// A 64-bit ELF executable (static, or static-PIE with RELATIVE relocations).
    Elf64(&'a [u8]),
    /// A flat 16-bit binary loaded at `address` and entered there in real mode.
    RealMode { bytes: &'a [u8], address: u64 },
    /// A Linux bzImage with an optional initramfs and a kernel command line.
    Linux {
        kernel: &'a [u8],
        initrd: Option<&'a [u8]>,
        cmdline: &'a str,
    },
}

/// Facts the loader passes to the guest (long mode: in RDI/RSI).
#[derive(Debug, Clone, Copy)]
pub struct BootArguments {
    /// The hypervisor's own physical load address (for isolation tests).
    pub hypervisor_physical: u64,
}

/// A loaded guest: its first state and the registers the loader sets.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    pub state: GuestState,
    pub long_mode: bool,
    pub rdi: u64,
    pub rsi: u64,
}

/// Why an image could not be loaded; the text says which part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Not an ELF, or an ELF we cannot run (the reason says what).
    BadElf(&'static str),
    /// A segment or the binary falls outside the RAM the loader may use.
    OutOfRam { gpa: u64, len: u64 },
    /// A relocation type other than R_X86_64_RELATIVE.
    UnsupportedRelocation(u32),
    /// The guest memory refused a write.
    Memory(DmaError),
    /// A Linux kernel that cannot be booted (the reason says why).
    Linux(linux::LinuxError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::BadElf(why) => write!(f, "bad ELF image: {why}"),
            LoadError::OutOfRam { gpa, len } => {
                write!(
                    f,
                    "image part at {gpa:#x} (+{len:#x}) is outside the loadable RAM"
                )
            }
            LoadError::UnsupportedRelocation(kind) => {
                write!(f, "unsupported ELF relocation type {kind}")
            }
            LoadError::Memory(error) => write!(f, "guest memory: {error:?}"),
            LoadError::Linux(error) => write!(f, "Linux kernel: {error}"),
        }
    }
}

impl From<DmaError> for LoadError {
    fn from(error: DmaError) -> Self {
        LoadError::Memory(error)
    }
}

/// Load `image` into `memory`.
pub fn load(
    image: GuestImage<'_>,
    memory: &GuestMemory,
    arguments: BootArguments,
) -> Result<Loaded, LoadError> {
    match image {
        GuestImage::Elf64(bytes) => {
            let entry = elf64::load(bytes, memory)?;
            let state = long_mode::build(memory, entry, long_mode::GdtLayout::Flat)?;
            Ok(Loaded {
                state,
                long_mode: true,
                rdi: memory.size(),
                rsi: arguments.hypervisor_physical,
            })
        }
        GuestImage::Linux {
            kernel,
            initrd,
            cmdline,
        } => {
            let (state, zero_page) = load_linux(memory, kernel, initrd, cmdline)?;
            Ok(Loaded {
                state,
                long_mode: true,
                rdi: 0,
                rsi: zero_page,
            })
        }
        GuestImage::RealMode { bytes, address } => {
            let state = real_mode::load(bytes, address, memory)?;
            Ok(Loaded {
                state,
                long_mode: false,
                rdi: 0,
                rsi: 0,
            })
        }
    }
}

/// Place a bzImage, its initramfs, command line and zero page; returns the entry state and the
/// zero page's address (RSI at entry).
fn load_linux(
    memory: &GuestMemory,
    kernel: &[u8],
    initrd: Option<&[u8]>,
    cmdline: &str,
) -> Result<(GuestState, u64), LoadError> {
    let header = linux::SetupHeader::parse(kernel).map_err(LoadError::Linux)?;
    let layout = linux::plan(&header, memory.size(), initrd.map(|i| i.len() as u64))
        .map_err(LoadError::Linux)?;
    let map = linux::e820(memory.size());
    let zero_page = linux::zero_page(kernel, &header, &layout, cmdline.len(), &map)
        .map_err(LoadError::Linux)?;
    let protected_mode = kernel
        .get(header.setup_bytes..)
        .ok_or(LoadError::Linux(linux::LinuxError::NotABzImage))?;
    memory.write(layout.kernel, protected_mode)?;
    if let (Some(bytes), Some((start, _))) = (initrd, layout.initrd) {
        memory.write(start, bytes)?;
    }
    memory.write(linux::CMDLINE, cmdline.as_bytes())?;
    memory.write(linux::CMDLINE + cmdline.len() as u64, &[0])?;
    memory.write(linux::ZERO_PAGE, &zero_page)?;
    let mut state = long_mode::build(memory, layout.entry, long_mode::GdtLayout::LinuxBoot)?;
    // The boot protocol does not promise a stack; keep RSP below the zero page.
    state.rsp = linux::ZERO_PAGE;
    Ok((state, linux::ZERO_PAGE))
}
