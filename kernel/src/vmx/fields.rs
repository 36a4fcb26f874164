//! VMCS field encodings (Intel SDM Vol. 3C, appendix B "Field encoding in VMCS"). The width is
//! in bits 14:13 of the encoding; [`VmcsField::width`] reads it back so accessors can check.
//!
//! Only the fields this hypervisor uses are named; the `x86` crate has them all as loose
//! constants, but one enum keeps the VMCS code readable and checkable (`vmread(VmcsField::…)`).

/// A VMCS field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
#[allow(missing_docs, reason = "the names are the SDM's field names")]
pub enum VmcsField {
    // 16-bit control.
    VirtualProcessorId = 0x0000,
    // 16-bit guest state.
    GuestEsSelector = 0x0800,
    GuestCsSelector = 0x0802,
    GuestSsSelector = 0x0804,
    GuestDsSelector = 0x0806,
    GuestFsSelector = 0x0808,
    GuestGsSelector = 0x080a,
    GuestLdtrSelector = 0x080c,
    GuestTrSelector = 0x080e,
    // 16-bit host state.
    HostEsSelector = 0x0c00,
    HostCsSelector = 0x0c02,
    HostSsSelector = 0x0c04,
    HostDsSelector = 0x0c06,
    HostFsSelector = 0x0c08,
    HostGsSelector = 0x0c0a,
    HostTrSelector = 0x0c0c,
    // 64-bit control.
    IoBitmapA = 0x2000,
    IoBitmapB = 0x2002,
    MsrBitmap = 0x2004,
    TscOffset = 0x2010,
    EptPointer = 0x201a,
    // 64-bit read-only data.
    GuestPhysicalAddress = 0x2400,
    // 64-bit guest state.
    VmcsLinkPointer = 0x2800,
    GuestIa32Debugctl = 0x2802,
    GuestIa32Pat = 0x2804,
    GuestIa32Efer = 0x2806,
    GuestPdpte0 = 0x280a,
    GuestPdpte1 = 0x280c,
    GuestPdpte2 = 0x280e,
    GuestPdpte3 = 0x2810,
    // 64-bit host state.
    HostIa32Pat = 0x2c00,
    HostIa32Efer = 0x2c02,
    // 32-bit control.
    PinBasedControls = 0x4000,
    PrimaryProcessorControls = 0x4002,
    ExceptionBitmap = 0x4004,
    PageFaultErrorCodeMask = 0x4006,
    PageFaultErrorCodeMatch = 0x4008,
    Cr3TargetCount = 0x400a,
    ExitControls = 0x400c,
    ExitMsrStoreCount = 0x400e,
    ExitMsrLoadCount = 0x4010,
    EntryControls = 0x4012,
    EntryMsrLoadCount = 0x4014,
    EntryInterruptionInfo = 0x4016,
    EntryExceptionErrorCode = 0x4018,
    EntryInstructionLength = 0x401a,
    TprThreshold = 0x401c,
    SecondaryProcessorControls = 0x401e,
    // 32-bit read-only data.
    VmInstructionError = 0x4400,
    ExitReason = 0x4402,
    ExitInterruptionInfo = 0x4404,
    ExitInterruptionErrorCode = 0x4406,
    IdtVectoringInfo = 0x4408,
    IdtVectoringErrorCode = 0x440a,
    ExitInstructionLength = 0x440c,
    ExitInstructionInfo = 0x440e,
    // 32-bit guest state.
    GuestEsLimit = 0x4800,
    GuestCsLimit = 0x4802,
    GuestSsLimit = 0x4804,
    GuestDsLimit = 0x4806,
    GuestFsLimit = 0x4808,
    GuestGsLimit = 0x480a,
    GuestLdtrLimit = 0x480c,
    GuestTrLimit = 0x480e,
    GuestGdtrLimit = 0x4810,
    GuestIdtrLimit = 0x4812,
    GuestEsAccessRights = 0x4814,
    GuestCsAccessRights = 0x4816,
    GuestSsAccessRights = 0x4818,
    GuestDsAccessRights = 0x481a,
    GuestFsAccessRights = 0x481c,
    GuestGsAccessRights = 0x481e,
    GuestLdtrAccessRights = 0x4820,
    GuestTrAccessRights = 0x4822,
    GuestInterruptibility = 0x4824,
    GuestActivityState = 0x4826,
    GuestSysenterCs = 0x482a,
    GuestPreemptionTimer = 0x482e,
    // 32-bit host state.
    HostIa32SysenterCs = 0x4c00,
    // Natural-width control.
    Cr0GuestHostMask = 0x6000,
    Cr4GuestHostMask = 0x6002,
    Cr0ReadShadow = 0x6004,
    Cr4ReadShadow = 0x6006,
    // Natural-width read-only data.
    ExitQualification = 0x6400,
    GuestLinearAddress = 0x640a,
    // Natural-width guest state.
    GuestCr0 = 0x6800,
    GuestCr3 = 0x6802,
    GuestCr4 = 0x6804,
    GuestEsBase = 0x6806,
    GuestCsBase = 0x6808,
    GuestSsBase = 0x680a,
    GuestDsBase = 0x680c,
    GuestFsBase = 0x680e,
    GuestGsBase = 0x6810,
    GuestLdtrBase = 0x6812,
    GuestTrBase = 0x6814,
    GuestGdtrBase = 0x6816,
    GuestIdtrBase = 0x6818,
    GuestDr7 = 0x681a,
    GuestRsp = 0x681c,
    GuestRip = 0x681e,
    GuestRflags = 0x6820,
    GuestPendingDebugExceptions = 0x6822,
    GuestSysenterEsp = 0x6824,
    GuestSysenterEip = 0x6826,
    // Natural-width host state.
    HostCr0 = 0x6c00,
    HostCr3 = 0x6c02,
    HostCr4 = 0x6c04,
    HostFsBase = 0x6c06,
    HostGsBase = 0x6c08,
    HostTrBase = 0x6c0a,
    HostGdtrBase = 0x6c0c,
    HostIdtrBase = 0x6c0e,
    HostSysenterEsp = 0x6c10,
    HostSysenterEip = 0x6c12,
    HostRsp = 0x6c14,
    HostRip = 0x6c16,
}

/// The width class of a field (encoding bits 14:13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldWidth {
    Bits16,
    Bits64,
    Bits32,
    Natural,
}

/// Encoding bits 14:13: the field's width.
const WIDTH_SHIFT: u32 = 13;
const WIDTH_MASK: u32 = 0b11;

impl VmcsField {
    /// The encoding VMREAD/VMWRITE take.
    pub const fn encoding(self) -> u32 {
        self as u32
    }

    /// The field's width class.
    pub const fn width(self) -> FieldWidth {
        match (self as u32 >> WIDTH_SHIFT) & WIDTH_MASK {
            0 => FieldWidth::Bits16,
            1 => FieldWidth::Bits64,
            2 => FieldWidth::Bits32,
            _ => FieldWidth::Natural,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_encoding() {
        assert_eq!(VmcsField::GuestCsSelector.width(), FieldWidth::Bits16);
        assert_eq!(VmcsField::EptPointer.width(), FieldWidth::Bits64);
        assert_eq!(VmcsField::ExitReason.width(), FieldWidth::Bits32);
        assert_eq!(VmcsField::GuestRip.width(), FieldWidth::Natural);
    }

    #[test]
    fn encodings_match_the_sdm_appendix() {
        assert_eq!(VmcsField::HostRsp.encoding(), 0x6c14);
        assert_eq!(VmcsField::VmInstructionError.encoding(), 0x4400);
        assert_eq!(VmcsField::SecondaryProcessorControls.encoding(), 0x401e);
    }
}
