//! Guest loaders: put an image into a VM's RAM and say what the vCPU's first state is.
//! - [`real_mode`]: a flat binary at a chosen address, entered in real mode (unrestricted guest);
//! - [`elf64`] + [`long_mode`]: a 64-bit ELF entered in long mode on page tables and a GDT the
//!   hypervisor builds in guest RAM.

pub mod elf64;
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
            let state = long_mode::build(memory, entry)?;
            Ok(Loaded {
                state,
                long_mode: true,
                rdi: memory.size(),
                rsi: arguments.hypervisor_physical,
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
