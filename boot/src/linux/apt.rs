//! Debian's package tools, driven as plain commands: `apt-cache` resolves the cloud kernel's
//! concrete package name, `apt-get download` fetches `.deb` files into a directory without
//! installing them (no root needed, see apt-get(8)), and `dpkg-deb -x` unpacks one into a
//! directory (dpkg-deb(1)). Parsing of the tools' output is kept in pure functions.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::error::LinuxError;
use crate::host::find_program;

/// The metapackage that always depends on the newest Debian 12 cloud kernel.
pub const KERNEL_METAPACKAGE: &str = "linux-image-cloud-amd64";
/// Start of every concrete cloud kernel package name (`linux-image-6.1.0-56-cloud-amd64`).
pub const KERNEL_PACKAGE_PREFIX: &str = "linux-image-6.1.0-";
/// End of every concrete cloud kernel package name.
pub const KERNEL_PACKAGE_SUFFIX: &str = "-cloud-amd64";
/// The statically linked busybox: one binary, no shared libraries to put into the initramfs.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";
/// How much of a failing command's standard error an error message keeps.
const STDERR_TAIL: usize = 2000;

/// Whether `name` is a concrete cloud kernel package: `linux-image-6.1.0-<abi>-cloud-amd64`.
pub fn is_kernel_package(name: &str) -> bool {
    kernel_abi(name).is_some()
}

/// The ABI number of a concrete cloud kernel package (`56` for
/// `linux-image-6.1.0-56-cloud-amd64`).
pub fn kernel_abi(name: &str) -> Option<u32> {
    let abi = name
        .strip_prefix(KERNEL_PACKAGE_PREFIX)?
        .strip_suffix(KERNEL_PACKAGE_SUFFIX)?;
    if abi.is_empty() || !abi.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    abi.parse().ok()
}

/// The concrete kernel package in `apt-cache depends linux-image-cloud-amd64` output, whose
/// lines look like `  Depends: linux-image-6.1.0-56-cloud-amd64`.
pub fn kernel_from_depends(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let name = line.trim().strip_prefix("Depends:")?.trim();
        is_kernel_package(name).then(|| name.to_string())
    })
}

/// The concrete kernel package with the highest ABI in `apt-cache search --names-only` output,
/// whose lines look like `linux-image-6.1.0-56-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)`.
pub fn newest_kernel_from_search(output: &str) -> Option<String> {
    output
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|name| Some((kernel_abi(name)?, name)))
        .max_by_key(|(abi, _)| *abi)
        .map(|(_, name)| name.to_string())
}

/// The shell command that downloads `packages` into `dir` by hand.
pub fn download_command(dir: &Path, packages: &[&str]) -> String {
    format!(
        "mkdir -p '{dir}' && cd '{dir}' && apt-get download {}",
        packages.join(" "),
        dir = dir.display()
    )
}

/// The shell command that refreshes apt's package lists, with `sudo` unless we are root.
pub fn update_command() -> String {
    let sudo = if rustix::process::geteuid().is_root() {
        ""
    } else {
        "sudo "
    };
    format!("{sudo}apt-get update")
}

/// Fails with [`LinuxError::ToolMissing`] unless `program` is on `PATH`.
pub fn require(program: &'static str, manual: impl FnOnce() -> String) -> Result<(), LinuxError> {
    if find_program(program).is_some() {
        Ok(())
    } else {
        Err(LinuxError::ToolMissing {
            program,
            command: manual(),
        })
    }
}

/// Runs `program args` in `dir` (or the current directory), capturing its output; a non-zero exit
/// is [`LinuxError::CommandFailed`] naming the command.
pub fn run(program: &str, args: &[&str], dir: Option<&Path>) -> Result<Output, LinuxError> {
    let shown = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = Command::new(program);
    command
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command
        .output()
        .map_err(|error| LinuxError::io(format!("starting `{shown}`"), error))?;
    if output.status.success() {
        return Ok(output);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail_start = stderr.len().saturating_sub(STDERR_TAIL);
    let tail = stderr
        .get(tail_start..)
        .unwrap_or(stderr.as_ref())
        .trim()
        .to_string();
    let shown = match dir {
        Some(dir) => format!("cd '{}' && {shown}", dir.display()),
        None => shown,
    };
    Err(LinuxError::CommandFailed {
        command: shown,
        status: output.status.to_string(),
        stderr: tail,
    })
}

/// Looks the concrete cloud kernel package up in the local apt lists (no network): the
/// metapackage's dependency first, else the newest `linux-image-6.1.0-*-cloud-amd64` by name.
pub fn lookup_kernel_package() -> Option<String> {
    let depends = run("apt-cache", &["depends", KERNEL_METAPACKAGE], None).ok();
    if let Some(name) =
        depends.and_then(|out| kernel_from_depends(&String::from_utf8_lossy(&out.stdout)))
    {
        return Some(name);
    }
    let pattern = format!(
        "^{}[0-9]+{}$",
        KERNEL_PACKAGE_PREFIX.replace('.', "\\."),
        KERNEL_PACKAGE_SUFFIX
    );
    let search = run("apt-cache", &["search", "--names-only", &pattern], None).ok()?;
    newest_kernel_from_search(&String::from_utf8_lossy(&search.stdout))
}

/// The concrete cloud kernel package, refreshing apt's lists once (as root) when they know none.
pub fn resolve_kernel_package(manual: &dyn Fn() -> String) -> Result<String, LinuxError> {
    require("apt-cache", manual)?;
    if let Some(name) = lookup_kernel_package() {
        return Ok(name);
    }
    if rustix::process::geteuid().is_root() && find_program("apt-get").is_some() {
        eprintln!("boot: no cloud kernel in apt's lists; running `apt-get update`");
        run("apt-get", &["update"], None)?;
        if let Some(name) = lookup_kernel_package() {
            return Ok(name);
        }
    }
    Err(LinuxError::Resolve {
        detail: format!(
            "neither `apt-cache depends {KERNEL_METAPACKAGE}` nor `apt-cache search` names a \
             {KERNEL_PACKAGE_PREFIX}*{KERNEL_PACKAGE_SUFFIX} package"
        ),
        command: update_command(),
    })
}

/// Downloads `package` into `dir` with `apt-get download`.
pub fn download(package: &str, dir: &Path) -> Result<(), LinuxError> {
    require("apt-get", || download_command(dir, &[package]))?;
    eprintln!("boot: apt-get download {package}");
    run("apt-get", &["download", package], Some(dir)).map(drop)
}

/// Unpacks the `.deb` at `deb` into `dir` with `dpkg-deb -x`.
pub fn unpack(deb: &Path, dir: &Path) -> Result<(), LinuxError> {
    require("dpkg-deb", || {
        format!("dpkg-deb -x '{}' '{}'", deb.display(), dir.display())
    })?;
    let deb = deb.to_string_lossy();
    let dir = dir.to_string_lossy();
    run("dpkg-deb", &["-x", &deb, &dir], None).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPENDS_OUTPUT: &str =
        "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n";
    const SEARCH_OUTPUT: &str = "\
linux-image-6.1.0-9-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)
linux-image-6.1.0-56-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)
linux-image-6.1.0-56-cloud-amd64-dbg - Debug symbols for linux-image-6.1.0-56-cloud-amd64
linux-image-6.1.0-55-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)
";

    #[test]
    fn concrete_kernel_package_names_carry_a_numeric_abi() {
        assert_eq!(kernel_abi("linux-image-6.1.0-56-cloud-amd64"), Some(56));
        assert_eq!(kernel_abi("linux-image-cloud-amd64"), None);
        assert_eq!(kernel_abi("linux-image-6.1.0-56-cloud-amd64-dbg"), None);
        assert_eq!(kernel_abi("linux-image-6.1.0-56-amd64"), None);
        assert_eq!(kernel_abi("linux-image-6.1.0--cloud-amd64"), None);
    }

    #[test]
    fn metapackage_dependency_names_the_kernel() {
        assert_eq!(
            kernel_from_depends(DEPENDS_OUTPUT).as_deref(),
            Some("linux-image-6.1.0-56-cloud-amd64")
        );
        assert_eq!(kernel_from_depends("E: No packages found\n"), None);
    }

    #[test]
    fn search_fallback_picks_the_highest_abi_not_the_last_line() {
        assert_eq!(
            newest_kernel_from_search(SEARCH_OUTPUT).as_deref(),
            Some("linux-image-6.1.0-56-cloud-amd64")
        );
        assert_eq!(newest_kernel_from_search(""), None);
    }

    #[test]
    fn manual_download_command_is_runnable_as_written() {
        assert_eq!(
            download_command(Path::new("/c/downloads"), &["busybox-static", "x"]),
            "mkdir -p '/c/downloads' && cd '/c/downloads' && apt-get download busybox-static x"
        );
    }

    #[test]
    fn failing_command_error_names_the_command_and_directory() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let error = run("sh", &["-c", "echo oops >&2; exit 3"], Some(dir.path()))
            .expect_err("exit 3 fails");
        let LinuxError::CommandFailed {
            command, stderr, ..
        } = error
        else {
            panic!("unexpected error {error}");
        };
        assert_eq!(
            command,
            format!(
                "cd '{}' && sh -c echo oops >&2; exit 3",
                dir.path().display()
            )
        );
        assert_eq!(stderr, "oops");
    }
}
