//! PCI: the type-0 configuration-space helper device models build on, its BARs, and the
//! i440FX host bridge. The configuration mechanisms themselves (ports 0xCF8/0xCFC and ECAM)
//! are part of the bus (`bus::pci_access`), which routes each access to the function that
//! claimed its bus/device/function.
//!
//! Follows the PCI Local Bus Specification 3.0, chapter 6 (configuration space), and the PCI
//! Express Base Specification §7.2.2 (ECAM).

pub mod bar;
pub mod config_space;
pub mod host_bridge;
pub mod intx;
pub mod regs;

#[cfg(test)]
mod tests;

pub use bar::{Bar, BarError, BarKind};
pub use config_space::{ConfigSpace, Header, InterruptPin};
pub use host_bridge::HostBridge;
pub use intx::{DEFAULT_PIRQ_LINES, intx_line};
