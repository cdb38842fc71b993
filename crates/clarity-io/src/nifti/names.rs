//! Names: which paths are NIfTI, the other half of a `.hdr` / `.img` pair, and the files that
//! go beside a NIfTI.

use std::path::{Path, PathBuf};

use super::nifti_err;
use crate::error::Result;

/// Whether `path` names a NIfTI file by its extension: `.nii`, or either half of a pair
/// (`.hdr` / `.img`), each optionally gzipped; any case.
pub fn is_nifti_name(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".nii", ".hdr", ".img"].iter().any(|ext| name.ends_with(ext))
}

/// Whether `path` names a single-file NIfTI, the form this crate writes: `.nii` or `.nii.gz`,
/// any case.
pub fn is_single_file_name(path: &Path) -> bool {
    single_file_stem_len(&path.to_string_lossy()).is_some()
}

/// The length of `name` without its `.nii` / `.nii.gz` (any case), if it ends in one.
fn single_file_stem_len(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    [".nii.gz", ".nii"].iter().find(|e| lower.ends_with(*e)).map(|e| name.len() - e.len())
}

/// `scan.EXT` beside `scan.nii` or `scan.nii.gz` (any case); `NAME.EXT` for any other name:
/// where the sidecar and the diffusion tables of a NIfTI go.
pub(crate) fn beside_nifti(nifti: &Path, ext: &str) -> PathBuf {
    let name = nifti.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem_len = single_file_stem_len(&name).unwrap_or(name.len());
    nifti.with_file_name(format!("{}.{ext}", &name[..stem_len]))
}

/// The header and voxel files of a NIfTI pair that `path` (either half, gzipped or not) belongs
/// to, or None when `path` is not named as half of a pair. The other half is looked for beside
/// it with the same stem, gzipped or not, in the case `path` uses; an error names what is
/// missing.
pub(super) fn pair_files(path: &Path) -> Option<Result<(PathBuf, PathBuf)>> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let lower = name.to_ascii_lowercase();
    let unzipped = lower.strip_suffix(".gz").unwrap_or(&lower);
    let is_header = unzipped.ends_with(".hdr");
    if !is_header && !unzipped.ends_with(".img") {
        return None;
    }
    let stem = &name[..unzipped.len() - 4];
    let upper = name[unzipped.len() - 3..unzipped.len()].chars().all(|c| c.is_ascii_uppercase());
    let other_ext = match (is_header, upper) {
        (true, false) => "img",
        (true, true) => "IMG",
        (false, false) => "hdr",
        (false, true) => "HDR",
    };
    let candidates: Vec<PathBuf> =
        [format!("{stem}.{other_ext}"), format!("{stem}.{other_ext}.gz")]
            .into_iter()
            .map(|n| path.with_file_name(n))
            .collect();
    let Some(other) = candidates.iter().find(|p| p.is_file()) else {
        return Some(Err(nifti_err(
            path,
            format!(
                "the {} of this .hdr/.img pair is missing: no {} or {} beside it",
                if is_header { "voxel file" } else { "header" },
                candidates[0].display(),
                candidates[1].display()
            ),
        )));
    };
    let (header, voxels) = if is_header {
        (path.to_path_buf(), other.clone())
    } else {
        (other.clone(), path.to_path_buf())
    };
    Some(Ok((header, voxels)))
}
