//! x86 port I/O for the test guests: `in`/`out` of 1, 2 and 4 bytes (immediate-port and DX
//! forms) and the string forms `rep ins*`/`rep outs*` (Intel SDM vol. 2, IN/OUT/INS/OUTS).
//!
//! These functions are safe: in the test VM no device reached through a port can touch guest
//! memory behind the guest's back (there is no DMA-capable device on the contract's platform),
//! so a port access cannot break the guest's memory safety. It can end the VM (port 0xF4),
//! which is the point of a test guest. The string forms take slices, so the CPU writes or reads
//! exactly the slice's bytes.

use core::arch::asm;

/// Reads a byte from `port` (`in al, dx`).
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: port input writes only AL (see the module doc on device side effects).
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Reads a 16-bit word from `port` (`in ax, dx`).
pub fn inw(port: u16) -> u16 {
    let value: u16;
    // SAFETY: port input writes only AX.
    unsafe {
        asm!("in ax, dx", in("dx") port, out("ax") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Reads a 32-bit doubleword from `port` (`in eax, dx`).
pub fn inl(port: u16) -> u32 {
    let value: u32;
    // SAFETY: port input writes only EAX.
    unsafe {
        asm!("in eax, dx", in("dx") port, out("eax") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Writes a byte to `port` (`out dx, al`).
pub fn outb(port: u16, value: u8) {
    // SAFETY: port output reads only DX and AL.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

/// Writes a 16-bit word to `port` (`out dx, ax`).
pub fn outw(port: u16, value: u16) {
    // SAFETY: port output reads only DX and AX.
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") value, options(nomem, nostack, preserves_flags))
    };
}

/// Writes a 32-bit doubleword to `port` (`out dx, eax`).
pub fn outl(port: u16, value: u32) {
    // SAFETY: port output reads only DX and EAX.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    };
}

/// Reads `buf.len()` bytes from `port` into `buf` with one `rep insb`.
pub fn insb(port: u16, buf: &mut [u8]) {
    // SAFETY: `rep insb` stores RCX = buf.len() bytes upwards (DF is clear per the ABI) from
    // RDI = buf.as_mut_ptr(): exactly the slice, which we borrow mutably.
    unsafe {
        asm!("rep insb", in("dx") port, inout("rdi") buf.as_mut_ptr() => _,
             inout("rcx") buf.len() => _, options(nostack, preserves_flags));
    }
}

/// Reads `buf.len()` words from `port` into `buf` with one `rep insw`.
pub fn insw(port: u16, buf: &mut [u16]) {
    // SAFETY: `rep insw` stores RCX = buf.len() words upwards from RDI: exactly the slice.
    unsafe {
        asm!("rep insw", in("dx") port, inout("rdi") buf.as_mut_ptr() => _,
             inout("rcx") buf.len() => _, options(nostack, preserves_flags));
    }
}

/// Reads `buf.len()` doublewords from `port` into `buf` with one `rep insd`.
pub fn insl(port: u16, buf: &mut [u32]) {
    // SAFETY: `rep insd` stores RCX = buf.len() doublewords upwards from RDI: exactly the slice.
    unsafe {
        asm!("rep insd", in("dx") port, inout("rdi") buf.as_mut_ptr() => _,
             inout("rcx") buf.len() => _, options(nostack, preserves_flags));
    }
}

/// Writes the bytes of `data` to `port` with one `rep outsb`.
pub fn outsb(port: u16, data: &[u8]) {
    // SAFETY: `rep outsb` loads RCX = data.len() bytes upwards from RSI = data.as_ptr(): exactly
    // the slice, and writes nothing to memory.
    unsafe {
        asm!("rep outsb", in("dx") port, inout("rsi") data.as_ptr() => _,
             inout("rcx") data.len() => _, options(nostack, preserves_flags, readonly));
    }
}

/// Writes the words of `data` to `port` with one `rep outsw`.
pub fn outsw(port: u16, data: &[u16]) {
    // SAFETY: `rep outsw` loads RCX = data.len() words upwards from RSI: exactly the slice.
    unsafe {
        asm!("rep outsw", in("dx") port, inout("rsi") data.as_ptr() => _,
             inout("rcx") data.len() => _, options(nostack, preserves_flags, readonly));
    }
}

/// Reads a byte with the immediate-port form (`in al, imm8`): `PORT` is encoded in the
/// instruction.
pub fn inb_imm<const PORT: u8>() -> u8 {
    let value: u8;
    // SAFETY: port input writes only AL.
    unsafe {
        asm!("in al, {port}", port = const PORT, out("al") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Writes a byte with the immediate-port form (`out imm8, al`).
pub fn outb_imm<const PORT: u8>(value: u8) {
    // SAFETY: port output reads only AL.
    unsafe {
        asm!("out {port}, al", port = const PORT, in("al") value, options(nomem, nostack, preserves_flags))
    };
}
