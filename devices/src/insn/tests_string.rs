//! MOVS and STOS: one element per call, pointer and count updates at the address size, the
//! direction flag, REP termination, and which side of MOVS is the device.

use super::tests_support::{Call, FakeBus, MMIO_GPA, read_fault, registers, run, write_fault};
use super::*;

#[test]
fn stosd_writes_eax_and_advances_edi_by_four() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rax, 0x1111_2222_AABB_CCDD);
    registers.set_gpr(Gpr::Rdi, 0x2000);
    let mut bus = FakeBus::default();
    let outcome = run(
        &[0xAB],
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    );
    assert_eq!(outcome, Ok(Outcome::Retired { next_rip: 0x1001 }));
    assert_eq!(
        bus.calls,
        [Call::MmioWrite {
            gpa: MMIO_GPA,
            size: OperandSize::Dword,
            value: 0xAABB_CCDD
        }]
    );
    assert_eq!(registers.gpr(Gpr::Rdi), 0x2004);
}

#[test]
fn direction_flag_makes_stosw_decrement_di() {
    let mut registers = registers();
    registers.rflags |= rflags::DF;
    registers.set_gpr(Gpr::Rdi, 0x2000);
    let mut bus = FakeBus::default();
    run(
        &[0x66, 0xAB],
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rdi), 0x1FFE);
}

#[test]
fn rep_stosb_does_one_element_per_call_until_rcx_reaches_zero() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rcx, 3);
    registers.set_gpr(Gpr::Rdi, 0x100);
    let mut bus = FakeBus::default();
    let bytes = [0xF3, 0xAA];
    let first = run(
        &bytes,
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    );
    assert_eq!(first, Ok(Outcome::Repeat));
    assert_eq!(
        (
            registers.gpr(Gpr::Rcx),
            registers.gpr(Gpr::Rdi),
            registers.rip
        ),
        (2, 0x101, 0x1000)
    );
    let second = run(
        &bytes,
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    );
    assert_eq!(second, Ok(Outcome::Repeat));
    let third = run(
        &bytes,
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    );
    assert_eq!(third, Ok(Outcome::Retired { next_rip: 0x1002 }));
    assert_eq!(
        (
            registers.gpr(Gpr::Rcx),
            registers.gpr(Gpr::Rdi),
            registers.rip
        ),
        (0, 0x103, 0x1002)
    );
    assert_eq!(bus.calls.len(), 3);
}

#[test]
fn rep_with_a_zero_count_retires_without_touching_memory() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rdi, 0x100);
    let mut bus = FakeBus::default();
    let outcome = run(
        &[0xF3, 0x48, 0xAB],
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    );
    assert_eq!(outcome, Ok(Outcome::Retired { next_rip: 0x1003 }));
    assert!(bus.calls.is_empty());
    assert_eq!(registers.gpr(Gpr::Rdi), 0x100);
}

#[test]
fn rep_count_is_cx_in_16bit_code() {
    let mut registers = registers();
    // CX = 0 although RCX is not.
    registers.set_gpr(Gpr::Rcx, 0x1_0000);
    let mut bus = FakeBus::default();
    let outcome = run(
        &[0xF3, 0xAA],
        Mode::Real16,
        &mut registers,
        write_fault(),
        &mut bus,
    );
    assert_eq!(outcome, Ok(Outcome::Retired { next_rip: 0x1002 }));
    assert!(bus.calls.is_empty());
}

#[test]
fn sixteen_bit_di_and_cx_wrap_and_keep_their_upper_bits() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rdi, 0x1234_FFFF);
    registers.set_gpr(Gpr::Rcx, 0x5678_0002);
    let mut bus = FakeBus::default();
    let outcome = run(
        &[0xF3, 0xAA],
        Mode::Real16,
        &mut registers,
        write_fault(),
        &mut bus,
    );
    assert_eq!(outcome, Ok(Outcome::Repeat));
    assert_eq!(registers.gpr(Gpr::Rdi), 0x1234_0000);
    assert_eq!(registers.gpr(Gpr::Rcx), 0x5678_0001);
}

#[test]
fn thirty_two_bit_address_size_in_64bit_mode_zero_extends_rdi() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rdi, 0xFFFF_FFFF_FFFF_FFFF);
    let mut bus = FakeBus::default();
    // stosb with a 67h prefix
    run(
        &[0x67, 0xAA],
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    )
    .unwrap();
    assert_eq!(registers.gpr(Gpr::Rdi), 0);
}

#[test]
fn movs_read_fault_reads_the_device_and_writes_ram_at_es_rdi() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rsi, 0x10);
    registers.set_gpr(Gpr::Rdi, 0x8000);
    let mut bus = FakeBus::returning(&[0x0403_0201]);
    // movsd
    let outcome = run(
        &[0xA5],
        Mode::Protected32,
        &mut registers,
        read_fault(),
        &mut bus,
    );
    assert_eq!(outcome, Ok(Outcome::Retired { next_rip: 0x1001 }));
    assert_eq!(
        bus.calls,
        [
            Call::MmioRead {
                gpa: MMIO_GPA,
                size: OperandSize::Dword
            },
            Call::MemoryWrite {
                segment: Segment::Es,
                offset: 0x8000,
                data: vec![1, 2, 3, 4]
            }
        ]
    );
    assert_eq!(
        (registers.gpr(Gpr::Rsi), registers.gpr(Gpr::Rdi)),
        (0x14, 0x8004)
    );
}

#[test]
fn movs_write_fault_reads_ram_at_the_overridden_source_segment() {
    let mut registers = registers();
    registers.set_gpr(Gpr::Rsi, 0x4000);
    registers.set_gpr(Gpr::Rdi, 0x20);
    registers.set_gpr(Gpr::Rcx, 2);
    registers.rflags |= rflags::DF;
    let mut bus = FakeBus::returning(&[0xBEEF]);
    // rep movsw with a GS source, 64-bit
    let outcome = run(
        &[0x65, 0xF3, 0x66, 0xA5],
        Mode::Long64,
        &mut registers,
        write_fault(),
        &mut bus,
    );
    assert_eq!(outcome, Ok(Outcome::Repeat));
    assert_eq!(
        bus.calls,
        [
            Call::MemoryRead {
                segment: Segment::Gs,
                offset: 0x4000,
                len: 2
            },
            Call::MmioWrite {
                gpa: MMIO_GPA,
                size: OperandSize::Word,
                value: 0xBEEF
            }
        ]
    );
    assert_eq!(
        (
            registers.gpr(Gpr::Rsi),
            registers.gpr(Gpr::Rdi),
            registers.gpr(Gpr::Rcx)
        ),
        (0x3FFE, 0x1E, 1)
    );
}

#[test]
fn stos_reported_as_a_read_fault_is_an_access_mismatch() {
    let mut registers = registers();
    let mut bus = FakeBus::default();
    let outcome = run(
        &[0xAA],
        Mode::Long64,
        &mut registers,
        read_fault(),
        &mut bus,
    );
    assert!(matches!(
        outcome,
        Err(EmulationError::AccessMismatch { .. })
    ));
}
