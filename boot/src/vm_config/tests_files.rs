//! Guest files and whole configuration files: member names, paths relative to the file,
//! `load_config` errors, and the example configurations in `boot/configs/`.

use std::path::{Path, PathBuf};

use devices::vm_config::{Guest, Method, decode, encode};

use super::test_support::Fixture;
use super::{ConfigError, load_config, load_config_with};

/// `boot/configs/NAME`.
fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name)
}

#[test]
fn one_file_named_twice_is_packed_once() {
    let fixture = Fixture::new();
    let text = "[[vm]]\nname = \"a\"\nelf = \"guest.elf\"\n\
        [[vm]]\nname = \"b\"\nelf = \"./guest.elf\"\n\
        [[vm]]\nname = \"c\"\nelf = \"builtin:hello\"\n";
    let (machine, files) = fixture.check(text).expect("accepted");
    assert_eq!(
        files,
        [
            ("guest.elf".to_string(), fixture.path("guest.elf")),
            ("hello".to_string(), fixture.path("builtin/hello")),
        ]
    );
    let guest_files: Vec<_> = machine
        .vms
        .iter()
        .flat_map(|vm| vm.guest.files().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert_eq!(guest_files, ["guest.elf", "guest.elf", "hello"]);
}

#[test]
fn different_files_with_one_name_get_distinct_members() {
    let fixture = Fixture::new();
    std::fs::create_dir(fixture.path("other")).expect("directory");
    std::fs::write(fixture.path("other/guest.elf"), b"other").expect("file");
    std::fs::write(fixture.path("vms.cfg"), b"named like the config member").expect("file");
    let text = "[[vm]]\nname = \"a\"\nelf = \"guest.elf\"\n\
        [[vm]]\nname = \"b\"\nelf = \"other/guest.elf\"\n\
        [[vm]]\nname = \"c\"\nelf = \"vms.cfg\"\n";
    let (_, files) = fixture.check(text).expect("accepted");
    let names: Vec<_> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["guest.elf", "guest1", "guest2"]);
}

#[test]
fn linux_guest_carries_kernel_initrd_and_command_line() {
    let fixture = Fixture::new();
    let text = "[[vm]]\nname = \"linux\"\nram_mib = 256\n\
        linux = { kernel = \"guest.elf\", initrd = \"boot.bin\", cmdline = \"console=ttyS0\" }\n";
    let (machine, files) = fixture.check(text).expect("accepted");
    assert_eq!(
        machine.vms[0].guest,
        Guest::Linux {
            kernel: "guest.elf".into(),
            initrd: Some("boot.bin".into()),
            cmdline: "console=ttyS0".into(),
        }
    );
    assert_eq!(files.len(), 2);
}

#[test]
fn load_config_resolves_paths_against_the_files_directory() {
    let fixture = Fixture::new();
    let config = fixture.path("demo.toml");
    std::fs::write(&config, "[[vm]]\nname = \"a\"\nelf = \"guest.elf\"\n").expect("write");
    let (machine, files) = load_config_with(&config, fixture.builtins()).expect("loaded");
    assert_eq!(machine.vms[0].name, "a");
    assert_eq!(
        files,
        [("guest.elf".to_string(), fixture.path("guest.elf"))]
    );
}

#[test]
fn load_config_errors_name_the_file() {
    let fixture = Fixture::new();
    let missing = fixture.path("missing.toml");
    let error = load_config_with(&missing, fixture.builtins()).expect_err("no file");
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(
        error
            .to_string()
            .starts_with(&format!("reading {}: ", missing.display()))
    );
    let config = fixture.path("bad.toml");
    std::fs::write(
        &config,
        "[[vm]]\nname = \"a\"\nram_mib = 3\nelf = \"guest.elf\"\n",
    )
    .expect("write");
    let error = load_config_with(&config, fixture.builtins()).expect_err("refused");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: vm[0].ram_mib: 3 must be even, 2..=2048",
            config.display()
        )
    );
    std::fs::write(&config, "[[vm]\n").expect("write");
    let error = load_config_with(&config, fixture.builtins()).expect_err("not TOML");
    assert!(matches!(error, ConfigError::Parse { .. }), "{error}");
}

#[test]
fn demo_config_runs_hello_in_two_vms_sharing_com1() {
    let (machine, files) = load_config(&example("demo.toml")).expect("demo config");
    let names: Vec<_> = machine.vms.iter().map(|vm| vm.name.as_str()).collect();
    assert_eq!(names, ["left", "right"]);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, "hello");
    assert_eq!(files[0].1, PathBuf::from(crate::config::DEMO_GUEST_PATH));
    for vm in &machine.vms {
        assert!(matches!(vm.devices[0].method, Method::HostBacked { .. }));
    }
    let bytes = encode(&machine).expect("encodes");
    assert_eq!(decode(&bytes), Ok(machine));
}

#[test]
fn linux_config_boots_the_debian_kernel_and_shell_from_the_guest_cache() {
    let fixture = Fixture::new().with_fake_linux_cache();
    let (machine, files) =
        load_config_with(&example("linux.toml"), fixture.builtins()).expect("linux config");
    let vm = &machine.vms[0];
    assert_eq!((vm.name.as_str(), vm.ram_mib), ("debian", 256));
    assert_eq!(
        vm.guest,
        Guest::Linux {
            kernel: "debian.bzimage".into(),
            initrd: Some("debian.initrd".into()),
            cmdline: "console=ttyS0".into(),
        }
    );
    assert!(matches!(
        vm.devices.as_slice(),
        [device] if device.kind == devices::vm_config::DeviceKind::Uart16550 { base: 0x3f8, irq: 4 }
            && device.method == Method::Emulated
    ));
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["debian.bzimage", "debian.initrd"]);
}

#[test]
fn four_methods_config_uses_every_method() {
    let (machine, _) = load_config(&example("four-methods.toml")).expect("four-methods config");
    let mut methods: Vec<&str> = machine
        .vms
        .iter()
        .flat_map(|vm| &vm.devices)
        .map(|device| match device.method {
            Method::Emulated => "emulated",
            Method::HostBacked { .. } => "host-backed",
            Method::Passthrough { .. } => "passthrough",
            Method::Mediated { .. } => "mediated",
        })
        .collect();
    methods.sort_unstable();
    methods.dedup();
    assert_eq!(
        methods,
        ["emulated", "host-backed", "mediated", "passthrough"]
    );
}
