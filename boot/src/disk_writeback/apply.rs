//! Writing complete dumps into their image files, and reporting what became of each dump.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};

use devices::virtio::block_backend::SECTOR_BYTES;

use super::{DiskDump, DumpError, DumpProblem, WriteBack, WriteBackTarget};
use crate::exit::Verdict;

/// Writes `dump` into its target's image file, after checking the file's size.
fn apply(dump: &DiskDump, targets: &[WriteBackTarget]) -> Result<WriteBack, String> {
    let target = targets
        .iter()
        .find(|target| target.vm == dump.vm && target.device == dump.device)
        .ok_or_else(|| DumpProblem::NoTarget.to_string())?;
    let path = &target.path;
    let io_error = |doing: &str, error: std::io::Error| {
        format!(
            "{doing} {}: {error} (it may be partly written)",
            path.display()
        )
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|error| format!("opening {}: {error}", path.display()))?;
    let bytes = file
        .metadata()
        .map_err(|error| format!("reading the size of {}: {error}", path.display()))?
        .len();
    let expected = dump.sectors.saturating_mul(SECTOR_BYTES as u64);
    if bytes != expected {
        return Err(format!(
            "the dump is of a {} sector disk ({expected} bytes), {} has {bytes} bytes",
            dump.sectors,
            path.display()
        ));
    }
    for sector in &dump.dirty {
        let offset = sector.number.saturating_mul(SECTOR_BYTES as u64);
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(sector.data.as_slice()))
            .map_err(|error| io_error("writing", error))?;
    }
    file.sync_all()
        .map_err(|error| io_error("syncing", error))?;
    Ok(WriteBack::Written {
        vm: dump.vm.clone(),
        device: dump.device.clone(),
        path: path.clone(),
        sectors: dump.dirty.len(),
    })
}

/// Applies every complete dump to its target and reports each dump, refused ones included (in
/// output order; two dumps of one disk are applied in that order).
pub fn write_back(
    dumps: Vec<Result<DiskDump, DumpError>>,
    targets: &[WriteBackTarget],
) -> Vec<WriteBack> {
    dumps
        .into_iter()
        .map(|dump| match dump {
            Ok(dump) => apply(&dump, targets).unwrap_or_else(|reason| WriteBack::Refused {
                vm: dump.vm.clone(),
                device: dump.device.clone(),
                reason,
            }),
            Err(error) => WriteBack::Refused {
                reason: error.problem.to_string(),
                vm: error.vm,
                device: error.device,
            },
        })
        .collect()
}

/// Every dump refused because the run ended with `verdict` (see [`run_allows_write_back`]).
pub fn refuse_all(dumps: Vec<Result<DiskDump, DumpError>>, verdict: Verdict) -> Vec<WriteBack> {
    dumps
        .into_iter()
        .map(|dump| {
            let (vm, device) = match dump {
                Ok(dump) => (dump.vm, dump.device),
                Err(error) => (error.vm, error.device),
            };
            WriteBack::Refused {
                vm,
                device,
                reason: format!(
                    "the run ended with {verdict}, so the hypervisor's copy is not trusted"
                ),
            }
        })
        .collect()
}
