//! The emulator on the non-string forms: device accesses, register-write rules, flags, RIP.

use super::tests_support::{
    BusError, Call, FakeBus, MMIO_GPA, RFLAGS_FIXED, read_fault, registers, run, write_fault,
};
use super::*;

const STATUS_CLEAR: u64 = RFLAGS_FIXED;

#[test]
fn mov_load_32bit_zero_extends_into_the_64bit_register() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rax, 0xFFFF_FFFF_FFFF_FFFF);
    let mut bus = FakeBus::returning(&[0x1234_5678]);
    // mov eax, [rbx]
    let outcome = run(
        &[0x8B, 0x03],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    );
    assert_eq!(outcome, Ok(Outcome::Retired { next_rip: 0x1002 }));
    assert_eq!(registers.gpr(Gpr::Rax), 0x1234_5678);
    assert_eq!(registers.rip, 0x1002);
    assert_eq!(
        bus.calls,
        [Call::MmioRead {
            gpa: MMIO_GPA,
            size: OperandSize::Dword
        }]
    );
}

#[test]
fn mov_load_16bit_merges_into_the_low_word() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rax, 0xAAAA_BBBB_CCCC_DDDD);
    let mut bus = FakeBus::returning(&[0x1234]);
    run(
        &[0x66, 0x8B, 0x03],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rax), 0xAAAA_BBBB_CCCC_1234);
    assert_eq!(registers.rip, 0x1003);
}

#[test]
fn mov_load_to_ah_merges_into_bits_15_to_8() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rax, 0x1111_2222_3333_4444);
    let mut bus = FakeBus::returning(&[0xAB]);
    // mov ah, [rbx]
    run(
        &[0x8A, 0x23],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rax), 0x1111_2222_3333_AB44);
}

#[test]
fn mov_store_from_bh_writes_bits_15_to_8_of_rbx() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rbx, 0x0000_0000_0000_5A00);
    let mut bus = FakeBus::default();
    // mov [rax], bh
    run(
        &[0x88, 0x38],
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(
        bus.calls,
        [Call::MmioWrite {
            gpa: MMIO_GPA,
            size: OperandSize::Byte,
            value: 0x5A
        }]
    );
}

#[test]
fn mov_store_imm32_to_mem_sign_extends_in_64bit() {
    let mut registers = registers();
    let mut bus = FakeBus::default();
    // mov qword [rax], -2
    run(
        &[0x48, 0xC7, 0x00, 0xFE, 0xFF, 0xFF, 0xFF],
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(
        bus.calls,
        [Call::MmioWrite {
            gpa: MMIO_GPA,
            size: OperandSize::Qword,
            value: 0xFFFF_FFFF_FFFF_FFFE
        }]
    );
    assert_eq!(registers.rip, 0x1007);
}

#[test]
fn mov_store_through_moffs_writes_the_accumulator() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rax, 0xDEAD_BEEF_0000_0001);
    let mut bus = FakeBus::default();
    // mov [0xFEE000B0], eax (32-bit mode)
    run(
        &[0xA3, 0xB0, 0x00, 0xE0, 0xFE],
        Mode::Protected32,
        &mut registers,
        write_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(
        bus.calls,
        [Call::MmioWrite {
            gpa: MMIO_GPA,
            size: OperandSize::Dword,
            value: 1
        }]
    );
    assert_eq!(registers.rip, 0x1005);
}

#[test]
fn movzx_byte_zero_extends_and_movsx_word_sign_extends_to_64() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rax, u64::MAX);
    let mut bus = FakeBus::returning(&[0x80, 0x8000]);
    // movzx eax, byte [rbx]
    run(
        &[0x0F, 0xB6, 0x03],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rax), 0x80);
    // movsx rcx, word [rbx]
    run(
        &[0x48, 0x0F, 0xBF, 0x0B],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rcx), 0xFFFF_FFFF_FFFF_8000);
}

#[test]
fn movsx_to_16bit_register_merges_the_sign_extended_byte() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rdx, 0x1234_5678_9ABC_DEF0);
    let mut bus = FakeBus::returning(&[0xFE]);
    // movsx dx, byte [rbx]
    run(
        &[0x66, 0x0F, 0xBE, 0x13],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rdx), 0x1234_5678_9ABC_FFFE);
}

#[test]
fn movsxd_sign_extends_a_dword_into_64_bits() {
    let mut registers = registers();
    let mut bus = FakeBus::returning(&[0x8000_0000]);
    // movsxd rax, dword [rbx]
    run(
        &[0x48, 0x63, 0x03],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rax), 0xFFFF_FFFF_8000_0000);
}

#[test]
fn add_to_memory_writes_the_sum_and_sets_carry_zero_parity_and_aux() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rcx, 1);
    let mut bus = FakeBus::returning(&[0xFFFF_FFFF]);
    // add [rax], ecx
    run(
        &[0x01, 0x08],
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(
        bus.calls,
        [
            Call::MmioRead {
                gpa: MMIO_GPA,
                size: OperandSize::Dword
            },
            Call::MmioWrite {
                gpa: MMIO_GPA,
                size: OperandSize::Dword,
                value: 0
            }
        ]
    );
    assert_eq!(
        registers.rflags,
        STATUS_CLEAR | rflags::CF | rflags::PF | rflags::AF | rflags::ZF
    );
}

#[test]
fn or_immediate_to_memory_sets_bits_and_clears_carry_and_overflow() {
    let mut registers = registers();
    registers.rflags = RFLAGS_FIXED | rflags::CF | rflags::OF;
    let mut bus = FakeBus::returning(&[0x0000_0001]);
    // or dword [rax], 0x80000000
    run(
        &[0x81, 0x08, 0, 0, 0, 0x80],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(
        bus.calls[1],
        Call::MmioWrite {
            gpa: MMIO_GPA,
            size: OperandSize::Dword,
            value: 0x8000_0001
        }
    );
    // 0x01 in the low byte: odd parity, so PF = 0.
    assert_eq!(registers.rflags, STATUS_CLEAR | rflags::SF);
}

#[test]
fn cmp_with_memory_sets_flags_and_writes_nothing() {
    let mut registers = registers();
    let mut bus = FakeBus::returning(&[5]);
    // cmp dword [rax], 6
    run(
        &[0x83, 0x38, 0x06],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(bus.calls.len(), 1);
    // 5 − 6 = 0xFFFFFFFF: borrow, sign, aux borrow, even parity.
    assert_eq!(
        registers.rflags,
        STATUS_CLEAR | rflags::CF | rflags::SF | rflags::AF | rflags::PF
    );
}

#[test]
fn test_with_memory_clears_carry_and_overflow_and_writes_nothing() {
    let mut registers = registers();
    registers.rflags = RFLAGS_FIXED | rflags::CF | rflags::OF;
    let mut bus = FakeBus::returning(&[0x40]);
    // test byte [rax], 0x40
    run(
        &[0xF6, 0x00, 0x40],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(bus.calls.len(), 1);
    assert_eq!(registers.rflags, STATUS_CLEAR);
    // test byte [rax], 0x01 against 0x40: zero
    let mut bus = FakeBus::returning(&[0x40]);
    run(
        &[0xF6, 0x00, 0x01],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.rflags, STATUS_CLEAR | rflags::ZF | rflags::PF);
}

#[test]
fn sub_memory_from_register_sets_signed_overflow() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rax, 0xFFFF_FFFF_8000_0000);
    let mut bus = FakeBus::returning(&[1]);
    // sub eax, [rbx]
    run(
        &[0x2B, 0x03],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rax), 0x7FFF_FFFF);
    assert_eq!(
        registers.rflags,
        STATUS_CLEAR | rflags::OF | rflags::AF | rflags::PF
    );
}

#[test]
fn cmp_register_with_memory_leaves_the_register_upper_half_alone() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rax, 0xFFFF_FFFF_0000_0001);
    let mut bus = FakeBus::returning(&[1]);
    // cmp eax, [rbx]
    run(
        &[0x3B, 0x03],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rax), 0xFFFF_FFFF_0000_0001);
    assert_eq!(registers.rflags, STATUS_CLEAR | rflags::ZF | rflags::PF);
}

#[test]
fn adc_and_sbb_consume_the_carry_flag() {
    let mut registers = registers();
    registers.rflags = RFLAGS_FIXED | rflags::CF;
    let mut bus = FakeBus::returning(&[0x10, 0x10]);
    // adc al, [rbx]: 0 + 0x10 + 1
    run(
        &[0x12, 0x03],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rax), 0x11);
    assert_eq!(registers.rflags, STATUS_CLEAR | rflags::PF);
    // sbb [rbx], al with CF = 1: 0x10 − 0x11 − 1 = 0xFE
    registers.rflags |= rflags::CF;
    run(
        &[0x18, 0x03],
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(
        bus.calls.last(),
        Some(&Call::MmioWrite {
            gpa: MMIO_GPA,
            size: OperandSize::Byte,
            value: 0xFE
        })
    );
    assert_eq!(
        registers.rflags,
        STATUS_CLEAR | rflags::CF | rflags::SF | rflags::AF
    );
}

#[test]
fn xchg_swaps_register_and_device_register() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rdx, 0xFFFF_FFFF_0000_00AA);
    let mut bus = FakeBus::returning(&[0x55]);
    // xchg [rax], edx
    run(
        &[0x87, 0x10],
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rdx), 0x55);
    assert_eq!(
        bus.calls[1],
        Call::MmioWrite {
            gpa: MMIO_GPA,
            size: OperandSize::Dword,
            value: 0xAA
        }
    );
}

#[test]
fn inc_memory_leaves_carry_and_neg_sets_it() {
    let mut registers = registers();
    registers.rflags = RFLAGS_FIXED | rflags::CF;
    let mut bus = FakeBus::returning(&[0x7F, 0x01]);
    // inc byte [rax]: 0x7F → 0x80
    run(
        &[0xFE, 0x00],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(
        registers.rflags,
        STATUS_CLEAR | rflags::CF | rflags::OF | rflags::SF | rflags::AF
    );
    // neg byte [rax]: 1 → 0xFF
    run(
        &[0xF6, 0x18],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(
        bus.calls.last(),
        Some(&Call::MmioWrite {
            gpa: MMIO_GPA,
            size: OperandSize::Byte,
            value: 0xFF
        })
    );
    assert_eq!(
        registers.rflags,
        STATUS_CLEAR | rflags::CF | rflags::SF | rflags::AF | rflags::PF
    );
}

#[test]
fn not_memory_inverts_and_changes_no_flag() {
    let mut registers = registers();
    registers.rflags = RFLAGS_FIXED | rflags::ZF | rflags::CF;
    let mut bus = FakeBus::returning(&[0x0F0F]);
    // not word [rax]
    run(
        &[0x66, 0xF7, 0x10],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(
        bus.calls.last(),
        Some(&Call::MmioWrite {
            gpa: MMIO_GPA,
            size: OperandSize::Word,
            value: 0xF0F0
        })
    );
    assert_eq!(registers.rflags, RFLAGS_FIXED | rflags::ZF | rflags::CF);
}

#[test]
fn control_flags_in_rflags_are_preserved() {
    const INTERRUPT_ENABLE: u64 = 1 << 9;
    let mut registers = registers();
    registers.rflags = RFLAGS_FIXED | INTERRUPT_ENABLE | rflags::DF;
    let mut bus = FakeBus::returning(&[0]);
    // and dword [rax], 0
    run(
        &[0x83, 0x20, 0x00],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(
        registers.rflags,
        RFLAGS_FIXED | INTERRUPT_ENABLE | rflags::DF | rflags::ZF | rflags::PF
    );
}

#[test]
fn rip_wraps_at_64k_in_16bit_code_and_at_4g_in_32bit_code() {
    let mut registers = registers();
    registers.rip = 0xFFFF;
    let mut bus = FakeBus::default();
    // mov [bx], ax: 2 bytes
    let outcome = run(
        &[0x89, 0x07],
        Mode::Real16,
        &mut registers,
        write_fault(),
        &mut bus,
    );
    assert_eq!(outcome, Ok(Outcome::Retired { next_rip: 0x0001 }));
    registers.rip = 0xFFFF_FFFF;
    let outcome = run(
        &[0x89, 0x07],
        Mode::Protected32,
        &mut registers,
        write_fault(),
        &mut bus,
    );
    assert_eq!(outcome, Ok(Outcome::Retired { next_rip: 0x0001 }));
}

#[test]
fn a_store_reported_as_a_read_fault_is_an_access_mismatch_and_changes_nothing() {
    let mut registers = registers();
    let before = registers;
    let mut bus = FakeBus::default();
    let outcome = run(
        &[0x89, 0x03],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    );
    assert_eq!(
        outcome,
        Err(EmulationError::AccessMismatch {
            instruction: MemoryAccess::Write,
            fault: FaultAccess::Read
        })
    );
    assert_eq!(registers, before);
    assert!(bus.calls.is_empty());
}

#[test]
fn a_failing_bus_is_reported_and_changes_no_register() {
    let mut registers = registers();
    let before = registers;
    let mut bus = FakeBus {
        failing: true,
        ..FakeBus::default()
    };
    let outcome = run(
        &[0x8B, 0x03],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    );
    assert_eq!(outcome, Err(EmulationError::Context(BusError)));
    assert_eq!(registers, before);
}

#[test]
fn ept_qualification_write_bit_wins_and_fetches_are_refused() {
    let gpa = 0xFED0_0000;
    assert_eq!(
        FaultInfo::from_ept_qualification(gpa, qualification::DATA_READ),
        Some(FaultInfo {
            gpa,
            access: FaultAccess::Read
        })
    );
    assert_eq!(
        FaultInfo::from_ept_qualification(
            gpa,
            qualification::DATA_READ | qualification::DATA_WRITE
        ),
        Some(FaultInfo {
            gpa,
            access: FaultAccess::Write
        })
    );
    assert_eq!(
        FaultInfo::from_ept_qualification(gpa, qualification::INSTRUCTION_FETCH),
        None
    );
}
