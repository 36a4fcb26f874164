//! Kernel modules for the initramfs: finding a module's `.ko` file by name and ordering a set of
//! modules so every one comes after the modules it needs (the order busybox `insmod` must load
//! them in).
//!
//! Debian's kernel package ships no `modules.dep` (`depmod` writes it on installation), so the
//! dependencies come from where `depmod` and `modinfo` find them: the `depends=` entry of the
//! module's `.modinfo` ELF section, a list of NUL-terminated `key=value` strings written by
//! `modpost` at build time (Linux `scripts/mod/modpost.c`, `add_depends`). Module names treat `-`
//! and `_` alike, as the kernel does. Debian 12 builds with `CONFIG_MODULE_COMPRESS_NONE`, so
//! modules are plain `.ko` files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use xmas_elf::ElfFile;

use super::error::LinuxError;

/// The virtio modules the guest loads for virtio-pci, virtio-blk and virtio-console; their
/// dependencies (`virtio`, `virtio_ring`, `virtio_pci_legacy_dev`, `virtio_pci_modern_dev`) are
/// added by [`resolve`].
pub const VIRTIO_MODULES: [&str; 3] = ["virtio_pci", "virtio_blk", "virtio_console"];
/// The directory below `lib/modules/<release>` that holds the module tree.
pub const MODULE_TREE: &str = "kernel";
/// File name ending of an uncompressed kernel module.
pub const MODULE_SUFFIX: &str = ".ko";
/// The ELF section holding a module's `key=value` information.
pub const MODINFO_SECTION: &str = ".modinfo";
/// The `.modinfo` key listing the modules this one needs, comma-separated.
pub const DEPENDS_KEY: &str = "depends=";
/// Most modules one resolution may pull in (the virtio set needs 7).
pub const MAX_RESOLVED_MODULES: usize = 64;
/// Deepest directory nesting searched below [`MODULE_TREE`] (Linux's tree is 6 deep).
const MAX_TREE_DEPTH: usize = 12;

/// One module to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelModule {
    /// Its name with `_` (`virtio_pci_modern_dev`).
    pub name: String,
    /// The `.ko` file on the host.
    pub path: PathBuf,
    /// Its path relative to `lib/modules/<release>` (`kernel/drivers/virtio/virtio.ko`).
    pub relative: PathBuf,
}

/// A module name as the kernel compares it: `-` read as `_`.
pub fn canonical_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Every module below `modules_dir/kernel`, by canonical name, as paths relative to
/// `modules_dir`.
pub fn module_index(modules_dir: &Path) -> Result<BTreeMap<String, PathBuf>, LinuxError> {
    let mut index = BTreeMap::new();
    let mut pending = vec![(PathBuf::from(MODULE_TREE), 0_usize)];
    while let Some((relative, depth)) = pending.pop() {
        let dir = modules_dir.join(&relative);
        let listing = |error| LinuxError::io(format!("listing {}", dir.display()), error);
        for entry in fs::read_dir(&dir).map_err(listing)? {
            let entry = entry.map_err(listing)?;
            let name = entry.file_name();
            let child = relative.join(&name);
            let kind = entry.file_type().map_err(listing)?;
            if kind.is_dir() {
                if depth < MAX_TREE_DEPTH {
                    pending.push((child, depth + 1));
                }
            } else if let Some(module) = name.to_str().and_then(|n| n.strip_suffix(MODULE_SUFFIX)) {
                index.insert(canonical_name(module), child);
            }
        }
    }
    Ok(index)
}

/// The module names in the `depends=` entry of an ELF module's `.modinfo` section (empty when
/// the module needs none).
pub fn modinfo_depends(module: &[u8]) -> Result<Vec<String>, String> {
    let elf = ElfFile::new(module).map_err(|why| format!("not an ELF file: {why}"))?;
    let section = elf
        .find_section_by_name(MODINFO_SECTION)
        .ok_or_else(|| format!("no {MODINFO_SECTION} section"))?;
    let start = usize::try_from(section.offset()).map_err(|_| "section offset overflows")?;
    let size = usize::try_from(section.size()).map_err(|_| "section size overflows")?;
    let data = start
        .checked_add(size)
        .and_then(|end| module.get(start..end))
        .ok_or_else(|| format!("{MODINFO_SECTION} lies outside the file"))?;
    let depends = data
        .split(|&byte| byte == 0)
        .find_map(|entry| entry.strip_prefix(DEPENDS_KEY.as_bytes()))
        .unwrap_or_default();
    let depends = std::str::from_utf8(depends).map_err(|_| "depends= is not UTF-8")?;
    Ok(depends
        .split(',')
        .filter(|name| !name.is_empty())
        .map(canonical_name)
        .collect())
}

/// `roots` and everything they need, each module after its dependencies; `depends_of` gives a
/// module's direct dependencies. Fails on a dependency loop or past
/// [`MAX_RESOLVED_MODULES`].
pub fn load_order(
    roots: &[&str],
    mut depends_of: impl FnMut(&str) -> Result<Vec<String>, LinuxError>,
) -> Result<Vec<String>, LinuxError> {
    /// A module being visited, with the dependencies still to visit.
    struct Frame {
        name: String,
        pending: std::vec::IntoIter<String>,
    }
    let mut order: Vec<String> = Vec::new();
    for root in roots {
        let root = canonical_name(root);
        if order.contains(&root) {
            continue;
        }
        let mut stack = vec![Frame {
            pending: depends_of(&root)?.into_iter(),
            name: root,
        }];
        while let Some(frame) = stack.last_mut() {
            let Some(next) = frame.pending.next() else {
                let done = stack.pop().map(|frame| frame.name).unwrap_or_default();
                order.push(done);
                continue;
            };
            if order.contains(&next) {
                continue;
            }
            if stack.iter().any(|frame| frame.name == next) {
                return Err(LinuxError::Module {
                    name: next,
                    reason: "its dependencies loop back to it".into(),
                });
            }
            if order.len().saturating_add(stack.len()) >= MAX_RESOLVED_MODULES {
                return Err(LinuxError::Module {
                    name: next,
                    reason: format!("more than {MAX_RESOLVED_MODULES} modules needed"),
                });
            }
            stack.push(Frame {
                pending: depends_of(&next)?.into_iter(),
                name: next,
            });
        }
    }
    Ok(order)
}

/// The modules `roots` need from `modules_dir` (`lib/modules/<release>`), in load order.
pub fn resolve(modules_dir: &Path, roots: &[&str]) -> Result<Vec<KernelModule>, LinuxError> {
    let index = module_index(modules_dir)?;
    let find = |name: &str| {
        index.get(name).ok_or_else(|| LinuxError::Module {
            name: name.to_string(),
            reason: format!("no {name}{MODULE_SUFFIX} below {}", modules_dir.display()),
        })
    };
    let order = load_order(roots, |name| {
        let path = modules_dir.join(find(name)?);
        let bytes = fs::read(&path)
            .map_err(|error| LinuxError::io(format!("reading {}", path.display()), error))?;
        modinfo_depends(&bytes).map_err(|reason| LinuxError::Module {
            name: name.to_string(),
            reason,
        })
    })?;
    order
        .into_iter()
        .map(|name| {
            let relative = find(&name)?.clone();
            Ok(KernelModule {
                path: modules_dir.join(&relative),
                relative,
                name,
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 relocatable file with one `.modinfo` section holding `modinfo`: ELF header
    /// (64 bytes), the section data, `.shstrtab`, then three section headers (null, `.modinfo`,
    /// `.shstrtab`) — the layout `modpost` output has, reduced to what the parser reads.
    pub(crate) fn fake_module(modinfo: &[u8]) -> Vec<u8> {
        const EHDR: usize = 64;
        const SHDR: usize = 64;
        const SHT_PROGBITS: u32 = 1;
        const SHT_STRTAB: u32 = 3;
        let shstrtab = b"\0.modinfo\0.shstrtab\0";
        let modinfo_at = EHDR;
        let shstrtab_at = modinfo_at + modinfo.len();
        let headers_at = (shstrtab_at + shstrtab.len()).next_multiple_of(8);
        let mut elf = vec![0_u8; headers_at];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // ELFCLASS64
        elf[5] = 1; // ELFDATA2LSB
        elf[6] = 1; // EV_CURRENT
        elf[16..18].copy_from_slice(&1_u16.to_le_bytes()); // ET_REL
        elf[18..20].copy_from_slice(&62_u16.to_le_bytes()); // EM_X86_64
        elf[20..24].copy_from_slice(&1_u32.to_le_bytes());
        elf[40..48].copy_from_slice(&(headers_at as u64).to_le_bytes()); // e_shoff
        elf[52..54].copy_from_slice(&(EHDR as u16).to_le_bytes());
        elf[58..60].copy_from_slice(&(SHDR as u16).to_le_bytes());
        elf[60..62].copy_from_slice(&3_u16.to_le_bytes()); // e_shnum
        elf[62..64].copy_from_slice(&2_u16.to_le_bytes()); // e_shstrndx
        elf[modinfo_at..shstrtab_at].copy_from_slice(modinfo);
        elf[shstrtab_at..shstrtab_at + shstrtab.len()].copy_from_slice(shstrtab);
        let section = |name: u32, kind: u32, offset: usize, size: usize| {
            let mut header = [0_u8; SHDR];
            header[..4].copy_from_slice(&name.to_le_bytes());
            header[4..8].copy_from_slice(&kind.to_le_bytes());
            header[24..32].copy_from_slice(&(offset as u64).to_le_bytes());
            header[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            header[48..56].copy_from_slice(&1_u64.to_le_bytes());
            header
        };
        elf.extend_from_slice(&[0_u8; SHDR]);
        elf.extend_from_slice(&section(1, SHT_PROGBITS, modinfo_at, modinfo.len()));
        elf.extend_from_slice(&section(10, SHT_STRTAB, shstrtab_at, shstrtab.len()));
        elf
    }

    /// Writes a fake module tree with the virtio modules and Debian 12's dependencies.
    pub(crate) fn fake_virtio_tree(modules_dir: &Path) {
        let modules: [(&str, &str); 7] = [
            ("drivers/virtio/virtio_ring", ""),
            ("drivers/virtio/virtio", "virtio_ring"),
            ("drivers/virtio/virtio_pci_legacy_dev", ""),
            ("drivers/virtio/virtio_pci_modern_dev", ""),
            (
                "drivers/virtio/virtio_pci",
                "virtio_ring,virtio_pci_modern_dev,virtio_pci_legacy_dev,virtio",
            ),
            ("drivers/block/virtio_blk", "virtio,virtio_ring"),
            ("drivers/char/virtio_console", "virtio,virtio_ring"),
        ];
        for (path, depends) in modules {
            let file = modules_dir.join(MODULE_TREE).join(format!("{path}.ko"));
            fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            let name = path.rsplit('/').next().expect("name");
            let modinfo = format!("license=GPL\0depends={depends}\0name={name}\0");
            fs::write(file, fake_module(modinfo.as_bytes())).expect("write module");
        }
    }

    #[test]
    fn modinfo_depends_reads_the_comma_list() {
        let module = fake_module(b"license=GPL\0depends=virtio,virtio-ring\0name=virtio_blk\0");
        assert_eq!(
            modinfo_depends(&module).expect("parsed"),
            vec!["virtio".to_string(), "virtio_ring".to_string()]
        );
        let leaf = fake_module(b"depends=\0name=virtio_ring\0");
        assert_eq!(
            modinfo_depends(&leaf).expect("parsed"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn modinfo_of_a_non_elf_file_is_an_error() {
        assert!(modinfo_depends(b"not an elf").is_err());
    }

    #[test]
    fn load_order_puts_dependencies_first_and_each_module_once() {
        let graph: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
            ("a", vec!["b", "c"]),
            ("b", vec!["c"]),
            ("c", vec![]),
            ("d", vec!["c"]),
        ]);
        let order = load_order(&["a", "d"], |name| {
            Ok(graph[name].iter().map(|dep| dep.to_string()).collect())
        })
        .expect("resolved");
        assert_eq!(order, vec!["c", "b", "a", "d"]);
    }

    #[test]
    fn load_order_refuses_a_dependency_loop() {
        let error = load_order(&["a"], |name| {
            Ok(vec![if name == "a" { "b" } else { "a" }.to_string()])
        })
        .expect_err("loop");
        assert!(matches!(error, LinuxError::Module { name, .. } if name == "a"));
    }

    #[test]
    fn virtio_set_resolves_to_seven_modules_in_debian_load_order() {
        let dir = tempfile::tempdir().expect("temporary directory");
        fake_virtio_tree(dir.path());
        let modules = resolve(dir.path(), &VIRTIO_MODULES).expect("resolved");
        let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "virtio_ring",
                "virtio_pci_modern_dev",
                "virtio_pci_legacy_dev",
                "virtio",
                "virtio_pci",
                "virtio_blk",
                "virtio_console",
            ]
        );
        assert_eq!(
            modules[5].relative,
            PathBuf::from("kernel/drivers/block/virtio_blk.ko")
        );
    }

    #[test]
    fn unknown_module_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("temporary directory");
        fake_virtio_tree(dir.path());
        let error = resolve(dir.path(), &["virtio_gpu"]).expect_err("absent");
        assert!(matches!(error, LinuxError::Module { name, .. } if name == "virtio_gpu"));
    }
}
