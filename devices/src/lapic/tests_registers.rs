//! The xAPIC register file and IA32_APIC_BASE, one documented behaviour per test.

use crate::interface::{Device, MmioRange, Region};

use super::registers::{base, esr, lvt, offset, svr};
use super::tests_support::*;
use super::*;

#[test]
fn lapic_power_on_state_matches_the_sdm_reset_values() {
    let (mut apic, mut ctx) = powered();
    assert_eq!(
        apic.apic_base(),
        base::DEFAULT_ADDRESS | base::ENABLE | base::BSP
    );
    assert_eq!(apic.mode(), ApicMode::XApic);
    assert_eq!(read(&mut apic, &mut ctx, offset::ID), ID << 24);
    assert_eq!(read(&mut apic, &mut ctx, offset::SVR), 0xFF);
    assert_eq!(read(&mut apic, &mut ctx, offset::DFR), 0xFFFF_FFFF);
    assert_eq!(read(&mut apic, &mut ctx, offset::TPR), 0);
    assert_eq!(read(&mut apic, &mut ctx, offset::LVT_TIMER), lvt::MASK);
    assert_eq!(read(&mut apic, &mut ctx, offset::LVT_ERROR), lvt::MASK);
    // The BSP's LINT0 is in virtual-wire mode: ExtINT, unmasked.
    assert_eq!(read(&mut apic, &mut ctx, offset::LVT_LINT0), 0x700);
    assert!(apic.lint0_extint_enabled());
    assert!(!apic.is_enabled());
}

#[test]
fn lapic_application_processor_powers_on_with_lint0_masked() {
    let config = LapicConfig {
        bootstrap: false,
        ..LapicConfig::bootstrap(1)
    };
    let (mut apic, mut ctx) = powered_with(config);
    assert_eq!(apic.apic_base(), base::DEFAULT_ADDRESS | base::ENABLE);
    assert_eq!(read(&mut apic, &mut ctx, offset::LVT_LINT0), lvt::MASK);
    assert!(!apic.lint0_extint_enabled());
}

#[test]
fn lapic_install_claims_the_xapic_page() {
    let (apic, ctx) = powered();
    let page = MmioRange::new(PAGE, 0x1000).unwrap();
    assert_eq!(ctx.claims(), [Region::Mmio(page)]);
    assert_eq!(apic.claimed_page(), Some(page));
}

#[test]
fn lapic_version_reports_six_lvt_entries_and_eoi_broadcast_suppression() {
    let (mut apic, mut ctx) = powered();
    assert_eq!(read(&mut apic, &mut ctx, offset::VERSION), 0x0105_0014);
}

#[test]
fn lapic_config_with_zero_frequency_or_bad_address_width_is_refused() {
    let zero = LapicConfig {
        timer_frequency_hz: 0,
        ..LapicConfig::bootstrap(0)
    };
    assert_eq!(LocalApic::new(zero).err(), Some(ConfigError::Frequency(0)));
    let narrow = LapicConfig {
        physical_address_bits: 32,
        ..LapicConfig::bootstrap(0)
    };
    assert_eq!(
        LocalApic::new(narrow).err(),
        Some(ConfigError::PhysicalAddressBits(32))
    );
    assert_eq!(
        LocalApic::new(LapicConfig::bootstrap(u32::MAX)).err(),
        Some(ConfigError::BroadcastId)
    );
}

#[test]
fn lapic_tpr_keeps_only_bits_7_to_0() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::TPR, 0xFFFF_FF5A);
    assert_eq!(read(&mut apic, &mut ctx, offset::TPR), 0x5A);
    assert_eq!(apic.tpr(), 0x5A);
}

#[test]
fn lapic_xapic_id_ldr_and_dfr_keep_their_defined_bits() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::ID, 0x07AB_CDEF);
    assert_eq!(read(&mut apic, &mut ctx, offset::ID), 0x0700_0000);
    assert_eq!(apic.id(), 7);
    write(&mut apic, &mut ctx, offset::LDR, 0x12FF_FFFF);
    assert_eq!(read(&mut apic, &mut ctx, offset::LDR), 0x1200_0000);
    write(&mut apic, &mut ctx, offset::DFR, 0x0000_0000);
    assert_eq!(read(&mut apic, &mut ctx, offset::DFR), 0x0FFF_FFFF);
}

#[test]
fn lapic_read_only_registers_ignore_xapic_writes() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::VERSION, 0);
    write(&mut apic, &mut ctx, offset::PPR, 0xF0);
    write(&mut apic, &mut ctx, offset::IRR + 0x70, u32::MAX);
    write(&mut apic, &mut ctx, offset::TIMER_CURRENT, 5);
    assert_eq!(read(&mut apic, &mut ctx, offset::VERSION), VERSION_VALUE);
    assert_eq!(read(&mut apic, &mut ctx, offset::PPR), 0);
    assert_eq!(read(&mut apic, &mut ctx, offset::IRR + 0x70), 0);
    assert_eq!(read(&mut apic, &mut ctx, offset::TIMER_CURRENT), 0);
    assert_eq!(apic.pending_errors(), 0);
}

#[test]
fn lapic_reserved_register_reads_zero_and_sets_illegal_register_address() {
    let (mut apic, mut ctx) = enabled();
    // 0x3F0 (self IPI) exists only in x2APIC mode; 0x2F0 is CMCI, beyond max LVT 5.
    assert_eq!(read(&mut apic, &mut ctx, offset::SELF_IPI), 0);
    assert_eq!(apic.pending_errors(), esr::ILLEGAL_REGISTER_ADDRESS);
    write(&mut apic, &mut ctx, offset::ESR, 0);
    write(&mut apic, &mut ctx, offset::LVT_CMCI, 0x30);
    assert_eq!(apic.esr(), esr::ILLEGAL_REGISTER_ADDRESS);
    assert_eq!(apic.pending_errors(), esr::ILLEGAL_REGISTER_ADDRESS);
    // APR and RRD are not supported since the Pentium 4 and raise no error.
    write(&mut apic, &mut ctx, offset::ESR, 0);
    assert_eq!(read(&mut apic, &mut ctx, offset::APR), 0);
    assert_eq!(read(&mut apic, &mut ctx, offset::RRD), 0);
    assert_eq!(apic.pending_errors(), 0);
}

#[test]
fn lapic_esr_latches_errors_on_write() {
    let (mut apic, mut ctx) = enabled();
    assert_eq!(apic.accept(5, false), Err(AcceptError::IllegalVector(5)));
    // Not visible until software writes the ESR.
    assert_eq!(read(&mut apic, &mut ctx, offset::ESR), 0);
    write(&mut apic, &mut ctx, offset::ESR, 0);
    assert_eq!(
        read(&mut apic, &mut ctx, offset::ESR),
        esr::RECEIVE_ILLEGAL_VECTOR
    );
    // The next write latches the errors since: none.
    write(&mut apic, &mut ctx, offset::ESR, 0xFFFF_FFFF);
    assert_eq!(read(&mut apic, &mut ctx, offset::ESR), 0);
}

#[test]
fn lapic_narrow_reads_return_register_bytes_and_slot_padding_reads_zero() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::TIMER_INITIAL, 0x1234_5678);
    let mut byte = [0u8; 1];
    apic.mmio_read(
        &mut ctx,
        PAGE + u64::from(offset::TIMER_INITIAL) + 2,
        &mut byte,
    );
    assert_eq!(byte, [0x34]);
    let mut wide = [0xAAu8; 8];
    apic.mmio_read(&mut ctx, PAGE + u64::from(offset::TIMER_INITIAL), &mut wide);
    assert_eq!(wide, [0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]);
}

#[test]
fn lapic_unaligned_and_narrow_writes_are_dropped_and_counted() {
    let (mut apic, mut ctx) = enabled();
    apic.mmio_write(&mut ctx, PAGE + u64::from(offset::TPR), &[0x40]);
    apic.mmio_write(
        &mut ctx,
        PAGE + u64::from(offset::TPR) + 4,
        &0x50u32.to_le_bytes(),
    );
    apic.mmio_write(
        &mut ctx,
        PAGE + u64::from(offset::TPR),
        &0x60u64.to_le_bytes(),
    );
    assert_eq!(apic.tpr(), 0);
    assert_eq!(apic.counters().malformed_accesses, 3);
}

#[test]
fn lapic_software_disable_masks_every_lvt_and_keeps_them_masked() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::LVT_TIMER, 0x30);
    assert_eq!(read(&mut apic, &mut ctx, offset::LVT_TIMER), 0x30);
    write(&mut apic, &mut ctx, offset::SVR, 0xFF);
    for entry in Lvt::ALL {
        assert_ne!(apic.lvt(entry) & lvt::MASK, 0, "{entry:?} unmasked");
    }
    write(&mut apic, &mut ctx, offset::LVT_TIMER, 0x30);
    assert_eq!(
        read(&mut apic, &mut ctx, offset::LVT_TIMER),
        0x30 | lvt::MASK
    );
}

#[test]
fn lapic_svr_stores_vector_enable_and_eoi_suppression_only() {
    let (mut apic, mut ctx) = powered();
    write(&mut apic, &mut ctx, offset::SVR, 0xFFFF_FFFF);
    assert_eq!(read(&mut apic, &mut ctx, offset::SVR), svr::WRITABLE);
    assert_eq!(apic.spurious_vector(), 0xFF);
    assert!(apic.is_enabled());
}

#[test]
fn lapic_lvt_entries_keep_writable_bits_and_read_delivery_status_idle() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::LVT_LINT1, 0xFFFF_FFFF);
    assert_eq!(
        read(&mut apic, &mut ctx, offset::LVT_LINT1),
        lvt::LINT_WRITABLE
    );
    write(&mut apic, &mut ctx, offset::LVT_ERROR, 0xFFFF_FFFF);
    assert_eq!(
        read(&mut apic, &mut ctx, offset::LVT_ERROR),
        lvt::ERROR_WRITABLE
    );
    write(&mut apic, &mut ctx, offset::LVT_PERF, 0xFFFF_FFFF);
    assert_eq!(
        read(&mut apic, &mut ctx, offset::LVT_PERF),
        lvt::LOCAL_WRITABLE
    );
}

#[test]
fn lapic_page_moves_with_apic_base() {
    let (mut apic, mut ctx) = enabled();
    let moved = 0xFED0_0000u64;
    apic.set_apic_base(&mut ctx, moved | base::ENABLE).unwrap();
    assert_eq!(apic.page_address(), moved);
    let page = MmioRange::new(moved, 0x1000).unwrap();
    assert_eq!(ctx.claims(), [Region::Mmio(page)]);
    let mut data = [0u8; 4];
    apic.mmio_read(&mut ctx, moved + u64::from(offset::VERSION), &mut data);
    assert_eq!(u32::from_le_bytes(data), VERSION_VALUE);
    // The old page is no longer decoded.
    apic.mmio_read(&mut ctx, PAGE + u64::from(offset::VERSION), &mut data);
    assert_eq!(data, [0xFF; 4]);
}

#[test]
fn lapic_globally_disabled_page_reads_all_ones_and_drops_writes() {
    let (mut apic, mut ctx) = enabled();
    apic.set_apic_base(&mut ctx, base::DEFAULT_ADDRESS).unwrap();
    assert_eq!(apic.mode(), ApicMode::Disabled);
    assert_eq!(read(&mut apic, &mut ctx, offset::VERSION), 0xFFFF_FFFF);
    write(&mut apic, &mut ctx, offset::TPR, 0x20);
    assert_eq!(apic.tpr(), 0);
    assert_eq!(apic.accept(0x40, false), Err(AcceptError::Disabled));
}

#[test]
fn apic_base_refuses_reserved_bits_and_illegal_transitions() {
    let (mut apic, mut ctx) = enabled();
    let xapic = apic.apic_base();
    for reserved in [1u64 << 9, 1, 1u64 << 46, 1u64 << 63] {
        assert_eq!(
            apic.set_apic_base(&mut ctx, xapic | reserved),
            Err(Fault::ReservedBaseBits {
                value: xapic | reserved
            })
        );
    }
    let invalid = base::DEFAULT_ADDRESS | base::EXTD;
    assert_eq!(
        apic.set_apic_base(&mut ctx, invalid),
        Err(Fault::InvalidMode { value: invalid })
    );
    apic.set_apic_base(&mut ctx, xapic | base::EXTD).unwrap();
    assert_eq!(
        apic.set_apic_base(&mut ctx, xapic),
        Err(Fault::IllegalTransition {
            from: ApicMode::X2Apic,
            to: ApicMode::XApic
        })
    );
    apic.set_apic_base(&mut ctx, base::DEFAULT_ADDRESS).unwrap();
    assert_eq!(
        apic.set_apic_base(&mut ctx, xapic | base::EXTD),
        Err(Fault::IllegalTransition {
            from: ApicMode::Disabled,
            to: ApicMode::X2Apic
        })
    );
    assert_eq!(apic.mode(), ApicMode::Disabled);
}

#[test]
fn apic_base_bsp_flag_is_read_only() {
    let (mut apic, mut ctx) = enabled();
    apic.set_apic_base(&mut ctx, base::DEFAULT_ADDRESS | base::ENABLE)
        .unwrap();
    assert_ne!(apic.apic_base() & base::BSP, 0);
}

#[test]
fn apic_base_disable_then_enable_resets_registers_to_power_up_values() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::TPR, 0x30);
    apic.accept(0x40, false).unwrap();
    apic.set_apic_base(&mut ctx, base::DEFAULT_ADDRESS).unwrap();
    apic.set_apic_base(&mut ctx, base::DEFAULT_ADDRESS | base::ENABLE)
        .unwrap();
    assert_eq!(apic.tpr(), 0);
    assert!(apic.irr().is_empty());
    assert_eq!(apic.svr(), 0xFF);
}

#[test]
fn lapic_init_reset_keeps_id_and_base() {
    let (mut apic, mut ctx) = enabled();
    write(&mut apic, &mut ctx, offset::ID, 0x0900_0000);
    write(&mut apic, &mut ctx, offset::TPR, 0x30);
    apic.init_reset(&mut ctx);
    assert_eq!(apic.id(), 9);
    assert_eq!(apic.tpr(), 0);
    assert_eq!(apic.mode(), ApicMode::XApic);
    assert!(!apic.is_enabled());
}

#[test]
fn lapic_remove_releases_the_page() {
    let (mut apic, mut ctx) = enabled();
    apic.remove(&mut ctx).unwrap();
    assert!(ctx.claims().is_empty());
    assert!(ctx.timers().is_empty());
}
