//! Claiming and releasing a model's fixed port ranges (operation 11's claims) in one call. A
//! context that routes accesses by itself answers [`ClaimError::Unsupported`], which is not an
//! error for a model: its ports reach it anyway.

use crate::interface::{ClaimError, DeviceContext, DeviceError, PortRange, Region};

/// Claims every range of `ports` for the calling device.
pub fn claim_ports(ctx: &mut dyn DeviceContext, ports: &[PortRange]) -> Result<(), DeviceError> {
    for range in ports {
        match ctx.claim(Region::Pio(*range)) {
            Ok(()) | Err(ClaimError::Unsupported) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Releases every range of `ports` the calling device claimed.
pub fn release_ports(ctx: &mut dyn DeviceContext, ports: &[PortRange]) -> Result<(), DeviceError> {
    for range in ports {
        match ctx.release(Region::Pio(*range)) {
            Ok(()) | Err(ClaimError::Unsupported) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeContext;

    #[test]
    fn claims_and_releases_every_range() {
        let mut ctx = FakeContext::new();
        let ports = [PortRange::single(0x60), PortRange::new(0x70, 2).unwrap()];
        claim_ports(&mut ctx, &ports).unwrap();
        assert!(claim_ports(&mut ctx, &ports[..1]).is_err(), "claimed twice");
        release_ports(&mut ctx, &ports).unwrap();
        claim_ports(&mut ctx, &ports).unwrap();
    }
}
