//! Resources as messages print them: `ports 0x3f8-0x3ff`, `port 0x61`,
//! `memory 0xfeb00000-0xfeb00fff`, `COM2 (ports 0x2f8-0x2ff)`.

use devices::interface::Region;
use devices::vm_config::HostDevice;

/// A guest or host resource in words.
pub fn region_text(region: &Region) -> String {
    match region {
        Region::Pio(ports) if ports.first() == ports.last() => {
            format!("port {:#x}", ports.first())
        }
        Region::Pio(ports) => format!("ports {:#x}-{:#x}", ports.first(), ports.last()),
        Region::Mmio(memory) => format!("memory {:#x}-{:#x}", memory.first(), memory.last()),
        Region::Pci(bdf) => format!("PCI function {bdf}"),
    }
}

/// A host device in words, with its resources.
pub fn host_text(host: &HostDevice) -> String {
    let region = host.region().map_or_else(
        |_| "an empty range".to_string(),
        |region| region_text(&region),
    );
    match host {
        HostDevice::Com1 => format!("COM1 ({region})"),
        HostDevice::Com2 => format!("COM2 ({region})"),
        HostDevice::Ports { .. } | HostDevice::Memory { .. } => region,
    }
}
