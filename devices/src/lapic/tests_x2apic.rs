//! The x2APIC MSR interface (SDM 11.12), one documented behaviour per test.

use super::registers::{base, esr, lvt, msr, offset};
use super::tests_support::*;
use super::*;

const TPR: u32 = 0x808;
const PPR: u32 = 0x80A;
const EOI: u32 = 0x80B;
const LDR: u32 = 0x80D;
const DFR: u32 = 0x80E;
const SVR: u32 = 0x80F;
const ESR: u32 = 0x828;
const ICR: u32 = 0x830;
const LVT_TIMER: u32 = 0x832;
const LVT_LINT0: u32 = 0x835;
const SELF_IPI: u32 = 0x83F;
const ID: u32 = 0x802;
const VERSION: u32 = 0x803;

#[test]
fn x2apic_msr_access_faults_in_xapic_mode() {
    let (mut apic, mut ctx) = enabled();
    assert_eq!(
        apic.msr_read(&mut ctx, TPR),
        Err(Fault::NotX2Apic { msr: TPR })
    );
    assert_eq!(
        apic.msr_write(&mut ctx, TPR, 0x20),
        Err(Fault::NotX2Apic { msr: TPR })
    );
    // IA32_APIC_BASE is an MSR in every mode.
    assert_eq!(
        apic.msr_read(&mut ctx, msr::APIC_BASE),
        Ok(base::DEFAULT_ADDRESS | base::ENABLE | base::BSP)
    );
    assert_eq!(
        apic.msr_read(&mut ctx, 0x10),
        Err(Fault::NotApicMsr { msr: 0x10 })
    );
}

#[test]
fn x2apic_mode_is_entered_through_apic_base_msr_and_hides_the_page() {
    let (mut apic, mut ctx) = enabled();
    let value = apic.apic_base() | base::EXTD;
    apic.msr_write(&mut ctx, msr::APIC_BASE, value).unwrap();
    assert_eq!(apic.mode(), ApicMode::X2Apic);
    assert_eq!(read(&mut apic, &mut ctx, offset::VERSION), 0xFFFF_FFFF);
    write(&mut apic, &mut ctx, offset::TPR, 0x40);
    assert_eq!(apic.tpr(), 0);
    // State survives the switch: the APIC stays software enabled.
    assert!(apic.is_enabled());
}

#[test]
fn x2apic_id_and_ldr_are_derived_and_read_only() {
    let config = LapicConfig::bootstrap(0x25);
    let (mut apic, mut ctx) = powered_with(config);
    let value = apic.apic_base() | base::EXTD;
    apic.set_apic_base(&mut ctx, value).unwrap();
    assert_eq!(apic.msr_read(&mut ctx, ID), Ok(0x25));
    // Cluster 0x25 >> 4 = 2 in bits 31:16, member bit 0x25 & 15 = 5.
    assert_eq!(apic.msr_read(&mut ctx, LDR), Ok(0x0002_0020));
    assert_eq!(
        apic.msr_write(&mut ctx, LDR, 0),
        Err(Fault::ReadOnly { msr: LDR })
    );
    assert_eq!(
        apic.msr_write(&mut ctx, ID, 0),
        Err(Fault::ReadOnly { msr: ID })
    );
    assert_eq!(
        apic.msr_write(&mut ctx, VERSION, 0),
        Err(Fault::ReadOnly { msr: VERSION })
    );
    assert!(apic.is_destination(0x0002_0020, DestinationMode::Logical));
    assert!(!apic.is_destination(0x0003_0020, DestinationMode::Logical));
    assert!(apic.is_destination(0x25, DestinationMode::Physical));
}

#[test]
fn x2apic_icr_is_one_64_bit_msr() {
    let (mut apic, mut ctx) = x2apic();
    let value = (0x1234_5678u64 << 32) | 0x4049;
    apic.msr_write(&mut ctx, ICR, value).unwrap();
    assert_eq!(apic.msr_read(&mut ctx, ICR), Ok(value));
    let ipis = apic.take_ipis();
    assert_eq!(ipis.len(), 1);
    assert_eq!(ipis[0].destination, 0x1234_5678);
    assert_eq!(ipis[0].vector, 0x49);
    // ICR high does not exist in x2APIC mode.
    assert_eq!(
        apic.msr_read(&mut ctx, 0x831),
        Err(Fault::ReservedRegister { msr: 0x831 })
    );
    // To the own x2APIC ID: delivered locally.
    apic.msr_write(
        &mut ctx,
        ICR,
        (u64::from(super::tests_support::ID) << 32) | 0x4A,
    )
    .unwrap();
    assert_eq!(apic.pending_interrupt(), Some(0x4A));
}

#[test]
fn x2apic_writes_with_reserved_bits_fault_and_change_nothing() {
    let (mut apic, mut ctx) = x2apic();
    assert_eq!(
        apic.msr_write(&mut ctx, TPR, 0x100),
        Err(Fault::ReservedBits {
            msr: TPR,
            value: 0x100
        })
    );
    assert_eq!(
        apic.msr_write(&mut ctx, TPR, 1 << 32),
        Err(Fault::ReservedBits {
            msr: TPR,
            value: 1 << 32
        })
    );
    assert_eq!(apic.tpr(), 0);
    assert_eq!(
        apic.msr_write(&mut ctx, ICR, 1 << 12),
        Err(Fault::ReservedBits {
            msr: ICR,
            value: 1 << 12
        })
    );
    assert_eq!(
        apic.msr_write(&mut ctx, LVT_TIMER, 1 << 19),
        Err(Fault::ReservedBits {
            msr: LVT_TIMER,
            value: 1 << 19
        })
    );
    // Read-only bits written back (delivery status, remote IRR) are accepted.
    apic.msr_write(
        &mut ctx,
        LVT_LINT0,
        u64::from(0x30 | lvt::DELIVERY_STATUS | lvt::REMOTE_IRR),
    )
    .unwrap();
    assert_eq!(apic.msr_read(&mut ctx, LVT_LINT0), Ok(0x30));
}

#[test]
fn x2apic_eoi_and_esr_accept_only_zero() {
    let (mut apic, mut ctx) = x2apic();
    apic.accept(0x50, false).unwrap();
    apic.acknowledge();
    assert_eq!(
        apic.msr_write(&mut ctx, EOI, 1),
        Err(Fault::ReservedBits { msr: EOI, value: 1 })
    );
    assert!(apic.isr().contains(0x50));
    apic.msr_write(&mut ctx, EOI, 0).unwrap();
    assert!(apic.isr().is_empty());
    let _ = apic.accept(2, false);
    assert_eq!(
        apic.msr_write(&mut ctx, ESR, 5),
        Err(Fault::ReservedBits { msr: ESR, value: 5 })
    );
    apic.msr_write(&mut ctx, ESR, 0).unwrap();
    assert_eq!(
        apic.msr_read(&mut ctx, ESR),
        Ok(u64::from(esr::RECEIVE_ILLEGAL_VECTOR))
    );
}

#[test]
fn x2apic_self_ipi_msr_accepts_the_vector_locally() {
    let (mut apic, mut ctx) = x2apic();
    apic.msr_write(&mut ctx, SELF_IPI, 0x77).unwrap();
    assert_eq!(apic.pending_interrupt(), Some(0x77));
    assert!(apic.take_ipis().is_empty());
    assert_eq!(
        apic.msr_write(&mut ctx, SELF_IPI, 0x177),
        Err(Fault::ReservedBits {
            msr: SELF_IPI,
            value: 0x177
        })
    );
}

#[test]
fn x2apic_write_only_and_missing_registers_fault() {
    let (mut apic, mut ctx) = x2apic();
    for number in [EOI, SELF_IPI] {
        assert_eq!(
            apic.msr_read(&mut ctx, number),
            Err(Fault::WriteOnly { msr: number })
        );
    }
    for number in [DFR, 0x809, 0x80C, 0x82F, 0x840, 0x8FF] {
        assert_eq!(
            apic.msr_read(&mut ctx, number),
            Err(Fault::ReservedRegister { msr: number })
        );
    }
    assert_eq!(
        apic.msr_write(&mut ctx, PPR, 0),
        Err(Fault::ReadOnly { msr: PPR })
    );
}

#[test]
fn x2apic_shared_registers_read_as_in_xapic_mode() {
    let (mut apic, mut ctx) = x2apic();
    apic.msr_write(&mut ctx, TPR, 0x35).unwrap();
    assert_eq!(apic.msr_read(&mut ctx, TPR), Ok(0x35));
    assert_eq!(apic.msr_read(&mut ctx, PPR), Ok(0x35));
    assert_eq!(apic.msr_read(&mut ctx, SVR), Ok(u64::from(SVR_ENABLED)));
    assert_eq!(
        apic.msr_read(&mut ctx, VERSION),
        Ok(u64::from(VERSION_VALUE))
    );
}

#[test]
fn x2apic_to_disabled_resets_and_allows_xapic_again() {
    let (mut apic, mut ctx) = x2apic();
    apic.msr_write(&mut ctx, TPR, 0x35).unwrap();
    apic.set_apic_base(&mut ctx, base::DEFAULT_ADDRESS).unwrap();
    apic.set_apic_base(&mut ctx, base::DEFAULT_ADDRESS | base::ENABLE)
        .unwrap();
    assert_eq!(apic.mode(), ApicMode::XApic);
    assert_eq!(apic.tpr(), 0);
    assert_eq!(read(&mut apic, &mut ctx, offset::VERSION), VERSION_VALUE);
}
