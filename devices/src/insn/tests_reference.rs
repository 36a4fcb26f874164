//! Cross-check against the iced-x86 reference decoder on a systematically generated corpus.
//!
//! For every byte sequence of the corpus, in 16-, 32- and 64-bit mode: where this decoder
//! accepts an instruction, iced-x86 must decode the same bytes to a valid instruction with the
//! same length, mnemonic, operand order, memory-access size, memory operand (segment, base,
//! index, scale, displacement, address size), register operand, immediate, REP and LOCK; and one
//! byte fewer must be `Truncated`. Where iced-x86 decodes an instruction this decoder does not
//! support, the answer must be `Unsupported` or `NoMemoryOperand` — never a length. Where
//! iced-x86 rejects the bytes, so must this decoder.
//!
//! The corpus (sizes printed by the test, run with `--nocapture`):
//! - A: every one- and two-byte opcode × 16 ModRM values × 8 prefix sets × 3 modes;
//! - B: every supported opcode × all 256 ModRM values × 10 prefix sets × 3 modes;
//! - C: the SIB byte: 5 opcodes × 3 SIB ModRMs × all 256 SIB values × REX/67h variants;
//! - D: every sequence of up to three prefixes from 17 prefix bytes × 8 instruction bodies ×
//!   3 modes;
//! - E: 1 000 000 pseudo-random byte strings (prefixes, a mostly supported opcode, random tail).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind, Register};

use super::*;

/// Bytes handed to both decoders: always a full 15, so "truncated" can only mean too long.
const WINDOW: usize = MAX_INSTRUCTION_LENGTH;

/// The modes with their iced-x86 bitness.
const MODES: [(Mode, u32); 3] = [
    (Mode::Real16, 16),
    (Mode::Protected32, 32),
    (Mode::Long64, 64),
];

/// Bytes after the opcode and ModRM: a SIB, then displacement and immediate bytes with
/// distinct values so a misplaced read changes the result.
const TAIL: [u8; 13] = [
    0x24, 0x85, 0xF1, 0x22, 0x83, 0x44, 0x95, 0x66, 0x17, 0x88, 0x99, 0xAA, 0xBB,
];

/// Every opcode the decoder supports, as the bytes after the prefixes.
fn supported_opcodes() -> Vec<Vec<u8>> {
    let mut opcodes: Vec<Vec<u8>> = (0u8..=0x3F)
        .filter(|opcode| opcode & 0b111 < 4)
        .map(|opcode| vec![opcode])
        .collect();
    for opcode in [
        0x63, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0xA0, 0xA1,
        0xA2, 0xA3, 0xA4, 0xA5, 0xAA, 0xAB, 0xC6, 0xC7, 0xF6, 0xF7, 0xFE, 0xFF,
    ] {
        opcodes.push(vec![opcode]);
    }
    for second in [0xB6, 0xB7, 0xBE, 0xBF] {
        opcodes.push(vec![0x0F, second]);
    }
    opcodes
}

/// What one comparison found.
#[derive(Default)]
struct Tally {
    cases: usize,
    /// Both decoders accepted, and agreed.
    agreed: usize,
    /// iced-x86 decoded an instruction this decoder rejects as unsupported.
    reference_only: usize,
    /// Both rejected.
    both_rejected: usize,
    mismatches: Vec<String>,
}

impl Tally {
    fn check(&mut self, bytes: &[u8], mode: Mode, bitness: u32) {
        self.cases += 1;
        if let Err(why) = compare(bytes, mode, bitness, self) {
            if self.mismatches.len() < 40 {
                self.mismatches
                    .push(format!("{mode:?} {bytes:02X?}: {why}"));
            } else {
                self.mismatches.push(String::new());
            }
        }
    }
}

/// Pads `body` to the window with the tail pattern.
fn window(body: &[u8]) -> [u8; WINDOW] {
    let mut bytes = [0x90u8; WINDOW];
    for (slot, byte) in bytes.iter_mut().zip(body.iter().chain(TAIL.iter().cycle())) {
        *slot = *byte;
    }
    bytes
}

fn gpr_register(gpr: Gpr, size: OperandSize, high_byte: bool) -> Register {
    let number = usize::from(gpr.number());
    let index = match size {
        _ if high_byte => Register::AH as usize + number,
        OperandSize::Byte if number < 4 => Register::AL as usize + number,
        OperandSize::Byte => Register::SPL as usize + number - 4,
        OperandSize::Word => Register::AX as usize + number,
        OperandSize::Dword => Register::EAX as usize + number,
        OperandSize::Qword => Register::RAX as usize + number,
    };
    Register::try_from(index).unwrap_or(Register::None)
}

fn address_register(base: Base, size: AddressSize) -> Register {
    match (base, size) {
        (Base::Rip, AddressSize::Bits32) => Register::EIP,
        (Base::Rip, _) => Register::RIP,
        (Base::Gpr(gpr), AddressSize::Bits16) => gpr_register(gpr, OperandSize::Word, false),
        (Base::Gpr(gpr), AddressSize::Bits32) => gpr_register(gpr, OperandSize::Dword, false),
        (Base::Gpr(gpr), AddressSize::Bits64) => gpr_register(gpr, OperandSize::Qword, false),
    }
}

fn segment_register(segment: Segment) -> Register {
    match segment {
        Segment::Es => Register::ES,
        Segment::Cs => Register::CS,
        Segment::Ss => Register::SS,
        Segment::Ds => Register::DS,
        Segment::Fs => Register::FS,
        Segment::Gs => Register::GS,
    }
}

fn alu_mnemonic(op: AluOp) -> Mnemonic {
    match op {
        AluOp::Add => Mnemonic::Add,
        AluOp::Or => Mnemonic::Or,
        AluOp::Adc => Mnemonic::Adc,
        AluOp::Sbb => Mnemonic::Sbb,
        AluOp::And => Mnemonic::And,
        AluOp::Sub => Mnemonic::Sub,
        AluOp::Xor => Mnemonic::Xor,
        AluOp::Cmp => Mnemonic::Cmp,
        AluOp::Test => Mnemonic::Test,
    }
}

fn sized(
    size: OperandSize,
    byte: Mnemonic,
    word: Mnemonic,
    dword: Mnemonic,
    qword: Mnemonic,
) -> Mnemonic {
    match size {
        OperandSize::Byte => byte,
        OperandSize::Word => word,
        OperandSize::Dword => dword,
        OperandSize::Qword => qword,
    }
}

/// The mnemonics iced-x86 may give, and whether memory is operand 0 (else operand 1).
fn expected_shape(instruction: &Instruction) -> (Vec<Mnemonic>, bool) {
    match instruction.operation {
        Operation::Store { .. } => (vec![Mnemonic::Mov], true),
        Operation::Load { .. } => (vec![Mnemonic::Mov, Mnemonic::Movsxd], false),
        Operation::LoadExtended {
            extension: Extension::Zero,
            ..
        } => (vec![Mnemonic::Movzx], false),
        Operation::LoadExtended {
            extension: Extension::Sign,
            ..
        } => (vec![Mnemonic::Movsx, Mnemonic::Movsxd], false),
        Operation::ArithmeticToMemory { op, .. } => (vec![alu_mnemonic(op)], true),
        Operation::ArithmeticToRegister { op, .. } => (vec![alu_mnemonic(op)], false),
        Operation::UnaryOnMemory { op } => (
            vec![match op {
                UnaryOp::Inc => Mnemonic::Inc,
                UnaryOp::Dec => Mnemonic::Dec,
                UnaryOp::Not => Mnemonic::Not,
                UnaryOp::Neg => Mnemonic::Neg,
            }],
            true,
        ),
        Operation::Exchange { .. } => (vec![Mnemonic::Xchg], true),
        Operation::Stos => (
            vec![sized(
                instruction.size,
                Mnemonic::Stosb,
                Mnemonic::Stosw,
                Mnemonic::Stosd,
                Mnemonic::Stosq,
            )],
            true,
        ),
        Operation::Movs { .. } => (
            vec![sized(
                instruction.size,
                Mnemonic::Movsb,
                Mnemonic::Movsw,
                Mnemonic::Movsd,
                Mnemonic::Movsq,
            )],
            true,
        ),
    }
}

fn compare(bytes: &[u8], mode: Mode, bitness: u32, tally: &mut Tally) -> Result<(), String> {
    let mut decoder = Decoder::with_ip(bitness, bytes, 0, DecoderOptions::NONE);
    let reference = decoder.decode();
    let ours = decode(bytes, mode);
    let instruction = match ours {
        Err(error) => {
            if reference.is_invalid() {
                tally.both_rejected += 1;
                return Ok(());
            }
            return match error {
                DecodeError::Unsupported { .. } | DecodeError::NoMemoryOperand { .. } => {
                    tally.reference_only += 1;
                    Ok(())
                }
                _ => Err(format!(
                    "we say {error:?}, iced decodes {:?}",
                    reference.code()
                )),
            };
        }
        Ok(instruction) => instruction,
    };
    if reference.is_invalid() {
        return Err(format!("we accept {instruction:?}, iced rejects"));
    }
    let length = usize::from(instruction.length);
    if length != reference.len() {
        return Err(format!(
            "length {length} vs iced {} ({:?})",
            reference.len(),
            reference.code()
        ));
    }
    if decode(&bytes[..length - 1], mode)
        != Err(DecodeError::Truncated {
            available: length - 1,
        })
    {
        return Err(String::from("one byte shorter is not Truncated"));
    }
    let (mnemonics, memory_first) = expected_shape(&instruction);
    if !mnemonics.contains(&reference.mnemonic()) {
        return Err(format!(
            "mnemonic {:?}, expected one of {mnemonics:?}",
            reference.mnemonic()
        ));
    }
    if reference.has_lock_prefix() != instruction.lock {
        return Err(String::from("LOCK differs"));
    }
    let memory_size = reference.memory_size().size();
    if memory_size != usize::from(instruction.size.bytes()) {
        return Err(format!(
            "access size {:?} vs iced {memory_size}",
            instruction.size
        ));
    }
    match instruction.operation {
        Operation::Stos | Operation::Movs { .. } => compare_string(&instruction, &reference),
        _ => compare_explicit(&instruction, &reference, memory_first),
    }?;
    tally.agreed += 1;
    Ok(())
}

fn compare_string(
    instruction: &Instruction,
    reference: &iced_x86::Instruction,
) -> Result<(), String> {
    let reference_rep = if reference.has_rep_prefix() {
        Some(RepPrefix::Rep)
    } else if reference.has_repne_prefix() {
        Some(RepPrefix::Repne)
    } else {
        None
    };
    if reference_rep != instruction.rep {
        return Err(format!(
            "rep {:?} vs iced {reference_rep:?}",
            instruction.rep
        ));
    }
    let destination_kind = match instruction.memory.address_size {
        AddressSize::Bits16 => OpKind::MemoryESDI,
        AddressSize::Bits32 => OpKind::MemoryESEDI,
        AddressSize::Bits64 => OpKind::MemoryESRDI,
    };
    if reference.op0_kind() != destination_kind || instruction.memory.segment != Segment::Es {
        return Err(format!(
            "destination {:?} vs iced {:?}",
            instruction.memory,
            reference.op0_kind()
        ));
    }
    if let Operation::Movs { source } = instruction.operation {
        let source_kind = match source.address_size {
            AddressSize::Bits16 => OpKind::MemorySegSI,
            AddressSize::Bits32 => OpKind::MemorySegESI,
            AddressSize::Bits64 => OpKind::MemorySegRSI,
        };
        if reference.op1_kind() != source_kind
            || reference.memory_segment() != segment_register(source.segment)
        {
            return Err(format!(
                "source {source:?} vs iced {:?} {:?}",
                reference.op1_kind(),
                reference.memory_segment()
            ));
        }
    }
    Ok(())
}

fn compare_explicit(
    instruction: &Instruction,
    reference: &iced_x86::Instruction,
    memory_first: bool,
) -> Result<(), String> {
    let (memory_operand, other_operand) = if memory_first { (0, 1) } else { (1, 0) };
    if reference.op_kind(memory_operand) != OpKind::Memory {
        return Err(format!(
            "iced operand {memory_operand} is {:?}",
            reference.op_kind(memory_operand)
        ));
    }
    let memory = instruction.memory;
    let mask = memory.address_size.mask();
    let expected_base = memory.base.map_or(Register::None, |base| {
        address_register(base, memory.address_size)
    });
    let expected_index = memory.index.map_or(Register::None, |index| {
        address_register(Base::Gpr(index), memory.address_size)
    });
    let expected_displacement = if memory.base == Some(Base::Rip) {
        u64::from(instruction.length).wrapping_add(memory.displacement as u64) & mask
    } else {
        memory.displacement as u64 & mask
    };
    let reference_displacement = reference.memory_displacement64() & mask;
    let scale_agrees =
        memory.index.is_none() || u32::from(memory.scale) == reference.memory_index_scale();
    if reference.memory_base() != expected_base
        || reference.memory_index() != expected_index
        || !scale_agrees
        || reference_displacement != expected_displacement
        || reference.memory_segment() != segment_register(memory.segment)
    {
        return Err(format!(
            "memory {memory:?} vs iced base {:?} index {:?}*{} disp {:#x} seg {:?}",
            reference.memory_base(),
            reference.memory_index(),
            reference.memory_index_scale(),
            reference.memory_displacement64(),
            reference.memory_segment()
        ));
    }
    let Ok(other) = u32::try_from(other_operand) else {
        return Err(String::from("operand index"));
    };
    match (instruction.register(), instruction.immediate()) {
        (Some(register), _) => {
            let expected = gpr_register(register.gpr, register.size, register.high_byte);
            if reference.op_kind(other) != OpKind::Register
                || reference.op_register(other) != expected
            {
                return Err(format!(
                    "register {register:?} vs iced {:?}",
                    reference.op_register(other)
                ));
            }
        }
        (None, Some(immediate)) => {
            let mask = instruction.size.mask();
            if reference.immediate(other) & mask != immediate & mask {
                return Err(format!(
                    "immediate {immediate:#x} vs iced {:#x}",
                    reference.immediate(other)
                ));
            }
        }
        (None, None) => {
            if reference.op_count() != 1 {
                return Err(format!("iced has {} operands", reference.op_count()));
            }
        }
    }
    Ok(())
}

/// Pseudo-random byte strings in part E.
const RANDOM_CASES: usize = 1_000_000;

/// A small deterministic generator (xorshift64*) for the random part of the corpus.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

const PREFIX_ALPHABET: [u8; 17] = [
    0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x40, 0x41, 0x44, 0x48, 0x4C,
    0x4F,
];

fn sweep_prefix_sets() -> [&'static [u8]; 10] {
    [
        &[],
        &[0x66],
        &[0x67],
        &[0xF0],
        &[0xF3, 0x65],
        &[0x2E, 0xF2],
        &[0x48],
        &[0x4F],
        &[0x66, 0x67, 0x44],
        &[0x40, 0x36],
    ]
}

fn run_corpus() -> Tally {
    let mut tally = Tally::default();
    let supported = supported_opcodes();
    let mut body = Vec::with_capacity(WINDOW);

    // A: every opcode, a few ModRMs.
    const MODRMS: [u8; 16] = [
        0x00, 0x04, 0x05, 0x06, 0x44, 0x84, 0x86, 0xC0, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38,
        0xBF,
    ];
    for (mode, bitness) in MODES {
        for prefixes in &sweep_prefix_sets()[..8] {
            for map in [None, Some(0x0Fu8)] {
                for opcode in 0..=u8::MAX {
                    for modrm in MODRMS {
                        body.clear();
                        body.extend_from_slice(prefixes);
                        body.extend(map);
                        body.extend([opcode, modrm]);
                        tally.check(&window(&body), mode, bitness);
                    }
                }
            }
        }
    }
    let after_a = tally.cases;

    // B: every supported opcode, every ModRM.
    for (mode, bitness) in MODES {
        for prefixes in sweep_prefix_sets() {
            for opcode in &supported {
                for modrm in 0..=u8::MAX {
                    body.clear();
                    body.extend_from_slice(prefixes);
                    body.extend_from_slice(opcode);
                    body.push(modrm);
                    tally.check(&window(&body), mode, bitness);
                }
            }
        }
    }
    let after_b = tally.cases;

    // C: every SIB byte under REX and 67h variants.
    let sib_opcodes: [&[u8]; 5] = [&[0x89], &[0x8B], &[0xC7], &[0x81], &[0x0F, 0xB6]];
    for (mode, bitness) in MODES {
        let rexes: &[Option<u8>] = if mode == Mode::Long64 {
            &[
                None,
                Some(0x41),
                Some(0x42),
                Some(0x43),
                Some(0x48),
                Some(0x4F),
            ]
        } else {
            &[None]
        };
        for &rex in rexes {
            for address_override in [false, true] {
                for opcode in sib_opcodes {
                    for modrm in [0x04u8, 0x4C, 0x94] {
                        for sib in 0..=u8::MAX {
                            body.clear();
                            if address_override {
                                body.push(0x67);
                            }
                            body.extend(rex);
                            body.extend_from_slice(opcode);
                            body.extend([modrm, sib]);
                            tally.check(&window(&body), mode, bitness);
                        }
                    }
                }
            }
        }
    }
    let after_c = tally.cases;

    // D: all prefix sequences up to three long.
    let bodies: [&[u8]; 8] = [
        &[0x89, 0x44, 0x24, 0x08],
        &[0x8A, 0x25, 0x10, 0x20, 0x30, 0x40],
        &[0xA5],
        &[0xAA],
        &[0xA1, 1, 2, 3, 4, 5, 6, 7, 8],
        &[0x80, 0x0D, 1, 2, 3, 4, 0x7F],
        &[0x0F, 0xB7, 0x46, 0x02],
        &[0x87, 0x18],
    ];
    let alphabet = PREFIX_ALPHABET.len();
    let sequences = 1 + alphabet + alphabet * alphabet + alphabet * alphabet * alphabet;
    for (mode, bitness) in MODES {
        for sequence in 0..sequences {
            let (length, mut code) = match sequence {
                0 => (0, 0),
                _ if sequence <= alphabet => (1, sequence - 1),
                _ if sequence <= alphabet + alphabet * alphabet => (2, sequence - 1 - alphabet),
                _ => (3, sequence - 1 - alphabet - alphabet * alphabet),
            };
            let mut prefixes = Vec::with_capacity(3);
            for _ in 0..length {
                prefixes.push(PREFIX_ALPHABET[code % alphabet]);
                code /= alphabet;
            }
            for instruction in bodies {
                body.clear();
                body.extend_from_slice(&prefixes);
                body.extend_from_slice(instruction);
                tally.check(&window(&body), mode, bitness);
            }
        }
    }
    let after_d = tally.cases;

    // E: random strings, in all four modes.
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let all_modes = [
        (Mode::Real16, 16),
        (Mode::Protected16, 16),
        (Mode::Protected32, 32),
        (Mode::Long64, 64),
    ];
    for _ in 0..RANDOM_CASES {
        let (mode, bitness) = all_modes[random.below(all_modes.len())];
        body.clear();
        for _ in 0..random.below(5) {
            body.push(PREFIX_ALPHABET[random.below(alphabet)]);
        }
        if random.below(5) == 0 {
            body.push(random.byte());
        } else {
            body.extend_from_slice(&supported[random.below(supported.len())]);
        }
        let mut bytes = [0u8; WINDOW];
        for (slot, byte) in bytes.iter_mut().zip(
            body.iter()
                .copied()
                .chain(core::iter::repeat_with(|| random.byte())),
        ) {
            *slot = byte;
        }
        tally.check(&bytes, mode, bitness);
    }
    std::println!(
        "reference corpus: A {after_a}, B {}, C {}, D {}, E {}; total {} — agreed {}, iced-only {}, both rejected {}, mismatches {}",
        after_b - after_a,
        after_c - after_b,
        after_d - after_c,
        tally.cases - after_d,
        tally.cases,
        tally.agreed,
        tally.reference_only,
        tally.both_rejected,
        tally.mismatches.len()
    );
    tally
}

#[test]
fn decoder_agrees_with_iced_x86_on_the_systematic_corpus() {
    let tally = run_corpus();
    assert!(
        tally.agreed > 100_000,
        "the corpus exercises accepted forms: {}",
        tally.agreed
    );
    assert!(
        tally.mismatches.is_empty(),
        "{} mismatches:\n{}",
        tally.mismatches.len(),
        tally.mismatches.join("\n")
    );
}
