//! CPUID as the guest sees it: the host's answers, filtered so the guest is told only about
//! what this hypervisor virtualizes (no VMX, no monitor/mwait, no APIC or MTRR until they are
//! modelled), with the hypervisor-present bit and our leaves 0x4000_0000+, and per-VM
//! overrides applied last.
//!
//! A feature whose MSRs the guest would reach but the hypervisor does not emulate (`exits::msr`
//! answers #GP) is hidden: an OS that reads such an MSR without `rdmsr_safe` (Linux 6.1 does for
//! most of them) would log "unchecked MSR access error". Features whose MSR is emulated stay
//! (TSC_ADJUST; MCE/MCA with a bank-less MCG_CAP). XSAVEC and XSAVES are hidden too: IA32_XSS is
//! not emulated, and an OS using the compacted format sizes its buffer from CPUID.(0xD,1).EBX,
//! which Bochs reports in the standard layout (Linux then warns "XSAVE consistency problem");
//! with both hidden the standard format is used, sized by CPUID.(0xD,0).EBX for the guest's
//! XCR0.

use super::Flow;
use crate::vm::Vm;
use crate::vmx::entry::gpr;

/// EBX:ECX:EDX of leaf 0x4000_0000.
pub const HYPERVISOR_SIGNATURE: &[u8; 12] = b"RustMicroHV!";
/// First hypervisor leaf.
pub const HYPERVISOR_BASE: u32 = 0x4000_0000;
/// Last hypervisor leaf we answer (EAX of the base leaf).
pub const HYPERVISOR_MAX: u32 = 0x4000_0001;
/// End of the range reserved for hypervisors.
const HYPERVISOR_RANGE_END: u32 = 0x4000_00ff;

/// Leaf 1 ECX bit 2: DTES64, 64-bit debug store (IA32_DS_AREA).
const LEAF1_ECX_DTES64: u32 = 1 << 2;
/// Leaf 1 ECX bit 3: MONITOR/MWAIT.
const LEAF1_ECX_MONITOR: u32 = 1 << 3;
/// Leaf 1 ECX bit 4: DS-CPL, CPL-qualified debug store.
const LEAF1_ECX_DS_CPL: u32 = 1 << 4;
/// Leaf 1 ECX bit 5: VMX.
const LEAF1_ECX_VMX: u32 = 1 << 5;
/// Leaf 1 ECX bit 6: SMX.
const LEAF1_ECX_SMX: u32 = 1 << 6;
/// Leaf 1 ECX bit 7: EST, Enhanced SpeedStep (IA32_PERF_CTL/PERF_STATUS).
const LEAF1_ECX_EST: u32 = 1 << 7;
/// Leaf 1 ECX bit 8: TM2, thermal monitor 2.
const LEAF1_ECX_TM2: u32 = 1 << 8;
/// Leaf 1 ECX bit 15: PDCM, IA32_PERF_CAPABILITIES.
const LEAF1_ECX_PDCM: u32 = 1 << 15;
/// Leaf 1 ECX bit 18: DCA, direct cache access (IA32_PLATFORM_DCA_CAP).
const LEAF1_ECX_DCA: u32 = 1 << 18;
/// Leaf 1 ECX bit 21: x2APIC.
const LEAF1_ECX_X2APIC: u32 = 1 << 21;
/// Leaf 1 ECX bit 24: TSC deadline.
const LEAF1_ECX_TSC_DEADLINE: u32 = 1 << 24;
/// Leaf 1 ECX bit 27: OSXSAVE, a copy of the (guest's) CR4.OSXSAVE.
const LEAF1_ECX_OSXSAVE: u32 = 1 << 27;
/// CR4.OSXSAVE.
const CR4_OSXSAVE: u64 = 1 << 18;
/// Leaf 1 ECX bit 31: running under a hypervisor.
const LEAF1_ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 1 EDX bit 9: on-chip APIC.
const LEAF1_EDX_APIC: u32 = 1 << 9;
/// Leaf 1 EDX bit 12: MTRRs.
const LEAF1_EDX_MTRR: u32 = 1 << 12;
/// Leaf 1 EDX bit 21: DS, debug store (IA32_DS_AREA).
const LEAF1_EDX_DS: u32 = 1 << 21;
/// Leaf 1 EDX bit 22: ACPI thermal MSRs.
const LEAF1_EDX_ACPI: u32 = 1 << 22;
/// Leaf 1 EDX bit 29: TM, thermal monitor (IA32_THERM_* MSRs).
const LEAF1_EDX_TM: u32 = 1 << 29;
/// Leaf 1 EDX bit 31: PBE, pending break enable (a package power-management pin).
const LEAF1_EDX_PBE: u32 = 1 << 31;
/// Leaf 1 ECX features hidden whatever the VM has.
const LEAF1_ECX_HIDDEN: u32 = LEAF1_ECX_DTES64
    | LEAF1_ECX_MONITOR
    | LEAF1_ECX_DS_CPL
    | LEAF1_ECX_VMX
    | LEAF1_ECX_SMX
    | LEAF1_ECX_EST
    | LEAF1_ECX_TM2
    | LEAF1_ECX_PDCM
    | LEAF1_ECX_DCA;
/// Leaf 1 EDX features hidden whatever the VM has.
const LEAF1_EDX_HIDDEN: u32 =
    LEAF1_EDX_MTRR | LEAF1_EDX_DS | LEAF1_EDX_ACPI | LEAF1_EDX_TM | LEAF1_EDX_PBE;

/// Leaf 6: thermal and power management.
const LEAF_THERMAL_POWER: u32 = 6;
/// Leaf 6 EAX bit 2: ARAT, the APIC timer keeps running in deep C-states. True of the emulated
/// local APIC in every guest idle state. Everything else in leaf 6 is the package's thermal and
/// P-state machinery (digital sensor, HWP, APERF/MPERF, energy-performance bias) whose MSRs are
/// not emulated: Linux reads IA32_APERF/MPERF (`arch/x86/kernel/cpu/aperfmperf.c`),
/// MSR_PLATFORM_INFO (`drivers/cpufreq/intel_pstate.c`, "Invalid MSRs") and
/// IA32_ENERGY_PERF_BIAS (`arch/x86/kernel/cpu/intel_epb.c`) when they are offered.
const LEAF6_EAX_ARAT: u32 = 1 << 2;

/// Leaf 7 EBX bit 2: SGX.
const LEAF7_EBX_SGX: u32 = 1 << 2;
/// Leaf 7 EBX bit 12: PQM, RDT monitoring (IA32_PQR_ASSOC, IA32_QM_*).
const LEAF7_EBX_PQM: u32 = 1 << 12;
/// Leaf 7 EBX bit 14: MPX (IA32_BNDCFGS).
const LEAF7_EBX_MPX: u32 = 1 << 14;
/// Leaf 7 EBX bit 15: PQE, RDT allocation (IA32_L3_MASK_n).
const LEAF7_EBX_PQE: u32 = 1 << 15;
/// Leaf 7 EBX bit 25: Intel Processor Trace (IA32_RTIT_*).
const LEAF7_EBX_INTEL_PT: u32 = 1 << 25;
/// Leaf 7 EBX features hidden. TSC_ADJUST (bit 1) stays: the MSR is emulated.
const LEAF7_EBX_HIDDEN: u32 =
    LEAF7_EBX_SGX | LEAF7_EBX_PQM | LEAF7_EBX_MPX | LEAF7_EBX_PQE | LEAF7_EBX_INTEL_PT;
/// Leaf 7 ECX bit 4: OSPKE, a copy of the (guest's) CR4.PKE, like OSXSAVE.
const LEAF7_ECX_OSPKE: u32 = 1 << 4;
/// CR4.PKE.
const CR4_PKE: u64 = 1 << 22;
/// Leaf 7 ECX bit 5: WAITPKG (UMWAIT/TPAUSE).
const LEAF7_ECX_WAITPKG: u32 = 1 << 5;
/// Leaf 7 ECX bit 7: CET shadow stacks (IA32_U_CET/S_CET, IA32_PL*_SSP).
const LEAF7_ECX_CET_SS: u32 = 1 << 7;
/// Leaf 7 ECX bit 13: TME (IA32_TME_ACTIVATE, read unchecked by Linux's `detect_tme_early`).
const LEAF7_ECX_TME: u32 = 1 << 13;
/// Leaf 7 ECX bit 24: bus-lock #DB (IA32_DEBUGCTL, read unchecked by Linux's `bus_lock_init`).
const LEAF7_ECX_BUS_LOCK_DETECT: u32 = 1 << 24;
/// Leaf 7 ECX bit 30: SGX launch control (IA32_SGXLEPUBKEYHASHn).
const LEAF7_ECX_SGX_LC: u32 = 1 << 30;
/// Leaf 7 ECX features hidden (OSPKE is then set from the guest's CR4).
const LEAF7_ECX_HIDDEN: u32 = LEAF7_ECX_OSPKE
    | LEAF7_ECX_WAITPKG
    | LEAF7_ECX_CET_SS
    | LEAF7_ECX_TME
    | LEAF7_ECX_BUS_LOCK_DETECT
    | LEAF7_ECX_SGX_LC;
/// Leaf 7 EDX bits 26, 27, 29, 31: IBRS/IBPB, STIBP, ARCH_CAPABILITIES, SSBD (MSRs we do not
/// emulate).
const LEAF7_EDX_SPECULATION_MSRS: u32 = (1 << 26) | (1 << 27) | (1 << 29) | (1 << 31);
/// Leaf 7 EDX bit 9: SRBDS_CTRL (IA32_MCU_OPT_CTRL).
const LEAF7_EDX_SRBDS_CTRL: u32 = 1 << 9;
/// Leaf 7 EDX bit 13: TSX_FORCE_ABORT (MSR_TSX_FORCE_ABORT).
const LEAF7_EDX_TSX_FORCE_ABORT: u32 = 1 << 13;
/// Leaf 7 EDX bit 19: architectural LBRs (IA32_LBR_*).
const LEAF7_EDX_ARCH_LBR: u32 = 1 << 19;
/// Leaf 7 EDX bit 20: CET indirect-branch tracking (IA32_S_CET).
const LEAF7_EDX_CET_IBT: u32 = 1 << 20;
/// Leaf 7 EDX bit 28: L1D_FLUSH (IA32_FLUSH_CMD).
const LEAF7_EDX_L1D_FLUSH: u32 = 1 << 28;
/// Leaf 7 EDX bit 30: IA32_CORE_CAPABILITIES.
const LEAF7_EDX_CORE_CAPABILITIES: u32 = 1 << 30;
/// Leaf 7 EDX features hidden.
const LEAF7_EDX_HIDDEN: u32 = LEAF7_EDX_SPECULATION_MSRS
    | LEAF7_EDX_SRBDS_CTRL
    | LEAF7_EDX_TSX_FORCE_ABORT
    | LEAF7_EDX_ARCH_LBR
    | LEAF7_EDX_CET_IBT
    | LEAF7_EDX_L1D_FLUSH
    | LEAF7_EDX_CORE_CAPABILITIES;
/// Leaf 7 sub-leaf 2 EDX bits 0–4: PSFD, IPRED_CTRL, RRSBA_CTRL, DDPD_U, BHI_CTRL, all
/// IA32_SPEC_CTRL bits (not emulated).
const LEAF7_2_EDX_SPEC_CTRL_BITS: u32 = 0b1_1111;
/// Leaf 0xA: architectural performance monitoring (not virtualized).
const LEAF_PERFORMANCE_MONITORING: u32 = 0xa;
/// Leaf 0xD: XSAVE state components; sub-leaf 1 lists the XSAVE instruction extensions.
const LEAF_XSAVE: u32 = 0xd;
/// Leaf 0xD sub-leaf 1 EAX bit 1: XSAVEC (compacted format).
const XSAVE_EAX_XSAVEC: u32 = 1 << 1;
/// Leaf 0xD sub-leaf 1 EAX bit 3: XSAVES/XRSTORS and IA32_XSS.
const XSAVE_EAX_XSAVES: u32 = 1 << 3;
/// Leaf 0xD sub-leaf 1 EAX bit 4: extended feature disable (IA32_XFD, IA32_XFD_ERR).
const XSAVE_EAX_XFD: u32 = 1 << 4;
/// Leaves describing features hidden above: 0xF/0x10 RDT monitoring/allocation, 0x12 SGX,
/// 0x14 Processor Trace. They read as all zero.
const LEAVES_OF_HIDDEN_FEATURES: [u32; 4] = [0xf, 0x10, 0x12, 0x14];
/// Leaf 0x15: TSC / core crystal clock — EAX ratio denominator, EBX numerator, ECX crystal Hz
/// (SDM vol. 2A, CPUID). Answered from the TSC rate the hypervisor calibrated, the crystal
/// being the VM's local APIC timer clock: Linux (`native_calibrate_tsc`) then knows its TSC
/// rate without measuring it and takes the crystal as its APIC timer rate. The host's answer
/// may not describe the TSC the guest sees (Bochs reports its model's 3.5 GHz for a 100 MHz
/// TSC: Linux's clock ran 35× slow), and measuring is what fails under an emulator: Linux's
/// PIT calibration needs thousands of port reads within 10 ms, each an exit.
const LEAF_TSC_CRYSTAL: u32 = 0x15;
/// Leaf 0x16: processor base / maximum / bus frequency in MHz (EAX, EBX, ECX).
const LEAF_FREQUENCIES: u32 = 0x16;
/// Hz per MHz.
const HZ_PER_MHZ: u32 = 1_000_000;
/// Hz per kHz.
const HZ_PER_KHZ: u32 = 1000;

/// The VM's clock rates, for leaves 0x15 and 0x16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestClocks {
    /// The TSC (the host's), in MHz.
    pub tsc_mhz: u32,
    /// The local APIC timer's input clock, in Hz (leaf 0x15's crystal).
    pub crystal_hz: u32,
}

impl GuestClocks {
    /// Leaf 0x15: TSC Hz = ECX × EBX / EAX with ECX = the crystal in Hz, EBX = the TSC in MHz
    /// and EAX = the crystal in MHz. "Not enumerated" (all zero) unless the crystal is a whole
    /// number of MHz and Linux's 32-bit product `crystal_khz * EBX` fits (a 1 GHz crystal
    /// allows TSCs up to 4294 MHz).
    fn tsc_leaf(self) -> CpuidResult {
        let crystal_mhz = self.crystal_hz / HZ_PER_MHZ;
        let product = u64::from(self.crystal_hz / HZ_PER_KHZ) * u64::from(self.tsc_mhz);
        if self.tsc_mhz == 0
            || crystal_mhz == 0
            || !self.crystal_hz.is_multiple_of(HZ_PER_MHZ)
            || product > u64::from(u32::MAX)
        {
            return CpuidResult::default();
        }
        CpuidResult {
            eax: crystal_mhz,
            ebx: self.tsc_mhz,
            ecx: self.crystal_hz,
            edx: 0,
        }
    }

    /// Leaf 0x16: base and maximum frequency = the TSC's; no bus frequency.
    fn frequency_leaf(self) -> CpuidResult {
        CpuidResult {
            eax: self.tsc_mhz,
            ebx: self.tsc_mhz,
            ..CpuidResult::default()
        }
    }
}

/// One CPUID answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuidResult {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

/// A per-VM replacement of one leaf (and sub-leaf, when given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuidOverride {
    pub leaf: u32,
    pub subleaf: Option<u32>,
    pub result: CpuidResult,
}

/// The guest's answer for `leaf`/`subleaf` given the host's and the guest's CR4.
pub fn filter(
    leaf: u32,
    subleaf: u32,
    host: CpuidResult,
    guest_cr4: u64,
    apic: bool,
    clocks: GuestClocks,
    overrides: &[CpuidOverride],
) -> CpuidResult {
    let osxsave = if guest_cr4 & CR4_OSXSAVE != 0 {
        LEAF1_ECX_OSXSAVE
    } else {
        0
    };
    let ospke = if guest_cr4 & CR4_PKE != 0 {
        LEAF7_ECX_OSPKE
    } else {
        0
    };
    let mut result = match leaf {
        HYPERVISOR_BASE => {
            let word = |i: usize| {
                u32::from_le_bytes([
                    HYPERVISOR_SIGNATURE[i],
                    HYPERVISOR_SIGNATURE[i + 1],
                    HYPERVISOR_SIGNATURE[i + 2],
                    HYPERVISOR_SIGNATURE[i + 3],
                ])
            };
            CpuidResult {
                eax: HYPERVISOR_MAX,
                ebx: word(0),
                ecx: word(4),
                edx: word(8),
            }
        }
        // 0x4000_0001: no paravirtual features; the rest of the range is empty.
        HYPERVISOR_MAX..=HYPERVISOR_RANGE_END => CpuidResult::default(),
        1 => CpuidResult {
            ecx: (host.ecx
                & !(LEAF1_ECX_HIDDEN
                    | LEAF1_ECX_X2APIC
                    | LEAF1_ECX_TSC_DEADLINE
                    | LEAF1_ECX_OSXSAVE))
                | LEAF1_ECX_HYPERVISOR
                | osxsave
                | if apic {
                    LEAF1_ECX_X2APIC | LEAF1_ECX_TSC_DEADLINE
                } else {
                    0
                },
            edx: (host.edx & !(LEAF1_EDX_APIC | LEAF1_EDX_HIDDEN))
                | if apic { LEAF1_EDX_APIC } else { 0 },
            ..host
        },
        LEAF_THERMAL_POWER => CpuidResult {
            eax: LEAF6_EAX_ARAT,
            ..CpuidResult::default()
        },
        7 if subleaf == 0 => CpuidResult {
            ebx: host.ebx & !LEAF7_EBX_HIDDEN,
            ecx: (host.ecx & !LEAF7_ECX_HIDDEN) | ospke,
            edx: host.edx & !LEAF7_EDX_HIDDEN,
            ..host
        },
        7 if subleaf == 2 => CpuidResult {
            edx: host.edx & !LEAF7_2_EDX_SPEC_CTRL_BITS,
            ..host
        },
        LEAF_PERFORMANCE_MONITORING => CpuidResult::default(),
        LEAF_XSAVE if subleaf == 1 => CpuidResult {
            eax: host.eax & !(XSAVE_EAX_XSAVEC | XSAVE_EAX_XSAVES | XSAVE_EAX_XFD),
            ebx: host.ebx,
            // The supervisor components IA32_XSS could enable: none without IA32_XSS.
            ecx: 0,
            edx: 0,
        },
        leaf if LEAVES_OF_HIDDEN_FEATURES.contains(&leaf) => CpuidResult::default(),
        LEAF_TSC_CRYSTAL => clocks.tsc_leaf(),
        LEAF_FREQUENCIES => clocks.frequency_leaf(),
        _ => host,
    };
    for o in overrides
        .iter()
        .filter(|o| o.leaf == leaf && o.subleaf.is_none_or(|s| s == subleaf))
    {
        result = o.result;
    }
    result
}

/// The CPUID exit: answer from the host's CPUID, filtered.
pub fn handle(vm: &mut Vm) -> Flow {
    let registers = &mut vm.vcpu.registers.gprs;
    let (leaf, subleaf) = (registers[gpr::RAX] as u32, registers[gpr::RCX] as u32);
    let host = if (HYPERVISOR_BASE..=HYPERVISOR_RANGE_END).contains(&leaf) {
        CpuidResult::default()
    } else {
        let raw = core::arch::x86_64::__cpuid_count(leaf, subleaf);
        CpuidResult {
            eax: raw.eax,
            ebx: raw.ebx,
            ecx: raw.ecx,
            edx: raw.edx,
        }
    };
    // OSXSAVE is not a hypervisor-owned bit: the guest writes it straight into its CR4.
    let guest_cr4 = crate::vm::vcpu::read(crate::vmx::fields::VmcsField::GuestCr4);
    let apic = vm
        .platform
        .controllers
        .as_ref()
        .is_some_and(|c| c.apics.is_some());
    let clocks = GuestClocks {
        tsc_mhz: u32::try_from(crate::arch::x86_64::tsc::hz() / u64::from(HZ_PER_MHZ)).unwrap_or(0),
        crystal_hz: u32::try_from(crate::vm::machine::LAPIC_TIMER_HZ).unwrap_or(0),
    };
    let answer = filter(
        leaf,
        subleaf,
        host,
        guest_cr4,
        apic,
        clocks,
        &vm.cpuid_overrides,
    );
    registers[gpr::RAX] = u64::from(answer.eax);
    registers[gpr::RBX] = u64::from(answer.ebx);
    registers[gpr::RCX] = u64::from(answer.ecx);
    registers[gpr::RDX] = u64::from(answer.edx);
    vm.vcpu.skip_instruction();
    Flow::Resume
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bochs: a 100 MHz TSC; the VM's APIC timer at 1 GHz.
    const CLOCKS: GuestClocks = GuestClocks {
        tsc_mhz: 100,
        crystal_hz: 1_000_000_000,
    };

    const HOST_LEAF1: CpuidResult = CpuidResult {
        eax: 0x50654,
        ebx: 0x0800,
        ecx: 0xfffa_3223,
        edx: 0x0f8b_fbff,
    };

    #[test]
    fn leaf1_hides_vmx_and_sets_hypervisor_bit() {
        let guest = filter(1, 0, HOST_LEAF1, 0, false, CLOCKS, &[]);
        assert_eq!(guest.ecx & LEAF1_ECX_VMX, 0);
        assert_eq!(guest.ecx & LEAF1_ECX_HYPERVISOR, LEAF1_ECX_HYPERVISOR);
        assert_eq!(guest.ecx & LEAF1_ECX_MONITOR, 0);
        assert_eq!(guest.edx & (LEAF1_EDX_APIC | LEAF1_EDX_MTRR), 0);
        assert_eq!(guest.eax, HOST_LEAF1.eax);
        assert_eq!(
            guest.ecx & LEAF1_ECX_OSXSAVE,
            0,
            "OSXSAVE follows the guest's CR4, not the host's"
        );
        let with_osxsave = filter(1, 0, HOST_LEAF1, CR4_OSXSAVE, false, CLOCKS, &[]);
        assert_eq!(with_osxsave.ecx & LEAF1_ECX_OSXSAVE, LEAF1_ECX_OSXSAVE);
    }

    #[test]
    fn hypervisor_leaf_carries_the_signature() {
        let leaf = filter(
            HYPERVISOR_BASE,
            0,
            CpuidResult::default(),
            0,
            false,
            CLOCKS,
            &[],
        );
        assert_eq!(leaf.eax, HYPERVISOR_MAX);
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&leaf.ebx.to_le_bytes());
        bytes[4..8].copy_from_slice(&leaf.ecx.to_le_bytes());
        bytes[8..].copy_from_slice(&leaf.edx.to_le_bytes());
        assert_eq!(&bytes, HYPERVISOR_SIGNATURE);
        assert_eq!(
            filter(0x4000_0010, 0, HOST_LEAF1, 0, false, CLOCKS, &[]),
            CpuidResult::default()
        );
    }

    #[test]
    fn overrides_apply_last_and_match_subleaves() {
        let wanted = CpuidResult {
            eax: 1,
            ebx: 2,
            ecx: 3,
            edx: 4,
        };
        let overrides = [CpuidOverride {
            leaf: 7,
            subleaf: Some(1),
            result: wanted,
        }];
        assert_eq!(
            filter(7, 1, HOST_LEAF1, 0, false, CLOCKS, &overrides),
            wanted
        );
        assert_ne!(
            filter(7, 0, HOST_LEAF1, 0, false, CLOCKS, &overrides),
            wanted
        );
        let any = [CpuidOverride {
            leaf: 1,
            subleaf: None,
            result: wanted,
        }];
        assert_eq!(filter(1, 9, HOST_LEAF1, 0, false, CLOCKS, &any), wanted);
    }

    #[test]
    fn leaf1_shows_the_apic_only_when_the_vm_has_one() {
        let with = filter(1, 0, HOST_LEAF1, 0, true, CLOCKS, &[]);
        assert_eq!(with.edx & LEAF1_EDX_APIC, LEAF1_EDX_APIC);
        assert_eq!(
            with.ecx & (LEAF1_ECX_X2APIC | LEAF1_ECX_TSC_DEADLINE),
            LEAF1_ECX_X2APIC | LEAF1_ECX_TSC_DEADLINE
        );
        let without = filter(1, 0, HOST_LEAF1, 0, false, CLOCKS, &[]);
        assert_eq!(without.edx & LEAF1_EDX_APIC, 0);
    }

    /// Every feature bit set: what survives is what the filter lets through.
    const ALL_SET: CpuidResult = CpuidResult {
        eax: u32::MAX,
        ebx: u32::MAX,
        ecx: u32::MAX,
        edx: u32::MAX,
    };

    #[test]
    fn leaf1_hides_debug_store_thermal_and_speedstep_features_and_keeps_mce() {
        let guest = filter(1, 0, ALL_SET, 0, true, CLOCKS, &[]);
        for (name, bit) in [
            ("DTES64", LEAF1_ECX_DTES64),
            ("DS-CPL", LEAF1_ECX_DS_CPL),
            ("EST", LEAF1_ECX_EST),
            ("TM2", LEAF1_ECX_TM2),
            ("PDCM", LEAF1_ECX_PDCM),
            ("DCA", LEAF1_ECX_DCA),
        ] {
            assert_eq!(guest.ecx & bit, 0, "CPUID.1:ECX.{name}");
        }
        for (name, bit) in [
            ("DS", LEAF1_EDX_DS),
            ("ACPI", LEAF1_EDX_ACPI),
            ("TM", LEAF1_EDX_TM),
            ("PBE", LEAF1_EDX_PBE),
        ] {
            assert_eq!(guest.edx & bit, 0, "CPUID.1:EDX.{name}");
        }
        // MCE (bit 7) and MCA (bit 14) stay: IA32_MCG_CAP/STATUS are emulated (no banks).
        let mce_mca = (1 << 7) | (1 << 14);
        assert_eq!(guest.edx & mce_mca, mce_mca);
        // Bochs' corei7_skylake_x leaf 1 (bochs/cpu/cpudb/intel/corei7_skylake-x.cc, VMX and
        // MONITOR compiled in, APIC enabled).
        let bochs = CpuidResult {
            eax: 0x0005_0654,
            ebx: 0x0001_0800,
            ecx: 0x77fa_f3bf,
            edx: 0xbfeb_fbff,
        };
        let guest = filter(1, 0, bochs, 0, true, CLOCKS, &[]);
        // Left: SSE3, PCLMULQDQ, SSSE3, FMA, CX16, xTPR, PCID, SSE4.1/4.2, x2APIC, MOVBE, POPCNT,
        // TSC-deadline, AES, XSAVE, AVX, F16C, RDRAND, hypervisor.
        assert_eq!(guest.ecx, 0xf7fa_7203);
        // Left: FPU..PAE, MCE, CX8, APIC, SEP, PGE, MCA, CMOV, PAT, PSE36, CLFLUSH, MMX, FXSR,
        // SSE, SSE2, SS, HTT.
        assert_eq!(guest.edx, 0x1f8b_ebff);
    }

    #[test]
    fn leaf6_offers_only_arat() {
        // Bochs corei7_skylake_x: DTS, ARAT, PLN, ECMD, PTS; APERFMPERF and EPB in ECX.
        let bochs = CpuidResult {
            eax: 0x75,
            ebx: 0x2,
            ecx: 0x9,
            edx: 0,
        };
        let guest = filter(6, 0, bochs, 0, true, CLOCKS, &[]);
        assert_eq!(
            guest,
            CpuidResult {
                eax: LEAF6_EAX_ARAT,
                ebx: 0,
                ecx: 0,
                edx: 0
            }
        );
        assert_eq!(
            filter(6, 0, CpuidResult::default(), 0, false, CLOCKS, &[]).eax,
            LEAF6_EAX_ARAT
        );
    }

    #[test]
    fn leaf7_hides_features_backed_by_unemulated_msrs_and_keeps_tsc_adjust() {
        let guest = filter(7, 0, ALL_SET, 0, true, CLOCKS, &[]);
        assert_eq!(guest.eax, u32::MAX, "EAX (max sub-leaf) passes");
        assert_eq!(guest.ebx, !LEAF7_EBX_HIDDEN);
        assert_ne!(guest.ebx & (1 << 1), 0, "TSC_ADJUST is emulated");
        assert_eq!(guest.ecx, !LEAF7_ECX_HIDDEN);
        assert_eq!(guest.edx, !LEAF7_EDX_HIDDEN);
        for (name, register, bit) in [
            ("SGX", guest.ebx, 2),
            ("PQM", guest.ebx, 12),
            ("MPX", guest.ebx, 14),
            ("PQE", guest.ebx, 15),
            ("Intel PT", guest.ebx, 25),
            ("WAITPKG", guest.ecx, 5),
            ("CET_SS", guest.ecx, 7),
            ("TME", guest.ecx, 13),
            ("BUS_LOCK_DETECT", guest.ecx, 24),
            ("SGX_LC", guest.ecx, 30),
            ("SRBDS_CTRL", guest.edx, 9),
            ("TSX_FORCE_ABORT", guest.edx, 13),
            ("ARCH_LBR", guest.edx, 19),
            ("CET_IBT", guest.edx, 20),
            ("IBRS/IBPB", guest.edx, 26),
            ("STIBP", guest.edx, 27),
            ("L1D_FLUSH", guest.edx, 28),
            ("ARCH_CAPABILITIES", guest.edx, 29),
            ("CORE_CAPABILITIES", guest.edx, 30),
            ("SSBD", guest.edx, 31),
        ] {
            assert_eq!(register & (1 << bit), 0, "CPUID.7.0 {name}");
        }
        let sub2 = filter(7, 2, ALL_SET, 0, true, CLOCKS, &[]);
        assert_eq!(sub2.edx, !LEAF7_2_EDX_SPEC_CTRL_BITS);
        assert_eq!(filter(7, 1, ALL_SET, 0, true, CLOCKS, &[]), ALL_SET);
    }

    #[test]
    fn leaf7_ospke_follows_the_guests_cr4_pke() {
        assert_eq!(
            filter(7, 0, ALL_SET, 0, false, CLOCKS, &[]).ecx & LEAF7_ECX_OSPKE,
            0
        );
        let with_pke = filter(7, 0, CpuidResult::default(), CR4_PKE, false, CLOCKS, &[]);
        assert_eq!(with_pke.ecx, LEAF7_ECX_OSPKE);
    }

    #[test]
    fn xsave_offers_the_standard_format_only() {
        // Bochs corei7_skylake_x, XCR0 = 0xE7: XSAVEOPT, XSAVEC, XGETBV1, XSAVES; EBX in the
        // standard layout.
        let bochs = CpuidResult {
            eax: 0xf,
            ebx: 0xa80,
            ecx: 0x100,
            edx: 0,
        };
        let guest = filter(0xd, 1, bochs, 0, true, CLOCKS, &[]);
        assert_eq!(
            guest,
            CpuidResult {
                eax: 0b0101,
                ebx: 0xa80,
                ecx: 0,
                edx: 0
            },
            "XSAVEOPT and XGETBV1 stay; XSAVEC, XSAVES, XFD and the XSS components go"
        );
        let components = CpuidResult {
            eax: 0xe7,
            ebx: 0xa80,
            ecx: 0xa80,
            edx: 0,
        };
        assert_eq!(filter(0xd, 0, components, 0, true, CLOCKS, &[]), components);
        assert_eq!(filter(0xd, 2, ALL_SET, 0, true, CLOCKS, &[]), ALL_SET);
    }

    #[test]
    fn leaves_of_hidden_features_are_empty() {
        for leaf in [0xf, 0x10, 0x12, 0x14] {
            for subleaf in [0, 1] {
                assert_eq!(
                    filter(leaf, subleaf, ALL_SET, 0, true, CLOCKS, &[]),
                    CpuidResult::default(),
                    "leaf {leaf:#x}"
                );
            }
        }
    }

    #[test]
    fn clock_leaves_describe_the_calibrated_tsc_and_the_apic_timer_crystal() {
        // Bochs' Skylake-X answers: a 292/2 ratio and 3500 MHz, for a 100 MHz TSC.
        let host = CpuidResult {
            eax: 2,
            ebx: 292,
            ecx: 0,
            edx: 0,
        };
        let tsc = filter(0x15, 0, host, 0, true, CLOCKS, &[]);
        // Linux: crystal_khz * ebx / eax = 1_000_000 * 100 / 1000 = 100_000 kHz.
        assert_eq!((tsc.eax, tsc.ebx, tsc.ecx), (1000, 100, 1_000_000_000));
        assert_eq!(
            u64::from(tsc.ecx / 1000) * u64::from(tsc.ebx) / u64::from(tsc.eax),
            100_000
        );
        let frequencies = filter(0x16, 0, host, 0, true, CLOCKS, &[]);
        assert_eq!(
            (frequencies.eax, frequencies.ebx, frequencies.ecx),
            (100, 100, 0)
        );
    }

    #[test]
    fn tsc_leaf_is_not_enumerated_where_linux_would_overflow_or_round() {
        let fast = GuestClocks {
            tsc_mhz: 4295,
            ..CLOCKS
        };
        assert_eq!(fast.tsc_leaf(), CpuidResult::default());
        let fastest = GuestClocks {
            tsc_mhz: 4294,
            ..CLOCKS
        };
        assert_eq!(fastest.tsc_leaf().ebx, 4294);
        let odd_crystal = GuestClocks {
            crystal_hz: 25_000_001,
            ..CLOCKS
        };
        assert_eq!(odd_crystal.tsc_leaf(), CpuidResult::default());
        let unknown = GuestClocks {
            tsc_mhz: 0,
            ..CLOCKS
        };
        assert_eq!(unknown.tsc_leaf(), CpuidResult::default());
    }

    #[test]
    fn other_leaves_pass_through() {
        let host = CpuidResult {
            eax: 9,
            ebx: 8,
            ecx: 7,
            edx: 6,
        };
        assert_eq!(filter(0x8000_0001, 0, host, 0, false, CLOCKS, &[]), host);
        assert_eq!(
            filter(LEAF_PERFORMANCE_MONITORING, 0, host, 0, false, CLOCKS, &[]),
            CpuidResult::default()
        );
    }
}
