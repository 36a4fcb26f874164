//! Test helpers: a recording fake of the kernel's [`EmulationContext`] and one-call wrappers.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::*;
use crate::interface::Gpa;

/// One call the emulator made on the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Call {
    MmioRead {
        gpa: Gpa,
        size: OperandSize,
    },
    MmioWrite {
        gpa: Gpa,
        size: OperandSize,
        value: u64,
    },
    MemoryRead {
        segment: Segment,
        offset: u64,
        len: usize,
    },
    MemoryWrite {
        segment: Segment,
        offset: u64,
        data: Vec<u8>,
    },
}

/// The fake's only error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BusError;

/// Records every call; device and RAM reads return queued values; may fail on request.
#[derive(Debug, Default)]
pub(super) struct FakeBus {
    pub calls: Vec<Call>,
    /// Values returned by `mmio_read` and `read_memory`, front first (0 when empty).
    pub reads: VecDeque<u64>,
    /// Fail every call.
    pub failing: bool,
}

impl FakeBus {
    pub(super) fn returning(values: &[u64]) -> FakeBus {
        FakeBus {
            reads: values.iter().copied().collect(),
            ..FakeBus::default()
        }
    }

    fn check(&self) -> Result<(), BusError> {
        if self.failing { Err(BusError) } else { Ok(()) }
    }
}

impl EmulationContext for FakeBus {
    type Error = BusError;

    fn mmio_read(&mut self, gpa: Gpa, size: OperandSize) -> Result<u64, BusError> {
        self.check()?;
        self.calls.push(Call::MmioRead { gpa, size });
        Ok(self.reads.pop_front().unwrap_or(0) & size.mask())
    }

    fn mmio_write(&mut self, gpa: Gpa, size: OperandSize, value: u64) -> Result<(), BusError> {
        self.check()?;
        self.calls.push(Call::MmioWrite { gpa, size, value });
        Ok(())
    }

    fn read_memory(
        &mut self,
        segment: Segment,
        offset: u64,
        data: &mut [u8],
    ) -> Result<(), BusError> {
        self.check()?;
        self.calls.push(Call::MemoryRead {
            segment,
            offset,
            len: data.len(),
        });
        let value = self.reads.pop_front().unwrap_or(0).to_le_bytes();
        data.copy_from_slice(&value[..data.len()]);
        Ok(())
    }

    fn write_memory(&mut self, segment: Segment, offset: u64, data: &[u8]) -> Result<(), BusError> {
        self.check()?;
        self.calls.push(Call::MemoryWrite {
            segment,
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }
}

/// A device page the tests fault on.
pub(super) const MMIO_GPA: Gpa = 0xFEE0_0040;
/// RFLAGS bit 1 is always 1.
pub(super) const RFLAGS_FIXED: u64 = 1 << 1;

pub(super) fn decoded(bytes: &[u8], mode: Mode) -> Instruction {
    match decode(bytes, mode) {
        Ok(instruction) => instruction,
        Err(error) => panic!("{bytes:02x?} in {mode:?}: {error:?}"),
    }
}

pub(super) fn read_fault() -> FaultInfo {
    FaultInfo {
        gpa: MMIO_GPA,
        access: FaultAccess::Read,
    }
}

pub(super) fn write_fault() -> FaultInfo {
    FaultInfo {
        gpa: MMIO_GPA,
        access: FaultAccess::Write,
    }
}

/// Decodes `bytes` in `mode` and emulates them once.
pub(super) fn run(
    bytes: &[u8],
    mode: Mode,
    registers: &mut Registers,
    fault: FaultInfo,
    bus: &mut FakeBus,
) -> Result<Outcome, EmulationError<BusError>> {
    emulate(&decoded(bytes, mode), registers, fault, bus)
}

/// Registers with RIP at 0x1000 and only the fixed RFLAGS bit set.
pub(super) fn registers() -> Registers {
    Registers {
        gprs: [0; 16],
        rip: 0x1000,
        rflags: RFLAGS_FIXED,
    }
}

pub(super) fn reg(gpr: Gpr, size: OperandSize) -> RegisterOperand {
    RegisterOperand {
        gpr,
        size,
        high_byte: false,
    }
}
