//! The hypervisor's entry point and init sequence. Each step logs one line; a failing step
//! ends the run with a status the host tool reports.
#![cfg_attr(target_os = "none", no_std, no_main)]

// On the host (`cargo bench`/`clippy --all-targets` build every target) there is nothing to run.
#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod hypervisor {
    use bootloader_api::config::Mapping;
    use bootloader_api::{BootInfo, BootloaderConfig, entry_point};
    use kernel::arch::x86_64::{gdt, idt, lapic, legacy_pic};
    use kernel::exit::{ExitStatus, exit};
    use kernel::{acpi_tables, cmdline, console, mm, selftest, vmx};

    const KERNEL_STACK_BYTES: u64 = 256 * 1024;

    /// The bootloader maps all physical memory (the hypervisor reaches page tables, ACPI tables,
    /// the local APIC and guest memory through that window).
    pub static BOOTLOADER_CONFIG: BootloaderConfig = {
        let mut config = BootloaderConfig::new_default();
        config.mappings.physical_memory = Some(Mapping::Dynamic);
        config.kernel_stack_size = KERNEL_STACK_BYTES;
        config
    };

    entry_point!(kernel_main, config = &BOOTLOADER_CONFIG);

    fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
        let serial = console::serial::init();
        if let Some(framebuffer) = boot_info.framebuffer.take() {
            console::framebuffer::init(framebuffer);
        }
        let window = boot_info
            .physical_memory_offset
            .into_option()
            .unwrap_or_else(|| {
                kernel::println!("no physical-memory window from the bootloader");
                exit(ExitStatus::Panic)
            });
        let files = kernel::bootfs::BootFiles::parse(ramdisk(boot_info));
        let line = files.cmdline();
        let options = cmdline::parse(line).unwrap_or_else(|error| {
            kernel::println!("boot command line: {error}");
            exit(ExitStatus::BadCommandLine)
        });
        console::logger::init(options.log_level);
        log::info!(
            "microhypervisor {} starting (serial: {})",
            env!("CARGO_PKG_VERSION"),
            if serial { "COM1" } else { "none" }
        );
        log::info!("command line: `{}`", line.trim());

        gdt::init();
        idt::init();
        legacy_pic::remap_and_mask();
        log::info!("GDT, TSS (4 IST stacks) and IDT loaded; legacy PIC remapped and masked");

        if let Err(error) = mm::physical::init(&boot_info.memory_regions, window) {
            log::error!("frame allocator: {error:?}");
            exit(ExitStatus::Panic);
        }
        mm::physical::with_frames(|frames| {
            log::info!(
                "frames: {} total, {} free ({} MiB)",
                frames.total_frames(),
                frames.free_frames(),
                frames.free_frames() * 4 / 1024
            )
        });
        if let Err(error) = mm::heap::init(options.heap_mib) {
            log::error!("heap: {error:?}");
            exit(ExitStatus::Panic);
        }
        log::info!(
            "heap: {} MiB, slab classes 8..2048 B over linked_list_allocator",
            options.heap_mib
        );

        let platform = match acpi_tables::read(boot_info.rsdp_addr.into_option()) {
            Ok(platform) => {
                acpi_tables::log_summary(&platform);
                Some(platform)
            }
            Err(error) => {
                log::warn!("ACPI: {error:?}");
                None
            }
        };

        let mode = lapic::init(window, options.prefer_x2apic).unwrap_or_else(|error| {
            log::error!("local APIC: {error:?}");
            exit(ExitStatus::Panic)
        });
        let timer_hz =
            lapic::calibrate(selftest::CALIBRATION_WINDOW_MICROS).unwrap_or_else(|error| {
                log::error!("APIC timer calibration: {error:?}");
                exit(ExitStatus::Panic)
            });
        log::info!(
            "local APIC id {} in {mode:?} mode, version {:#x}",
            lapic::id(),
            lapic::version()
        );
        log::info!(
            "APIC timer input {} kHz, TSC {} kHz (calibrated against PIT channel 2)",
            timer_hz / 1000,
            kernel::arch::x86_64::tsc::hz() / 1000
        );
        match lapic::start_periodic(options.timer_hz) {
            Ok(count) => log::info!(
                "APIC timer periodic at {} Hz (initial count {count})",
                options.timer_hz
            ),
            Err(error) => {
                log::error!("APIC timer: {error:?}");
                exit(ExitStatus::Panic)
            }
        }
        x86_64::instructions::interrupts::enable();

        kernel::arch::x86_64::cpu::log_identity();
        let vmx = vmx::report_and_toggle();

        let status = match (options.test, options.vms) {
            (None, _) if options.config.is_some() => {
                run_config(&options, &files, &vmx, boot_info.kernel_addr)
            }
            (None, Some(list)) => run_vms(list, &options, &files, &vmx, boot_info.kernel_addr),
            (None, None) => ExitStatus::Success,
            (Some(name), _) => selftest::run(
                name,
                &selftest::Context {
                    options: &options,
                    platform: platform.as_ref(),
                    vmx,
                },
            ),
        };
        lapic::stop_timer();
        log::info!(
            "{} timer ticks, {} spurious, {} stray legacy interrupts",
            lapic::ticks(),
            idt::spurious_count(),
            idt::stray_legacy_count()
        );
        exit(status)
    }

    /// What every way of running VMs does first: record the capabilities and the VM-end
    /// options, then enter VMX operation (left when the returned guard drops). `key` names the
    /// command-line key in messages.
    fn enter_vmx(
        key: &str,
        options: &cmdline::Options<'_>,
        vmx: &vmx::VmxStatus,
    ) -> Result<vmx::VmxOn, ExitStatus> {
        let Some(caps) = vmx.caps else {
            log::error!("{key}: this CPU has no VT-x, no VM can run");
            return Err(ExitStatus::VmFailed);
        };
        kernel::vm::set_capabilities(caps);
        kernel::vm::scheduler::set_disk_dump(options.disk_dump);
        vmx::enable_for_vms(&caps).map_err(|error| {
            log::error!("{key}: {error}");
            ExitStatus::VmFailed
        })
    }

    /// Start VMX operation and run the VMs a configuration file describes.
    fn run_config(
        options: &cmdline::Options<'_>,
        files: &kernel::bootfs::BootFiles,
        vmx: &vmx::VmxStatus,
        hypervisor_physical: u64,
    ) -> ExitStatus {
        let member = options.config.unwrap_or_default();
        let Some(bytes) = files.file(member) else {
            log::error!("config=: no file `{member}` in the boot ramdisk");
            return ExitStatus::BadCommandLine;
        };
        let machine = match devices::vm_config::decode(bytes) {
            Ok(machine) => machine,
            Err(error) => {
                log::error!("config=: {member}: {error:?}");
                return ExitStatus::BadCommandLine;
            }
        };
        let _vmx_on = match enter_vmx("config=", options, vmx) {
            Ok(on) => on,
            Err(status) => return status,
        };
        let arguments = kernel::vm::loader::BootArguments {
            hypervisor_physical,
        };
        kernel::vm::launcher::run_machine(&machine, files, arguments)
    }

    /// Start VMX operation and run the VMs of `vms=` in turn.
    fn run_vms(
        list: &str,
        options: &cmdline::Options<'_>,
        files: &kernel::bootfs::BootFiles,
        vmx: &vmx::VmxStatus,
        hypervisor_physical: u64,
    ) -> ExitStatus {
        let items = match kernel::vm::launcher::parse_list(list) {
            Ok(items) => items,
            Err(error) => {
                log::error!("vms=: {error:?}");
                return ExitStatus::BadCommandLine;
            }
        };
        let _vmx_on = match enter_vmx("vms=", options, vmx) {
            Ok(on) => on,
            Err(status) => return status,
        };
        let settings = kernel::vm::launcher::Settings {
            ram_bytes: options.vm_ram_mib << 20,
            apic: options.vm_apic,
            acpi: options.vm_acpi,
            arguments: kernel::vm::loader::BootArguments {
                hypervisor_physical,
            },
        };
        if options.vms_together {
            kernel::vm::launcher::run_together(&items, &settings, files)
        } else {
            kernel::vm::launcher::run_all(&items, &settings, files)
        }
    }

    /// The ramdisk's bytes (empty when there is none).
    fn ramdisk(boot_info: &BootInfo) -> &'static [u8] {
        let Some(address) = boot_info.ramdisk_addr.into_option() else {
            return &[];
        };
        let length = boot_info.ramdisk_len as usize;
        // SAFETY: the bootloader mapped the ramdisk at `address` for `length` bytes and never
        // unmaps it; the hypervisor only reads it.
        unsafe { core::slice::from_raw_parts(address as *const u8, length) }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        use core::fmt::Write as _;
        let _ = writeln!(
            console::emergency_writer(),
            "\n!!! hypervisor panic: {info}"
        );
        exit(ExitStatus::Panic)
    }
}
