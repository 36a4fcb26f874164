//! The fuzz target's body: decode and emulate arbitrary bytes with arbitrary registers and
//! device values, and check the decoder's and emulator's invariants. A cargo-fuzz target calls
//! [`fuzz_decode_and_emulate`]; any panic is a finding.
//!
//! Input layout (missing bytes read as zero):
//! - byte 0: bits 1:0 the [`Mode`], bit 2 the fault's access (1 = write), bits 7:3 which context
//!   call (if any) fails;
//! - bytes 1–15: the instruction bytes (fewer if the input is shorter: a truncated fetch);
//! - then the faulting GPA, the 16 GPRs, RIP and RFLAGS (8 bytes each, little-endian), then the
//!   values device reads return.

use crate::interface::Gpa;

use super::{
    DecodeError, EmulationContext, EmulationError, FaultAccess, FaultInfo, Gpr, Instruction,
    MAX_INSTRUCTION_LENGTH, Mode, OperandSize, Operation, Outcome, Registers, Segment, decode,
    emulate, rflags,
};

const MODES: [Mode; 4] = [
    Mode::Real16,
    Mode::Protected16,
    Mode::Protected32,
    Mode::Long64,
];
const MODE_MASK: u8 = 0b11;
const FAULT_WRITE_BIT: u8 = 1 << 2;
const FAILING_CALL_SHIFT: u8 = 3;
/// Bytes of the control header before the instruction bytes.
const HEADER_BYTES: usize = 1;

/// Reads little-endian words from the fuzz input, zero once it runs out.
struct Words<'a> {
    bytes: &'a [u8],
}

impl Words<'_> {
    fn next(&mut self) -> u64 {
        let mut word = [0u8; 8];
        let taken = self.bytes.len().min(word.len());
        let (head, tail) = self.bytes.split_at(taken);
        word[..taken].copy_from_slice(head);
        self.bytes = tail;
        u64::from_le_bytes(word)
    }
}

/// A context whose device reads return fuzz words and whose `failing_call`-th call fails.
struct FuzzContext<'a> {
    values: Words<'a>,
    calls: u32,
    failing_call: u32,
    expected_size: OperandSize,
}

/// The fuzz context's only failure.
#[derive(Debug, PartialEq, Eq)]
struct InjectedFailure;

impl FuzzContext<'_> {
    fn call(&mut self, size: usize) -> Result<(), InjectedFailure> {
        assert_eq!(size, usize::from(self.expected_size.bytes()), "access size");
        self.calls += 1;
        assert!(
            self.calls <= 2,
            "an MMIO instruction makes at most two accesses"
        );
        if self.calls == self.failing_call {
            return Err(InjectedFailure);
        }
        Ok(())
    }
}

impl EmulationContext for FuzzContext<'_> {
    type Error = InjectedFailure;

    fn mmio_read(&mut self, _gpa: Gpa, size: OperandSize) -> Result<u64, InjectedFailure> {
        self.call(usize::from(size.bytes()))?;
        Ok(self.values.next())
    }

    fn mmio_write(
        &mut self,
        _gpa: Gpa,
        size: OperandSize,
        _value: u64,
    ) -> Result<(), InjectedFailure> {
        self.call(usize::from(size.bytes()))
    }

    fn read_memory(
        &mut self,
        _segment: Segment,
        _offset: u64,
        data: &mut [u8],
    ) -> Result<(), InjectedFailure> {
        self.call(data.len())?;
        let value = self.values.next().to_le_bytes();
        for (slot, byte) in data.iter_mut().zip(value) {
            *slot = byte;
        }
        Ok(())
    }

    fn write_memory(
        &mut self,
        _segment: Segment,
        _offset: u64,
        data: &[u8],
    ) -> Result<(), InjectedFailure> {
        self.call(data.len())
    }
}

/// Decodes and emulates `data` (see the module docs for the layout), panicking if any invariant
/// breaks: a decoded length within 1–15 and within the bytes given, decoding stable under
/// truncation to that length, `Truncated` one byte shorter, RIP and RFLAGS handled as
/// documented, no register touched that the instruction does not name, and no register
/// changed when emulation fails.
pub fn fuzz_decode_and_emulate(data: &[u8]) {
    let control = data.first().copied().unwrap_or(0);
    let mode = MODES[usize::from(control & MODE_MASK)];
    let instruction_end = data.len().min(HEADER_BYTES + MAX_INSTRUCTION_LENGTH);
    let bytes = data.get(HEADER_BYTES..instruction_end).unwrap_or(&[]);
    let mut words = Words {
        bytes: data.get(instruction_end..).unwrap_or(&[]),
    };

    let instruction = match decode(bytes, mode) {
        Ok(instruction) => instruction,
        Err(error) => {
            if let DecodeError::Truncated { available } = error {
                assert_eq!(available, bytes.len(), "Truncated reports the bytes given");
                assert!(
                    bytes.len() < MAX_INSTRUCTION_LENGTH,
                    "15 bytes are never short"
                );
            }
            return;
        }
    };
    check_decode_invariants(&instruction, bytes, mode);

    let gpa = words.next();
    let mut registers = Registers::default();
    for gpr in registers.gprs.iter_mut() {
        *gpr = words.next();
    }
    registers.rip = words.next();
    registers.rflags = words.next();
    let access = if control & FAULT_WRITE_BIT != 0 {
        FaultAccess::Write
    } else {
        FaultAccess::Read
    };
    let mut context = FuzzContext {
        values: words,
        calls: 0,
        failing_call: u32::from(control >> FAILING_CALL_SHIFT),
        expected_size: instruction.size,
    };
    let before = registers;
    let result = emulate(
        &instruction,
        &mut registers,
        FaultInfo { gpa, access },
        &mut context,
    );
    match result {
        Err(EmulationError::Context(InjectedFailure) | EmulationError::AccessMismatch { .. }) => {
            assert_eq!(registers, before, "a failed emulation changes no register");
        }
        Ok(outcome) => check_emulation_invariants(&instruction, &before, &registers, outcome),
    }
}

fn check_decode_invariants(instruction: &Instruction, bytes: &[u8], mode: Mode) {
    let length = usize::from(instruction.length);
    assert!(
        (1..=MAX_INSTRUCTION_LENGTH).contains(&length),
        "length in 1..=15"
    );
    assert!(length <= bytes.len(), "length within the bytes given");
    let exact = bytes.get(..length).unwrap_or(&[]);
    assert_eq!(
        decode(exact, mode),
        Ok(*instruction),
        "decoding needs only its own bytes"
    );
    let short = exact.get(..length - 1).unwrap_or(&[]);
    assert_eq!(
        decode(short, mode),
        Err(DecodeError::Truncated {
            available: length - 1
        }),
        "one byte fewer is truncated"
    );
    assert!(
        matches!(instruction.memory.scale, 1 | 2 | 4 | 8),
        "scale is 1, 2, 4 or 8"
    );
}

fn check_emulation_invariants(
    instruction: &Instruction,
    before: &Registers,
    after: &Registers,
    outcome: Outcome,
) {
    match outcome {
        Outcome::Retired { next_rip } => {
            assert_eq!(
                next_rip,
                instruction.next_rip(before.rip),
                "RIP advances by length"
            );
            assert_eq!(after.rip, next_rip, "RIP written back");
            assert_eq!(
                next_rip & !instruction.mode.instruction_pointer_mask(),
                0,
                "RIP width"
            );
        }
        Outcome::Repeat => {
            assert!(instruction.rep.is_some(), "only REP instructions repeat");
            assert_eq!(after.rip, before.rip, "a repeat leaves RIP");
        }
    }
    assert_eq!(
        after.rflags & !rflags::STATUS,
        before.rflags & !rflags::STATUS,
        "only the status flags change"
    );
    let named: &[Gpr] = match instruction.operation {
        Operation::Stos => &[Gpr::Rdi, Gpr::Rcx],
        Operation::Movs { .. } => &[Gpr::Rsi, Gpr::Rdi, Gpr::Rcx],
        _ => &[],
    };
    for gpr in Gpr::ALL {
        let destination = instruction.register().is_some_and(|r| r.gpr == gpr);
        if !destination && !named.contains(&gpr) {
            assert_eq!(after.gpr(gpr), before.gpr(gpr), "{gpr:?} is not an operand");
        }
    }
}
