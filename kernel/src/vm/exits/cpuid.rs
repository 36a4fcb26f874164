//! CPUID as the guest sees it: the host's answers, filtered so the guest is told only about
//! what this hypervisor virtualizes (no VMX, no monitor/mwait, no APIC or MTRR until they are
//! modelled), with the hypervisor-present bit and our leaves 0x4000_0000+, and per-VM
//! overrides applied last.

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

/// Leaf 1 ECX bit 3: MONITOR/MWAIT.
const LEAF1_ECX_MONITOR: u32 = 1 << 3;
/// Leaf 1 ECX bit 5: VMX.
const LEAF1_ECX_VMX: u32 = 1 << 5;
/// Leaf 1 ECX bit 6: SMX.
const LEAF1_ECX_SMX: u32 = 1 << 6;
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
/// Leaf 1 EDX bit 22: ACPI thermal MSRs.
const LEAF1_EDX_ACPI: u32 = 1 << 22;
/// Leaf 7 ECX bit 5: WAITPKG (UMWAIT/TPAUSE).
const LEAF7_ECX_WAITPKG: u32 = 1 << 5;
/// Leaf 7 EDX bits 26, 27, 29, 31: IBRS/IBPB, STIBP, ARCH_CAPABILITIES, SSBD (MSRs we do not
/// emulate).
const LEAF7_EDX_SPECULATION_MSRS: u32 = (1 << 26) | (1 << 27) | (1 << 29) | (1 << 31);
/// Leaf 0xA: architectural performance monitoring (not virtualized).
const LEAF_PERFORMANCE_MONITORING: u32 = 0xa;

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
    overrides: &[CpuidOverride],
) -> CpuidResult {
    let osxsave = if guest_cr4 & CR4_OSXSAVE != 0 {
        LEAF1_ECX_OSXSAVE
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
                & !(LEAF1_ECX_MONITOR
                    | LEAF1_ECX_VMX
                    | LEAF1_ECX_SMX
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
            edx: (host.edx & !(LEAF1_EDX_APIC | LEAF1_EDX_MTRR | LEAF1_EDX_ACPI))
                | if apic { LEAF1_EDX_APIC } else { 0 },
            ..host
        },
        7 if subleaf == 0 => CpuidResult {
            ecx: host.ecx & !LEAF7_ECX_WAITPKG,
            edx: host.edx & !LEAF7_EDX_SPECULATION_MSRS,
            ..host
        },
        LEAF_PERFORMANCE_MONITORING => CpuidResult::default(),
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
    let answer = filter(leaf, subleaf, host, guest_cr4, apic, &vm.cpuid_overrides);
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

    const HOST_LEAF1: CpuidResult = CpuidResult {
        eax: 0x50654,
        ebx: 0x0800,
        ecx: 0xfffa_3223,
        edx: 0x0f8b_fbff,
    };

    #[test]
    fn leaf1_hides_vmx_and_sets_hypervisor_bit() {
        let guest = filter(1, 0, HOST_LEAF1, 0, false, &[]);
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
        let with_osxsave = filter(1, 0, HOST_LEAF1, CR4_OSXSAVE, false, &[]);
        assert_eq!(with_osxsave.ecx & LEAF1_ECX_OSXSAVE, LEAF1_ECX_OSXSAVE);
    }

    #[test]
    fn hypervisor_leaf_carries_the_signature() {
        let leaf = filter(HYPERVISOR_BASE, 0, CpuidResult::default(), 0, false, &[]);
        assert_eq!(leaf.eax, HYPERVISOR_MAX);
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&leaf.ebx.to_le_bytes());
        bytes[4..8].copy_from_slice(&leaf.ecx.to_le_bytes());
        bytes[8..].copy_from_slice(&leaf.edx.to_le_bytes());
        assert_eq!(&bytes, HYPERVISOR_SIGNATURE);
        assert_eq!(
            filter(0x4000_0010, 0, HOST_LEAF1, 0, false, &[]),
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
        assert_eq!(filter(7, 1, HOST_LEAF1, 0, false, &overrides), wanted);
        assert_ne!(filter(7, 0, HOST_LEAF1, 0, false, &overrides), wanted);
        let any = [CpuidOverride {
            leaf: 1,
            subleaf: None,
            result: wanted,
        }];
        assert_eq!(filter(1, 9, HOST_LEAF1, 0, false, &any), wanted);
    }

    #[test]
    fn leaf1_shows_the_apic_only_when_the_vm_has_one() {
        let with = filter(1, 0, HOST_LEAF1, 0, true, &[]);
        assert_eq!(with.edx & LEAF1_EDX_APIC, LEAF1_EDX_APIC);
        assert_eq!(
            with.ecx & (LEAF1_ECX_X2APIC | LEAF1_ECX_TSC_DEADLINE),
            LEAF1_ECX_X2APIC | LEAF1_ECX_TSC_DEADLINE
        );
        let without = filter(1, 0, HOST_LEAF1, 0, false, &[]);
        assert_eq!(without.edx & LEAF1_EDX_APIC, 0);
    }

    #[test]
    fn other_leaves_pass_through() {
        let host = CpuidResult {
            eax: 9,
            ebx: 8,
            ecx: 7,
            edx: 6,
        };
        assert_eq!(filter(0x8000_0001, 0, host, 0, false, &[]), host);
        assert_eq!(
            filter(LEAF_PERFORMANCE_MONITORING, 0, host, 0, false, &[]),
            CpuidResult::default()
        );
    }
}
