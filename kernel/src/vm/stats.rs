//! Exit statistics per VM: how many exits of each basic reason, and the TSC cycles the
//! hypervisor spent from each exit to the next VM entry; and which ports the I/O exits hit.

use alloc::vec::Vec;

use crate::vmx::exit_reason::ExitReason;

/// Ports listed in the printed table (the busiest first).
pub const TOP_PORTS: usize = 8;
/// Distinct ports counted one by one; exits on further ports are counted together, so what a
/// guest probes cannot grow the table.
pub const COUNTED_PORTS: usize = 32;

/// Basic exit-reason numbers tracked (0..=64 covers every reason the SDM defines).
pub const REASONS: usize = 65;

/// Counts and cycles per exit reason.
#[derive(Debug, Clone)]
pub struct ExitStats {
    counts: [u64; REASONS],
    cycles: [u64; REASONS],
    /// I/O exits per port, for the first [`COUNTED_PORTS`] ports seen.
    ports: [(u16, u64); COUNTED_PORTS],
    /// How many entries of `ports` are in use.
    ports_used: usize,
    /// I/O exits on ports past the table.
    other_ports: u64,
}

impl Default for ExitStats {
    fn default() -> Self {
        ExitStats {
            counts: [0; REASONS],
            cycles: [0; REASONS],
            ports: [(0, 0); COUNTED_PORTS],
            ports_used: 0,
            other_ports: 0,
        }
    }
}

/// One row of the statistics table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub reason: u16,
    pub count: u64,
    pub cycles: u64,
}

impl Row {
    /// Mean cycles per exit.
    pub fn mean_cycles(&self) -> u64 {
        self.cycles.checked_div(self.count).unwrap_or(0)
    }

    /// The reason's name, or "unknown".
    pub fn name(&self) -> &'static str {
        ExitReason::from_number(self.reason).map_or("unknown", ExitReason::name)
    }
}

impl ExitStats {
    /// Count one exit of basic reason `reason` that took `cycles` to handle.
    pub fn record(&mut self, reason: u16, cycles: u64) {
        let index = usize::from(reason).min(REASONS - 1);
        self.counts[index] = self.counts[index].saturating_add(1);
        self.cycles[index] = self.cycles[index].saturating_add(cycles);
    }

    /// Count one I/O exit on `port`.
    pub fn record_port(&mut self, port: u16) {
        let used = &mut self.ports[..self.ports_used];
        if let Some(entry) = used.iter_mut().find(|(counted, _)| *counted == port) {
            entry.1 = entry.1.saturating_add(1);
        } else if let Some(entry) = self.ports.get_mut(self.ports_used) {
            *entry = (port, 1);
            self.ports_used += 1;
        } else {
            self.other_ports = self.other_ports.saturating_add(1);
        }
    }

    /// I/O exits on ports past the first [`COUNTED_PORTS`].
    pub fn other_ports(&self) -> u64 {
        self.other_ports
    }

    /// The `n` ports with the most I/O exits, busiest first (ties: lower port first).
    pub fn busiest_ports(&self, n: usize) -> Vec<(u16, u64)> {
        let mut ports: Vec<(u16, u64)> = self.ports[..self.ports_used].to_vec();
        ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ports.truncate(n);
        ports
    }

    /// Exits of one reason.
    pub fn count(&self, reason: ExitReason) -> u64 {
        self.counts.get(reason as usize).copied().unwrap_or(0)
    }

    /// Every exit counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Rows for the reasons that occurred, most frequent first.
    pub fn rows(&self) -> impl Iterator<Item = Row> + '_ {
        let mut order: [usize; REASONS] = core::array::from_fn(|i| i);
        order.sort_by_key(|&i| core::cmp::Reverse(self.counts[i]));
        order
            .into_iter()
            .filter(|&i| self.counts[i] > 0)
            .map(|i| Row {
                reason: i as u16,
                count: self.counts[i],
                cycles: self.cycles[i],
            })
    }

    /// Print the table under a heading naming the VM.
    pub fn print(&self, vm: &str) {
        crate::println!("VM {vm}: {} exits", self.total());
        for row in self.rows() {
            crate::println!(
                "VM {vm}:   {:<28} {:>9} exits {:>9} cycles/exit",
                row.name(),
                row.count,
                row.mean_cycles()
            );
        }
        let busiest = self.busiest_ports(TOP_PORTS);
        if !busiest.is_empty() {
            let list: Vec<alloc::string::String> = busiest
                .iter()
                .map(|(port, count)| alloc::format!("{port:#x}: {count}"))
                .collect();
            let others = match self.other_ports {
                0 => alloc::string::String::new(),
                count => alloc::format!(", other ports: {count}"),
            };
            crate::println!("VM {vm}:   I/O exits by port: {}{others}", list.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_by_count_with_means() {
        let mut stats = ExitStats::default();
        stats.record(ExitReason::Cpuid as u16, 100);
        stats.record(ExitReason::IoInstruction as u16, 300);
        stats.record(ExitReason::IoInstruction as u16, 500);
        let rows: Vec<Row> = stats.rows().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].name(), rows[0].count, rows[0].mean_cycles()),
            ("I/O instruction", 2, 400)
        );
        assert_eq!(
            (rows[1].name(), rows[1].count, rows[1].mean_cycles()),
            ("CPUID", 1, 100)
        );
        assert_eq!(stats.total(), 3);
        assert_eq!(stats.count(ExitReason::IoInstruction), 2);
    }

    #[test]
    fn busiest_ports_come_first() {
        let mut stats = ExitStats::default();
        for port in [0x80, 0x3FD, 0x80, 0x40, 0x3FD, 0x80] {
            stats.record_port(port);
        }
        assert_eq!(stats.busiest_ports(2), [(0x80, 3), (0x3FD, 2)]);
        assert_eq!(stats.busiest_ports(10).len(), 3);
    }

    #[test]
    fn ports_past_the_table_are_counted_together() {
        let mut stats = ExitStats::default();
        for port in 0..=u16::MAX {
            stats.record_port(port);
        }
        stats.record_port(0);
        assert_eq!(stats.busiest_ports(1), [(0, 2)]);
        assert_eq!(stats.busiest_ports(usize::MAX).len(), COUNTED_PORTS);
        assert_eq!(
            stats.other_ports(),
            u64::from(u16::MAX) + 1 - COUNTED_PORTS as u64
        );
    }

    #[test]
    fn out_of_range_reasons_land_in_the_last_slot() {
        let mut stats = ExitStats::default();
        stats.record(u16::MAX, 1);
        assert_eq!(stats.total(), 1);
    }
}
