//! The decoder against the SDM's encodings, one documented rule per test, with concrete bytes.

use super::tests_support::{decoded, reg, registers};
use super::*;

fn memory(
    segment: Segment,
    base: Option<Base>,
    index: Option<Gpr>,
    scale: u8,
    displacement: i64,
    address_size: AddressSize,
) -> MemoryOperand {
    MemoryOperand {
        segment,
        base,
        index,
        scale,
        displacement,
        address_size,
    }
}

const RBX: Option<Base> = Some(Base::Gpr(Gpr::Rbx));

#[test]
fn mov_store_reg32_with_base_and_disp8_is_three_bytes() {
    // mov [rbx+0x10], eax
    let instruction = decoded(&[0x89, 0x43, 0x10], Mode::Long64);
    assert_eq!(instruction.length, 3);
    assert_eq!(instruction.size, OperandSize::Dword);
    assert_eq!(
        instruction.operation,
        Operation::Store {
            source: Source::Register(reg(Gpr::Rax, OperandSize::Dword))
        }
    );
    assert_eq!(
        instruction.memory,
        memory(Segment::Ds, RBX, None, 1, 0x10, AddressSize::Bits64)
    );
    assert_eq!(instruction.rep, None);
    assert!(!instruction.lock);
}

#[test]
fn mov_store_imm32_to_mem_sign_extends_in_64bit() {
    // mov qword [rax], -2
    let instruction = decoded(&[0x48, 0xC7, 0x00, 0xFE, 0xFF, 0xFF, 0xFF], Mode::Long64);
    assert_eq!(instruction.length, 7);
    assert_eq!(instruction.size, OperandSize::Qword);
    assert_eq!(instruction.immediate(), Some(0xFFFF_FFFF_FFFF_FFFE));
}

#[test]
fn mov_store_imm16_reads_two_immediate_bytes_with_operand_size_prefix() {
    // mov word [rax], 0x1234
    let instruction = decoded(&[0x66, 0xC7, 0x00, 0x34, 0x12], Mode::Long64);
    assert_eq!(instruction.length, 5);
    assert_eq!(instruction.size, OperandSize::Word);
    assert_eq!(instruction.immediate(), Some(0x1234));
}

#[test]
fn rip_relative_operand_is_next_rip_plus_disp32() {
    // mov eax, [rip+0x10]
    let instruction = decoded(&[0x8B, 0x05, 0x10, 0x00, 0x00, 0x00], Mode::Long64);
    assert_eq!(instruction.memory.base, Some(Base::Rip));
    assert_eq!(instruction.memory.displacement, 0x10);
    let mut registers = registers();
    registers.rip = 0xFFFF_8000_0000_1000;
    assert_eq!(
        instruction.effective_address(&registers),
        0xFFFF_8000_0000_1016
    );
}

#[test]
fn rip_relative_with_address_size_prefix_wraps_to_32_bits() {
    // mov eax, [eip-0x10]
    let instruction = decoded(&[0x67, 0x8B, 0x05, 0xF0, 0xFF, 0xFF, 0xFF], Mode::Long64);
    let mut registers = registers();
    registers.rip = 0x1_0000_0008;
    assert_eq!(instruction.memory.address_size, AddressSize::Bits32);
    // next RIP 0x1_0000_000F − 0x10, truncated to 32 bits.
    assert_eq!(instruction.effective_address(&registers), 0xFFFF_FFFF);
}

#[test]
fn mod0_rm5_in_32bit_mode_is_absolute_disp32() {
    let instruction = decoded(&[0x8B, 0x05, 0x00, 0x00, 0xC0, 0xFE], Mode::Protected32);
    assert_eq!(
        instruction.memory,
        memory(
            Segment::Ds,
            None,
            None,
            1,
            -0x0140_0000,
            AddressSize::Bits32
        )
    );
    assert_eq!(instruction.effective_address(&registers()), 0xFEC0_0000);
}

#[test]
fn sib_adds_base_index_times_scale_and_disp8() {
    // mov eax, [rbx+rcx*4+8]
    let instruction = decoded(&[0x8B, 0x44, 0x8B, 0x08], Mode::Long64);
    assert_eq!(
        instruction.memory,
        memory(Segment::Ds, RBX, Some(Gpr::Rcx), 4, 8, AddressSize::Bits64)
    );
    let mut registers = registers();
    registers.set_gpr(Gpr::Rbx, 0x1000);
    registers.set_gpr(Gpr::Rcx, 3);
    assert_eq!(instruction.effective_address(&registers), 0x1014);
}

#[test]
fn sib_base_101_with_mod0_means_disp32_without_base() {
    // mov eax, [rcx*8+0x2000]
    let instruction = decoded(&[0x8B, 0x04, 0xCD, 0x00, 0x20, 0x00, 0x00], Mode::Long64);
    assert_eq!(instruction.length, 7);
    assert_eq!(
        instruction.memory,
        memory(
            Segment::Ds,
            None,
            Some(Gpr::Rcx),
            8,
            0x2000,
            AddressSize::Bits64
        )
    );
}

#[test]
fn sib_index_100_is_no_index_but_rex_x_makes_it_r12() {
    let without = decoded(&[0x8B, 0x04, 0x23], Mode::Long64);
    assert_eq!(without.memory.index, None);
    let with = decoded(&[0x42, 0x8B, 0x04, 0x23], Mode::Long64);
    assert_eq!(with.memory.index, Some(Gpr::R12));
}

#[test]
fn rsp_and_rbp_bases_default_to_ss() {
    // mov eax, [rsp+8] ; mov eax, [rbp+8]
    assert_eq!(
        decoded(&[0x8B, 0x44, 0x24, 0x08], Mode::Long64)
            .memory
            .segment,
        Segment::Ss
    );
    assert_eq!(
        decoded(&[0x8B, 0x45, 0x08], Mode::Protected32)
            .memory
            .segment,
        Segment::Ss
    );
}

#[test]
fn rex_b_r12_still_needs_sib_and_r13_mod0_still_means_rip() {
    // mov eax, [r12]
    let r12 = decoded(&[0x41, 0x8B, 0x04, 0x24], Mode::Long64);
    assert_eq!(r12.length, 4);
    assert_eq!(r12.memory.base, Some(Base::Gpr(Gpr::R12)));
    // mov eax, [rip+0]: REX.B does not turn mod 00 r/m 101 into [r13]
    let rip = decoded(&[0x41, 0x8B, 0x05, 0, 0, 0, 0], Mode::Long64);
    assert_eq!(rip.memory.base, Some(Base::Rip));
    // mov eax, [r13+0] needs a disp8
    let r13 = decoded(&[0x41, 0x8B, 0x45, 0x00], Mode::Long64);
    assert_eq!(r13.memory.base, Some(Base::Gpr(Gpr::R13)));
}

#[test]
fn sixteen_bit_bx_si_disp8_wraps_within_64k() {
    // mov ax, [bx+si-2]
    let instruction = decoded(&[0x8B, 0x40, 0xFE], Mode::Real16);
    assert_eq!(
        instruction.memory,
        memory(Segment::Ds, RBX, Some(Gpr::Rsi), 1, -2, AddressSize::Bits16)
    );
    assert_eq!(instruction.size, OperandSize::Word);
    let mut registers = registers();
    registers.set_gpr(Gpr::Rbx, 0xABCD_0000);
    registers.set_gpr(Gpr::Rsi, 1);
    assert_eq!(instruction.effective_address(&registers), 0xFFFF);
}

#[test]
fn sixteen_bit_bp_forms_default_to_ss() {
    // mov ax, [bp+2] ; mov ax, [bp+di]
    assert_eq!(
        decoded(&[0x8B, 0x46, 0x02], Mode::Real16).memory.segment,
        Segment::Ss
    );
    assert_eq!(
        decoded(&[0x8B, 0x03], Mode::Protected16).memory.segment,
        Segment::Ss
    );
}

#[test]
fn sixteen_bit_mod0_rm6_is_absolute_disp16() {
    // mov ax, [0x1234]
    let instruction = decoded(&[0x8B, 0x06, 0x34, 0x12], Mode::Real16);
    assert_eq!(instruction.length, 4);
    assert_eq!(
        instruction.memory,
        memory(Segment::Ds, None, None, 1, 0x1234, AddressSize::Bits16)
    );
}

#[test]
fn address_size_prefix_in_real_mode_selects_32bit_addressing() {
    // mov ax, [esp]
    let instruction = decoded(&[0x67, 0x8B, 0x04, 0x24], Mode::Real16);
    assert_eq!(instruction.length, 4);
    assert_eq!(instruction.memory.address_size, AddressSize::Bits32);
    assert_eq!(instruction.memory.base, Some(Base::Gpr(Gpr::Rsp)));
    assert_eq!(instruction.memory.segment, Segment::Ss);
}

#[test]
fn byte_registers_4_to_7_are_ah_to_bh_without_rex_and_spl_to_dil_with_rex() {
    // mov [rax], ah
    let ah = decoded(&[0x88, 0x20], Mode::Long64).register();
    assert_eq!(
        ah,
        Some(RegisterOperand {
            gpr: Gpr::Rax,
            size: OperandSize::Byte,
            high_byte: true
        })
    );
    // mov [rax], spl (an empty REX)
    let spl = decoded(&[0x40, 0x88, 0x20], Mode::Long64).register();
    assert_eq!(spl, Some(reg(Gpr::Rsp, OperandSize::Byte)));
    // mov bh, [eax] in 32-bit mode
    let bh = decoded(&[0x8A, 0x38], Mode::Protected32).register();
    assert_eq!(bh.map(|r| (r.gpr, r.high_byte)), Some((Gpr::Rbx, true)));
}

#[test]
fn rex_r_extends_the_register_operand() {
    // mov [rax], r8d
    let instruction = decoded(&[0x44, 0x89, 0x00], Mode::Long64);
    assert_eq!(
        instruction.register(),
        Some(reg(Gpr::R8, OperandSize::Dword))
    );
}

#[test]
fn operand_size_prefix_flips_16_and_32_and_rex_w_wins() {
    assert_eq!(
        decoded(&[0x66, 0x89, 0x00], Mode::Long64).size,
        OperandSize::Word
    );
    assert_eq!(
        decoded(&[0x66, 0x89, 0x00], Mode::Real16).size,
        OperandSize::Dword
    );
    assert_eq!(
        decoded(&[0x89, 0x00], Mode::Protected16).size,
        OperandSize::Word
    );
    assert_eq!(
        decoded(&[0x66, 0x48, 0x89, 0x00], Mode::Long64).size,
        OperandSize::Qword
    );
}

#[test]
fn rex_followed_by_a_legacy_prefix_is_ignored() {
    let instruction = decoded(&[0x48, 0x66, 0x89, 0x00], Mode::Long64);
    assert_eq!(instruction.size, OperandSize::Word);
    assert_eq!(instruction.length, 4);
}

#[test]
fn bytes_40_to_4f_are_not_prefixes_outside_64bit_mode() {
    // 48 is DEC eAX in 32-bit mode: not an MMIO instruction.
    assert_eq!(
        decode(&[0x48, 0x89, 0x00], Mode::Protected32),
        Err(DecodeError::Unsupported { opcode: 0x48 })
    );
}

#[test]
fn segment_override_replaces_the_default_and_fs_gs_keep_priority_in_64bit() {
    assert_eq!(
        decoded(&[0x64, 0x89, 0x00], Mode::Long64).memory.segment,
        Segment::Fs
    );
    assert_eq!(
        decoded(&[0x2E, 0x8B, 0x45, 0x00], Mode::Protected32)
            .memory
            .segment,
        Segment::Cs
    );
    assert_eq!(
        decoded(&[0x64, 0x26, 0x89, 0x00], Mode::Long64)
            .memory
            .segment,
        Segment::Fs
    );
    assert_eq!(
        decoded(&[0x64, 0x26, 0x89, 0x00], Mode::Protected32)
            .memory
            .segment,
        Segment::Es
    );
}

#[test]
fn moffs_offset_is_as_wide_as_the_address_size() {
    // mov eax, [0xFEE000B0] as a 64-bit moffs
    let long = decoded(
        &[0xA1, 0xB0, 0x00, 0xE0, 0xFE, 0x00, 0x00, 0x00, 0x00],
        Mode::Long64,
    );
    assert_eq!(long.length, 9);
    assert_eq!(long.memory.displacement, 0xFEE0_00B0);
    assert_eq!(
        long.operation,
        Operation::Load {
            destination: reg(Gpr::Rax, OperandSize::Dword)
        }
    );
    let short = decoded(&[0x67, 0xA1, 0xB0, 0x00, 0xE0, 0xFE], Mode::Long64);
    assert_eq!(short.length, 6);
    let real = decoded(&[0xA2, 0x34, 0x12], Mode::Real16);
    assert_eq!(real.length, 3);
    assert_eq!(real.size, OperandSize::Byte);
    assert_eq!(real.memory.displacement, 0x1234);
    assert!(matches!(real.operation, Operation::Store { .. }));
}

#[test]
fn movzx_and_movsx_load_a_narrow_source_into_a_wide_destination() {
    // movzx eax, byte [rbx]
    let movzx = decoded(&[0x0F, 0xB6, 0x03], Mode::Long64);
    assert_eq!(movzx.size, OperandSize::Byte);
    assert_eq!(
        movzx.operation,
        Operation::LoadExtended {
            destination: reg(Gpr::Rax, OperandSize::Dword),
            extension: Extension::Zero
        }
    );
    // movsx rcx, word [rbx]
    let movsx = decoded(&[0x48, 0x0F, 0xBF, 0x0B], Mode::Long64);
    assert_eq!(movsx.size, OperandSize::Word);
    assert_eq!(
        movsx.operation,
        Operation::LoadExtended {
            destination: reg(Gpr::Rcx, OperandSize::Qword),
            extension: Extension::Sign
        }
    );
}

#[test]
fn movsxd_exists_only_in_64bit_mode() {
    let movsxd = decoded(&[0x48, 0x63, 0x03], Mode::Long64);
    assert_eq!(movsxd.size, OperandSize::Dword);
    assert!(matches!(
        movsxd.operation,
        Operation::LoadExtended {
            extension: Extension::Sign,
            ..
        }
    ));
    assert_eq!(
        decode(&[0x63, 0x03], Mode::Protected32),
        Err(DecodeError::Unsupported { opcode: 0x63 })
    );
}

#[test]
fn string_instructions_use_es_rdi_and_seg_rsi_with_rep() {
    // rep movsq with an FS source
    let movs = decoded(&[0xF3, 0x64, 0x48, 0xA5], Mode::Long64);
    assert_eq!(movs.length, 4);
    assert_eq!(movs.size, OperandSize::Qword);
    assert_eq!(movs.rep, Some(RepPrefix::Rep));
    assert_eq!(movs.memory.segment, Segment::Es);
    assert_eq!(movs.memory.base, Some(Base::Gpr(Gpr::Rdi)));
    let Operation::Movs { source } = movs.operation else {
        panic!("not MOVS: {movs:?}");
    };
    assert_eq!(source.segment, Segment::Fs);
    assert_eq!(source.base, Some(Base::Gpr(Gpr::Rsi)));
    // repne stosb in 16-bit code: the override does not move STOS off ES
    let stos = decoded(&[0xF2, 0x26, 0xAA], Mode::Real16);
    assert_eq!(stos.rep, Some(RepPrefix::Repne));
    assert_eq!(stos.memory.segment, Segment::Es);
    assert_eq!(stos.memory.address_size, AddressSize::Bits16);
}

#[test]
fn rep_prefix_on_a_non_string_instruction_is_not_reported() {
    assert_eq!(decoded(&[0xF3, 0x89, 0x00], Mode::Long64).rep, None);
}

#[test]
fn lock_is_accepted_on_read_modify_write_memory_forms_only() {
    assert!(decoded(&[0xF0, 0x01, 0x00], Mode::Long64).lock);
    assert!(decoded(&[0xF0, 0x87, 0x00], Mode::Long64).lock);
    assert!(decoded(&[0xF0, 0x80, 0x08, 0x01], Mode::Long64).lock);
    for (bytes, opcode) in [
        (&[0xF0, 0x89, 0x00][..], 0x89),
        (&[0xF0, 0x03, 0x00][..], 0x03),
        (&[0xF0, 0x39, 0x00][..], 0x39),
        (&[0xF0, 0x85, 0x00][..], 0x85),
        (&[0xF0, 0xAB][..], 0xAB),
    ] {
        assert_eq!(
            decode(bytes, Mode::Long64),
            Err(DecodeError::InvalidLock { opcode })
        );
    }
}

#[test]
fn group1_immediates_follow_the_opcode_width_rules() {
    // add byte [rax], 0xFF
    assert_eq!(
        decoded(&[0x80, 0x00, 0xFF], Mode::Long64).immediate(),
        Some(u64::MAX)
    );
    // or dword [rax], -1 (83: imm8 sign-extended)
    let imm8 = decoded(&[0x83, 0x08, 0xFF], Mode::Long64);
    assert_eq!(imm8.length, 3);
    assert_eq!(imm8.immediate(), Some(u64::MAX));
    // and word [rax], 0x1234
    let imm16 = decoded(&[0x66, 0x81, 0x20, 0x34, 0x12], Mode::Long64);
    assert_eq!(imm16.length, 5);
    assert_eq!(
        imm16.operation,
        Operation::ArithmeticToMemory {
            op: AluOp::And,
            source: Source::Immediate(0x1234)
        }
    );
    // cmp dword [rax], 0x80000000
    let imm32 = decoded(&[0x81, 0x38, 0x00, 0x00, 0x00, 0x80], Mode::Long64);
    assert_eq!(imm32.immediate(), Some(0xFFFF_FFFF_8000_0000));
    assert_eq!(imm32.memory_access(), MemoryAccess::Read);
}

#[test]
fn opcode_82_is_an_alias_of_80_outside_64bit_mode() {
    let alias = decoded(&[0x82, 0x00, 0x01], Mode::Protected32);
    assert_eq!(
        alias.operation,
        Operation::ArithmeticToMemory {
            op: AluOp::Add,
            source: Source::Immediate(1)
        }
    );
    assert_eq!(
        decode(&[0x82, 0x00, 0x01], Mode::Long64),
        Err(DecodeError::Unsupported { opcode: 0x82 })
    );
}

#[test]
fn group3_decodes_test_its_alias_not_and_neg_and_rejects_mul() {
    let test = decoded(&[0xF6, 0x00, 0x80], Mode::Long64);
    assert_eq!(test.length, 3);
    assert!(matches!(
        test.operation,
        Operation::ArithmeticToMemory {
            op: AluOp::Test,
            ..
        }
    ));
    let alias = decoded(&[0xF7, 0x08, 1, 0, 0, 0], Mode::Long64);
    assert_eq!(alias.length, 6);
    assert_eq!(
        decoded(&[0xF7, 0x10], Mode::Long64).operation,
        Operation::UnaryOnMemory { op: UnaryOp::Not }
    );
    assert_eq!(
        decoded(&[0xF6, 0x18], Mode::Long64).operation,
        Operation::UnaryOnMemory { op: UnaryOp::Neg }
    );
    assert_eq!(
        decode(&[0xF7, 0x20], Mode::Long64),
        Err(DecodeError::Unsupported { opcode: 0xF7 })
    );
}

#[test]
fn group4_and_5_decode_inc_and_dec_and_reject_call() {
    assert_eq!(
        decoded(&[0xFE, 0x00], Mode::Long64).operation,
        Operation::UnaryOnMemory { op: UnaryOp::Inc }
    );
    assert_eq!(
        decoded(&[0xFF, 0x08], Mode::Long64).operation,
        Operation::UnaryOnMemory { op: UnaryOp::Dec }
    );
    assert_eq!(
        decode(&[0xFF, 0x10], Mode::Long64),
        Err(DecodeError::Unsupported { opcode: 0xFF })
    );
}

#[test]
fn register_only_forms_are_rejected_as_having_no_memory_operand() {
    assert_eq!(
        decode(&[0x89, 0xC0], Mode::Long64),
        Err(DecodeError::NoMemoryOperand { opcode: 0x89 })
    );
    assert_eq!(
        decode(&[0x0F, 0xB6, 0xC0], Mode::Long64),
        Err(DecodeError::NoMemoryOperand { opcode: 0x0FB6 })
    );
}

#[test]
fn unknown_opcodes_are_unsupported_with_their_map() {
    assert_eq!(
        decode(&[0x90], Mode::Long64),
        Err(DecodeError::Unsupported { opcode: 0x90 })
    );
    assert_eq!(
        decode(&[0x0F, 0x05], Mode::Long64),
        Err(DecodeError::Unsupported { opcode: 0x0F05 })
    );
    assert_eq!(
        decode(&[0xC6, 0x08, 0x00], Mode::Long64),
        Err(DecodeError::Unsupported { opcode: 0xC6 })
    );
}

#[test]
fn a_fetch_that_stops_short_is_truncated() {
    assert_eq!(
        decode(&[], Mode::Long64),
        Err(DecodeError::Truncated { available: 0 })
    );
    assert_eq!(
        decode(&[0x66], Mode::Long64),
        Err(DecodeError::Truncated { available: 1 })
    );
    // mov [rsp+disp8], eax without its disp8
    assert_eq!(
        decode(&[0x89, 0x44, 0x24], Mode::Long64),
        Err(DecodeError::Truncated { available: 3 })
    );
    // mov dword [rax], imm32 with two immediate bytes
    assert_eq!(
        decode(&[0xC7, 0x00, 0x01, 0x02], Mode::Long64),
        Err(DecodeError::Truncated { available: 4 })
    );
}

#[test]
fn fifteen_bytes_is_the_limit() {
    let mut exactly = [0x66u8; 15];
    exactly[13] = 0x89;
    exactly[14] = 0x00;
    assert_eq!(decoded(&exactly, Mode::Long64).length, 15);
    let mut over = [0x66u8; 16];
    over[14] = 0x89;
    over[15] = 0x00;
    assert_eq!(decode(&over, Mode::Long64), Err(DecodeError::TooLong));
}

#[test]
fn bytes_after_the_instruction_are_ignored() {
    let instruction = decoded(
        &[0x89, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        Mode::Long64,
    );
    assert_eq!(instruction.length, 2);
}

#[test]
fn decode_errors_name_the_opcode_in_their_message() {
    let message = alloc::format!("{}", DecodeError::Unsupported { opcode: 0x0F05 });
    assert_eq!(message, "opcode 0x0f05 is not an emulated MMIO instruction");
}
