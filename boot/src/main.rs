fn main() { println!("{}", env!("CARGO_BIN_FILE_KERNEL_kernel")); }
