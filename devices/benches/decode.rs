//! The MMIO exit's pure part: decoding the faulting instruction and emulating it against a
//! do-nothing context. Measures what the decoder and emulator add to every MMIO exit (the VM
//! exit itself costs far more). Target: a small fraction of a VM exit's round trip (~1 µs on
//! VT-x hardware), i.e. ≤ 100 ns for decode + emulate of a typical store on a quiet core.
//!
//! Run: `cargo bench -p devices --bench decode`.

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use devices::insn::{
    EmulationContext, FaultAccess, FaultInfo, Mode, OperandSize, Registers, Segment, decode,
    emulate,
};
use devices::interface::Gpa;

/// A device register that reads back the last value written, and RAM that reads as zero.
struct Latch(u64);

impl EmulationContext for Latch {
    type Error = Infallible;

    fn mmio_read(&mut self, _gpa: Gpa, _size: OperandSize) -> Result<u64, Infallible> {
        Ok(self.0)
    }

    fn mmio_write(&mut self, _gpa: Gpa, _size: OperandSize, value: u64) -> Result<(), Infallible> {
        self.0 = value;
        Ok(())
    }

    fn read_memory(&mut self, _: Segment, _: u64, data: &mut [u8]) -> Result<(), Infallible> {
        data.fill(0);
        Ok(())
    }

    fn write_memory(&mut self, _: Segment, _: u64, _: &[u8]) -> Result<(), Infallible> {
        Ok(())
    }
}

/// `mov [rbx+0x10], eax`: the commonest MMIO store.
const STORE: [u8; 3] = [0x89, 0x43, 0x10];
/// `mov eax, [rip+0x1000]` with a REX.W: a 64-bit load through RIP-relative addressing.
const LOAD: [u8; 7] = [0x48, 0x8B, 0x05, 0x00, 0x10, 0x00, 0x00];
/// `lock or dword fs:[rax+rcx*4+0x100], 0x80000000`: prefixes, SIB, disp32 and imm32.
const LOCKED_OR: [u8; 13] = [
    0xF0, 0x64, 0x81, 0x8C, 0x88, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,
];

fn bench(c: &mut Criterion) {
    const GPA: Gpa = 0xFEE0_0080;
    for (name, bytes, access) in [
        ("store", &STORE[..], FaultAccess::Write),
        ("load_rip_relative", &LOAD[..], FaultAccess::Read),
        ("locked_or_sib", &LOCKED_OR[..], FaultAccess::Write),
    ] {
        c.bench_function(&format!("decode_{name}"), |b| {
            b.iter(|| decode(black_box(bytes), Mode::Long64))
        });
        let fault = FaultInfo { gpa: GPA, access };
        let mut registers = Registers::default();
        let mut latch = Latch(0);
        c.bench_function(&format!("decode_and_emulate_{name}"), |b| {
            b.iter(|| {
                let Ok(instruction) = decode(black_box(bytes), Mode::Long64) else {
                    return;
                };
                registers.rip = 0x1000;
                let _ = black_box(emulate(&instruction, &mut registers, fault, &mut latch));
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
