//! Virtual devices for the hypervisor: the unified interface, the bus and the models.
//!
//! - [`interface`]: the paper's 21 operations as two traits, [`interface::Device`] (the VMM
//!   calls the device) and [`interface::DeviceContext`] (the device calls the VMM).
//! - [`bus`]: one per VM. Registers devices, routes port/MMIO/PCI-configuration accesses to
//!   their owners (O(log n)), runs the lifecycle installed → powered on ⇄ powered off →
//!   removed, keeps per-device accounting, and implements PCI configuration mechanism #1 and
//!   ECAM. The kernel implements [`bus::VmServices`]; the bus turns it into a per-device
//!   context.
//! - [`pci`]: the type-0 configuration-space helper (BARs, command enables) and the i440FX
//!   host bridge. [`debug_exit`]: the exit port (QEMU's port, the guest's value as status).
//!   [`acpi_pm`]: the ACPI PM1a event/control blocks and PM timer (SCI, `\_S5` power-off). The
//!   PC models follow.
//! - [`testing`]: [`testing::FakeContext`], a fake VMM for unit tests and fuzzing.
//!
//! # The 21 operations
//!
//! VMM → device operations are tested through the [`bus::Bus`]; device → VMM operations through
//! the context the bus hands a device (with per-device accounting). Test paths are relative to
//! this crate.
//!
//! | # | operation | Rust item | test |
//! |---|---|---|---|
//! | 1 | read VD memory (MMIO) | [`Device::mmio_read`](interface::Device::mmio_read), [`bus::Bus::mmio_read`] | `bus::tests_routing::mmio_access_reaches_owner_with_absolute_address` |
//! | 2 | write VD memory (MMIO) | [`Device::mmio_write`](interface::Device::mmio_write), [`bus::Bus::mmio_write`] | `bus::tests_routing::mmio_access_reaches_owner_with_absolute_address` |
//! | 3 | read VD I/O port | [`Device::pio_read`](interface::Device::pio_read), [`bus::Bus::pio_read`] | `bus::tests_routing::pio_access_reaches_owner_with_absolute_port` |
//! | 4 | write VD I/O port | [`Device::pio_write`](interface::Device::pio_write), [`bus::Bus::pio_write`] | `bus::tests_routing::pio_access_reaches_owner_with_absolute_port` |
//! | 5 | VD reads VM memory (DMA) | [`DeviceContext::dma_read`](interface::DeviceContext::dma_read), [`bus::VmServices::dma_read`] | `bus::tests_context::dma_read_and_write_through_bus_context_reach_guest_ram` |
//! | 6 | VD writes VM memory (DMA) | [`DeviceContext::dma_write`](interface::DeviceContext::dma_write), [`bus::VmServices::dma_write`] | `bus::tests_context::dma_read_and_write_through_bus_context_reach_guest_ram` |
//! | 7 | VD raises an interrupt | [`DeviceContext::set_irq`](interface::DeviceContext::set_irq), [`pulse_irq`](interface::DeviceContext::pulse_irq), [`signal_msi`](interface::DeviceContext::signal_msi) | `bus::tests_context::set_irq_pulse_and_msi_through_bus_context_reach_the_vm` |
//! | 8 | read PCI configuration | [`Device::pci_config_read`](interface::Device::pci_config_read), [`bus::Bus::pci_config_read`], mechanism #1 / ECAM | `bus::tests_routing::pci_config_access_reaches_the_claimed_function_at_its_offset`, `pci::tests::mechanism1_and_ecam_read_the_same_function` |
//! | 9 | write PCI configuration | [`Device::pci_config_write`](interface::Device::pci_config_write), [`bus::Bus::pci_config_write`] | `bus::tests_routing::pci_config_access_reaches_the_claimed_function_at_its_offset`, `pci::tests::command_register_enables_add_and_remove_bar_claims` |
//! | 10 | connect a periodic timer | [`DeviceContext::connect_timer`](interface::DeviceContext::connect_timer), [`Device::timer`](interface::Device::timer), [`bus::Bus::run_timers`] | `bus::tests_context::connect_timer_through_bus_context_is_accounted_and_limited`, `bus::tests_routing::run_timers_calls_each_due_timer_back_once_per_period`, `lapic::tests_timer::lapic_periodic_timer_fires_every_period` |
//! | 11 | install VD | [`Device::install`](interface::Device::install), [`bus::Bus::register`] | `bus::tests_routing::install_claims_regions_and_device_starts_installed` |
//! | 12 | turn VD on | [`Device::power_on`](interface::Device::power_on), [`bus::Bus::power_on`] | `bus::tests_routing::power_on_makes_accesses_reach_the_device` |
//! | 13 | turn VD off | [`Device::power_off`](interface::Device::power_off), [`bus::Bus::power_off`] | `bus::tests_routing::powered_off_device_reads_all_ones_and_drops_writes` |
//! | 14 | remove VD | [`Device::remove`](interface::Device::remove), [`bus::Bus::remove`] | `bus::tests_routing::remove_takes_device_off_the_bus_and_releases_its_claims`, `bus::tests_context::removal_releases_everything_a_forgetful_device_held` |
//! | 15 | request VM configuration | [`DeviceContext::vm_config`](interface::DeviceContext::vm_config) | `bus::tests_context::vm_config_through_bus_context_is_the_vms` |
//! | 16 | allocate memory | [`DeviceContext::alloc`](interface::DeviceContext::alloc), [`bus::VmServices::alloc_zeroed`] | `bus::tests_context::alloc_and_free_through_bus_context_are_accounted_per_device` |
//! | 17 | free memory | [`DeviceContext::free`](interface::DeviceContext::free), [`bus::VmServices::free_bytes`] | `bus::tests_context::alloc_and_free_through_bus_context_are_accounted_per_device` |
//! | 18 | create a critical section | [`DeviceContext::create_critical_section`](interface::DeviceContext::create_critical_section) | `bus::tests_context::critical_section_create_enter_exit_remove_through_bus_context` |
//! | 19 | enter a critical section | [`DeviceContext::enter_critical_section`](interface::DeviceContext::enter_critical_section) | `bus::tests_context::critical_section_create_enter_exit_remove_through_bus_context` |
//! | 20 | exit a critical section | [`DeviceContext::exit_critical_section`](interface::DeviceContext::exit_critical_section) | `bus::tests_context::critical_section_create_enter_exit_remove_through_bus_context` |
//! | 21 | remove a critical section | [`DeviceContext::remove_critical_section`](interface::DeviceContext::remove_critical_section) | `bus::tests_context::critical_section_create_enter_exit_remove_through_bus_context` |
//!
//! Beyond the 21: [`DeviceContext::claim`](interface::DeviceContext::claim) /
//! [`release`](interface::DeviceContext::release) (how a device takes its ranges in `install`
//! and how PCI BARs follow the command register; `bus::tests_context::claim_and_release_through_bus_context_route_accesses`)
//! and [`DeviceContext::request`](interface::DeviceContext::request) (VM shutdown/reset;
//! `bus::tests_context::request_through_bus_context_reaches_the_vm`,
//! `debug_exit::tests::write_to_port_f4_requests_shutdown_with_the_value`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod acpi_pm;
pub mod bus;
pub mod debug_exit;
pub mod host_serial;
pub mod i8042;
pub mod insn;
pub mod interface;
pub mod ioapic;
pub mod lapic;
pub mod mediated;
pub mod pci;
pub mod pic8259;
pub mod pit8254;
pub mod port_claims;
pub mod rtc_cmos;
pub mod shared;
pub mod test_device;
#[cfg(test)]
mod test_random;
pub mod testing;
pub mod uart16550;
pub mod virtio;
pub mod vm_config;
