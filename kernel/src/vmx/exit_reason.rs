//! Basic VM-exit reasons (Intel SDM Vol. 3C, appendix C "VMX basic exit reasons") and the
//! fields of the exit-reason word.

/// Exit-reason bit 31: the VM entry failed.
pub const ENTRY_FAILURE: u32 = 1 << 31;
/// Exit-reason bits 15:0: the basic exit reason.
const BASIC_REASON_MASK: u32 = 0xffff;

macro_rules! exit_reasons {
    ($($name:ident = $number:expr, $text:expr;)*) => {
        /// A basic exit reason.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u16)]
        pub enum ExitReason {
            $($name = $number,)*
        }

        impl ExitReason {
            /// Every reason, in number order (for statistics tables).
            pub const ALL: &'static [ExitReason] = &[$(ExitReason::$name,)*];

            /// The reason with this basic number, if the SDM defines one.
            pub fn from_number(number: u16) -> Option<Self> {
                match number {
                    $($number => Some(ExitReason::$name),)*
                    _ => None,
                }
            }

            /// The SDM's name for the reason.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ExitReason::$name => $text,)*
                }
            }
        }
    };
}

exit_reasons! {
    ExceptionOrNmi = 0, "exception or NMI";
    ExternalInterrupt = 1, "external interrupt";
    TripleFault = 2, "triple fault";
    Init = 3, "INIT signal";
    StartupIpi = 4, "start-up IPI";
    IoSmi = 5, "I/O SMI";
    OtherSmi = 6, "other SMI";
    InterruptWindow = 7, "interrupt window";
    NmiWindow = 8, "NMI window";
    TaskSwitch = 9, "task switch";
    Cpuid = 10, "CPUID";
    Getsec = 11, "GETSEC";
    Hlt = 12, "HLT";
    Invd = 13, "INVD";
    Invlpg = 14, "INVLPG";
    Rdpmc = 15, "RDPMC";
    Rdtsc = 16, "RDTSC";
    Rsm = 17, "RSM";
    Vmcall = 18, "VMCALL";
    Vmclear = 19, "VMCLEAR";
    Vmlaunch = 20, "VMLAUNCH";
    Vmptrld = 21, "VMPTRLD";
    Vmptrst = 22, "VMPTRST";
    Vmread = 23, "VMREAD";
    Vmresume = 24, "VMRESUME";
    Vmwrite = 25, "VMWRITE";
    Vmxoff = 26, "VMXOFF";
    Vmxon = 27, "VMXON";
    CrAccess = 28, "control-register access";
    DrAccess = 29, "MOV DR";
    IoInstruction = 30, "I/O instruction";
    Rdmsr = 31, "RDMSR";
    Wrmsr = 32, "WRMSR";
    InvalidGuestState = 33, "VM-entry failure: invalid guest state";
    MsrLoading = 34, "VM-entry failure: MSR loading";
    Mwait = 36, "MWAIT";
    MonitorTrapFlag = 37, "monitor trap flag";
    Monitor = 39, "MONITOR";
    Pause = 40, "PAUSE";
    MachineCheck = 41, "VM-entry failure: machine-check event";
    TprBelowThreshold = 43, "TPR below threshold";
    ApicAccess = 44, "APIC access";
    VirtualizedEoi = 45, "virtualized EOI";
    GdtrIdtrAccess = 46, "access to GDTR or IDTR";
    LdtrTrAccess = 47, "access to LDTR or TR";
    EptViolation = 48, "EPT violation";
    EptMisconfiguration = 49, "EPT misconfiguration";
    Invept = 50, "INVEPT";
    Rdtscp = 51, "RDTSCP";
    PreemptionTimer = 52, "VMX-preemption timer expired";
    Invvpid = 53, "INVVPID";
    Wbinvd = 54, "WBINVD";
    Xsetbv = 55, "XSETBV";
    ApicWrite = 56, "APIC write";
    Rdrand = 57, "RDRAND";
    Invpcid = 58, "INVPCID";
    Vmfunc = 59, "VMFUNC";
    Encls = 60, "ENCLS";
    Rdseed = 61, "RDSEED";
    PageModificationLogFull = 62, "page-modification log full";
    Xsaves = 63, "XSAVES";
    Xrstors = 64, "XRSTORS";
}

/// The decoded exit-reason word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitReasonWord {
    /// The basic reason number (bits 15:0).
    pub basic: u16,
    /// Whether VM entry failed (bit 31).
    pub entry_failure: bool,
}

impl ExitReasonWord {
    /// Split the exit-reason field.
    pub fn decode(raw: u32) -> Self {
        ExitReasonWord {
            basic: (raw & BASIC_REASON_MASK) as u16,
            entry_failure: raw & ENTRY_FAILURE != 0,
        }
    }

    /// The named reason, if the SDM defines the number.
    pub fn reason(self) -> Option<ExitReason> {
        ExitReason::from_number(self.basic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for &reason in ExitReason::ALL {
            assert_eq!(ExitReason::from_number(reason as u16), Some(reason));
        }
        assert_eq!(ExitReason::from_number(35), None);
        assert_eq!(ExitReason::from_number(0xffff), None);
    }

    #[test]
    fn entry_failure_bit_is_split_off() {
        let word = ExitReasonWord::decode(0x8000_0021);
        assert!(word.entry_failure);
        assert_eq!(word.reason(), Some(ExitReason::InvalidGuestState));
        assert_eq!(
            ExitReasonWord::decode(48).reason(),
            Some(ExitReason::EptViolation)
        );
    }
}
