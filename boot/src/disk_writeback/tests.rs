//! Dumps as the kernel prints them, parsed and written back into image files; refusals of every
//! kind leave the image as it was.

use std::path::{Path, PathBuf};

use devices::virtio::block_backend::SECTOR_BYTES;
use devices::virtio::tracked_disk::{FNV_OFFSET_BASIS, fnv1a};

use super::*;
use crate::exit::Verdict;

/// An image of `sectors` sectors, sector `n` filled with byte `n`.
fn image(dir: &tempfile::TempDir, sectors: u8) -> PathBuf {
    let path = dir.path().join("disk.img");
    let bytes: Vec<u8> = (0..sectors)
        .flat_map(|sector| [sector; SECTOR_BYTES])
        .collect();
    std::fs::write(&path, bytes).expect("image");
    path
}

fn target(path: &Path) -> Vec<WriteBackTarget> {
    vec![WriteBackTarget {
        vm: "debian".to_string(),
        device: "disk".to_string(),
        path: path.to_path_buf(),
    }]
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The lines the kernel prints for `dirty` sectors of a disk of `sectors` sectors.
fn dump_lines(sectors: u64, dirty: &[(u64, [u8; SECTOR_BYTES])]) -> Vec<String> {
    let mut hash = FNV_OFFSET_BASIS;
    let mut lines = vec![format!(
        "HV-DISK debian disk begin sectors={sectors} dirty={}",
        dirty.len()
    )];
    for (number, data) in dirty {
        hash = fnv1a(fnv1a(hash, &number.to_le_bytes()), data);
        lines.push(format!("HV-DISK debian disk {number} {}", hex(data)));
    }
    lines.push(format!(
        "HV-DISK debian disk end dirty={} fnv1a={:016x}",
        dirty.len(),
        hash
    ));
    lines
}

/// Two changed sectors (1 and 5) of an 8-sector disk.
fn two_sectors() -> Vec<(u64, [u8; SECTOR_BYTES])> {
    let mut text = [0u8; SECTOR_BYTES];
    text[..6].copy_from_slice(b"hello\n");
    vec![(1, text), (5, [0xa5; SECTOR_BYTES])]
}

/// Parses `lines`, writes back into a fresh 8-sector image, and returns the reports and
/// whether the image is unchanged.
fn write_back_lines(lines: &[String]) -> (Vec<WriteBack>, bool) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = image(&dir, 8);
    let before = std::fs::read(&path).expect("image");
    let reports = write_back(parse(&lines.join("\n"), &target(&path)), &target(&path));
    let unchanged = std::fs::read(&path).expect("image") == before;
    (reports, unchanged)
}

fn refusal(lines: &[String]) -> String {
    let (reports, unchanged) = write_back_lines(lines);
    assert!(unchanged, "a refused dump wrote to the image");
    match reports.as_slice() {
        [WriteBack::Refused { reason, .. }] => reason.clone(),
        other => panic!("expected one refusal, got {other:?}"),
    }
}

#[test]
fn a_dump_amid_other_lines_is_written_back_in_place() {
    let dirty = two_sectors();
    let mut lines = vec!["\0[INFO ] microhypervisor starting".to_string()];
    let dump = dump_lines(8, &dirty);
    lines.push(dump[0].clone());
    lines.push("[debian] a guest line in between".to_string());
    lines.extend(dump[1..].iter().cloned());
    lines.push("HV-EXIT status=0".to_string());
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = image(&dir, 8);
    let reports = write_back(parse(&lines.join("\r\n"), &target(&path)), &target(&path));
    assert_eq!(
        reports,
        [WriteBack::Written {
            vm: "debian".to_string(),
            device: "disk".to_string(),
            path: path.clone(),
            sectors: 2,
        }]
    );
    assert_eq!(
        reports[0].to_string(),
        format!("wrote 2 sectors back to {}", path.display())
    );
    let after = std::fs::read(&path).expect("image");
    assert_eq!(after.len(), 8 * SECTOR_BYTES);
    for (sector, bytes) in after.as_chunks::<SECTOR_BYTES>().0.iter().enumerate() {
        let expected: Vec<u8> = match dirty.iter().find(|(number, _)| *number == sector as u64) {
            Some((_, data)) => data.to_vec(),
            None => vec![sector as u8; SECTOR_BYTES],
        };
        assert_eq!(bytes.as_slice(), expected.as_slice(), "sector {sector}");
    }
}

#[test]
fn the_kernels_own_dump_of_a_written_disk_round_trips_into_the_image() {
    use devices::virtio::{BlockBackend, MemoryDisk, TrackedDisk, dump_lines};
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = image(&dir, 64);
    let original = std::fs::read(&path).expect("image");
    let mut disk =
        TrackedDisk::new(MemoryDisk::new(original.clone()).expect("a whole number of sectors"));
    disk.write(3, &[0x11; 2 * SECTOR_BYTES]).expect("write");
    disk.write(
        40,
        b"written by the guest"
            .repeat(SECTOR_BYTES / 20 + 1)
            .get(..SECTOR_BYTES)
            .expect("a sector"),
    )
    .expect("write");
    disk.write(63, &[0xff; SECTOR_BYTES]).expect("write");
    let text: String = dump_lines("debian", "disk", &disk)
        .map(|line| line + "\n")
        .collect();
    let reports = write_back(parse(&text, &target(&path)), &target(&path));
    assert!(
        matches!(reports.as_slice(), [WriteBack::Written { sectors: 4, .. }]),
        "{reports:?}"
    );
    assert_eq!(std::fs::read(&path).expect("image"), disk.bytes());
    assert_ne!(disk.bytes(), original.as_slice());
}

#[test]
fn a_dump_without_its_end_line_is_refused() {
    let mut lines = dump_lines(8, &two_sectors());
    lines.pop();
    assert_eq!(refusal(&lines), "incomplete dump: no end line");
}

#[test]
fn a_dump_begun_again_before_its_end_is_refused_and_the_second_taken() {
    let first = dump_lines(8, &two_sectors());
    let mut lines = first[..2].to_vec();
    lines.extend(dump_lines(8, &two_sectors()));
    let (reports, unchanged) = write_back_lines(&lines);
    assert!(!unchanged);
    assert!(matches!(
        reports.as_slice(),
        [WriteBack::Refused { reason, .. }, WriteBack::Written { sectors: 2, .. }]
            if reason == "incomplete dump: no end line"
    ));
}

#[test]
fn a_missing_sector_line_is_refused() {
    let mut lines = dump_lines(8, &two_sectors());
    lines.remove(2);
    assert_eq!(
        refusal(&lines),
        "incomplete dump: 1 sector lines, begin line announced 2, end line 2"
    );
}

#[test]
fn a_bad_checksum_is_refused() {
    let mut lines = dump_lines(8, &two_sectors());
    let end = lines.pop().expect("end line");
    let (head, _) = end.split_once("fnv1a=").expect("checksum field");
    lines.push(format!("{head}fnv1a=0123456789abcdef"));
    assert!(refusal(&lines).starts_with("bad checksum: end line says fnv1a=0123456789abcdef"),);
    // A flipped data bit is caught the same way.
    let mut lines = dump_lines(8, &two_sectors());
    lines[2] = lines[2].replacen("a5", "a4", 1);
    assert!(refusal(&lines).starts_with("bad checksum"));
}

#[test]
fn a_sector_count_other_than_the_files_is_refused() {
    let lines = dump_lines(16, &two_sectors());
    let reason = refusal(&lines);
    assert!(
        reason.starts_with("the dump is of a 16 sector disk (8192 bytes), "),
        "{reason}"
    );
    assert!(reason.ends_with("has 4096 bytes"), "{reason}");
}

#[test]
fn a_dump_for_an_unknown_vm_or_device_is_refused() {
    let lines: Vec<String> = dump_lines(8, &two_sectors())
        .iter()
        .map(|line| line.replace("HV-DISK debian disk", "HV-DISK debian other"))
        .collect();
    assert_eq!(
        refusal(&lines),
        "the configuration has no virtio-blk device of that name"
    );
    let (reports, _) = write_back_lines(&lines);
    assert_eq!(
        reports[0].to_string(),
        "disk of VM \"debian\" device \"other\" not written back: the configuration has no virtio-blk device of that name"
    );
}

#[test]
fn malformed_sector_lines_are_refused() {
    let base = dump_lines(8, &two_sectors());
    let with = |index: usize, line: String| {
        let mut lines = base.clone();
        lines[index] = line;
        refusal(&lines)
    };
    let upper = base[2]
        .to_uppercase()
        .replace("HV-DISK DEBIAN DISK", "HV-DISK debian disk");
    assert!(with(2, upper).contains("not 1024 lowercase hex digits"));
    assert!(with(2, format!("HV-DISK debian disk 5 {}", "ab".repeat(100))).contains("not 1024"));
    assert!(
        with(1, base[1].replacen(" 1 ", " 8 ", 1))
            .contains("sector 8 is beyond the disk's 8 sectors")
    );
    assert!(
        with(2, base[2].replacen(" 5 ", " 1 ", 1)).contains("is not above the sector before it")
    );
    assert!(with(2, format!("{} extra", base[2])).contains("text after the data"));
    assert!(
        with(0, "HV-DISK debian disk begin sectors=8".to_string()).contains("begin line must be")
    );
    assert!(
        with(0, "HV-DISK debian disk begin sectors=8 dirty=9".to_string())
            .contains("a disk of 8 sectors")
    );
    assert!(with(3, "HV-DISK debian disk end dirty=2".to_string()).contains("end line must be"));
}

#[test]
fn lines_without_a_begin_line_are_refused() {
    let lines = dump_lines(8, &two_sectors());
    assert_eq!(refusal(&lines[1..]), "dump lines without a begin line");
    assert_eq!(refusal(&lines[3..]), "dump lines without a begin line");
}

#[test]
fn an_unchanged_disk_prints_nothing_and_nothing_is_written() {
    let (reports, unchanged) = write_back_lines(&[
        "[debian] no dump here".to_string(),
        "HV-DISKS x".to_string(),
    ]);
    assert!(reports.is_empty());
    assert!(unchanged);
}

#[test]
fn lines_are_classified_for_the_console() {
    let lines = dump_lines(8, &two_sectors());
    let mut collector = DumpCollector::new(&target(Path::new("disk.img")));
    let kinds: Vec<LineKind> = lines.iter().map(|line| collector.line(line)).collect();
    assert_eq!(
        kinds,
        [
            LineKind::Header,
            LineKind::Sector,
            LineKind::Sector,
            LineKind::Header
        ]
    );
    assert_eq!(collector.line("[debian] HV-DISK x"), LineKind::Other);
    assert_eq!(collector.finish().len(), 1);
}

#[test]
fn only_success_or_a_vm_failure_allows_write_back() {
    assert!(run_allows_write_back(Verdict::Success));
    assert!(run_allows_write_back(Verdict::Failure { status: 5 }));
    assert!(!run_allows_write_back(Verdict::Failure { status: 2 }));
    assert!(!run_allows_write_back(Verdict::Timeout));
    assert!(!run_allows_write_back(Verdict::NoExitLine {
        emulator_exit: Some(0)
    }));
    let refused = refuse_all(
        parse(
            &dump_lines(8, &two_sectors()).join("\n"),
            &target(Path::new("disk.img")),
        ),
        Verdict::Timeout,
    );
    assert!(
        matches!(refused.as_slice(), [WriteBack::Refused { reason, .. }] if reason.contains("timeout"))
    );
}

#[test]
fn a_dump_without_a_target_is_refused_at_its_begin_line_and_its_sectors_not_kept() {
    let lines: Vec<String> = dump_lines(8, &two_sectors())
        .iter()
        .map(|line| line.replace("HV-DISK debian disk", "HV-DISK debian other"))
        .collect();
    let mut collector = DumpCollector::new(&target(Path::new("disk.img")));
    assert_eq!(collector.line(&lines[0]), LineKind::Header);
    assert_eq!(collector.line(&lines[1]), LineKind::Sector);
    assert_eq!(
        collector.buffered_sectors(),
        0,
        "no sector of a dump without a target is buffered"
    );
    for line in &lines[2..] {
        collector.line(line);
    }
    assert_eq!(
        collector.finish(),
        [Err(DumpError {
            vm: "debian".to_string(),
            device: "other".to_string(),
            problem: DumpProblem::NoTarget,
        })]
    );
    // A collector with no targets at all takes no dump.
    assert!(matches!(
        parse(&dump_lines(8, &two_sectors()).join("\n"), &[]).as_slice(),
        [Err(DumpError {
            problem: DumpProblem::NoTarget,
            ..
        })]
    ));
}

#[test]
fn the_kernels_refused_line_is_a_refusal_with_its_reason() {
    let (reports, unchanged) = write_back_lines(&[
        "HV-DISK debian disk refused dirty=5000 max=4096".to_string(),
        "HV-EXIT status=0".to_string(),
    ]);
    assert!(unchanged);
    assert_eq!(
        reports,
        [WriteBack::Refused {
            vm: "debian".to_string(),
            device: "disk".to_string(),
            reason: "the kernel did not dump the disk: the guest changed 5000 sectors, more than the 4096 it dumps".to_string(),
        }]
    );
    assert_eq!(
        refusal(&["HV-DISK debian disk refused dirty=5000".to_string()]),
        "malformed dump: refused line must be `refused dirty=N max=M`"
    );
    // A refused line ends a dump of the same disk left open.
    let mut lines = dump_lines(8, &two_sectors());
    lines.truncate(2);
    lines.push("HV-DISK debian disk refused dirty=5000 max=4096".to_string());
    let (reports, unchanged) = write_back_lines(&lines);
    assert!(unchanged);
    assert!(matches!(
        reports.as_slice(),
        [WriteBack::Refused { reason: first, .. }, WriteBack::Refused { reason: second, .. }]
            if first == "incomplete dump: no end line" && second.starts_with("the kernel did not dump")
    ));
}

#[test]
fn the_line_prefix_is_the_kernels_dump_prefix_and_a_space() {
    assert_eq!(
        DISK_LINE_PREFIX,
        format!("{} ", devices::virtio::tracked_disk::DUMP_PREFIX)
    );
}
