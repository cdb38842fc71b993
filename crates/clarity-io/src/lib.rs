//! # clarity-io
//!
//! ## Overview
//! Reading and writing the images Clarity works on:
//! - [`dicom`]: single files (single- and multi-frame, Enhanced MR/CT functional groups), whole
//!   folders grouped into series, and derived series written back;
//! - [`nifti`]: NIfTI-1 and NIfTI-2, `.nii` and `.nii.gz` (read and written), `.hdr`/`.img` pairs (read);
//! - [`png`]: window/levelled slices and montages;
//! - [`sidecar`]: BIDS-style JSON sidecars of the acquisition parameters beside a NIfTI;
//! - [`gradients`]: FSL `.bval`/`.bvec` diffusion tables beside a NIfTI of a DWI series;
//! - [`damage`]: seeded byte-level damage, to check that no damaged file makes a reader panic.
//!
//! Everything returns [`clarity_core::Volume`] in the LPS world with voxels `i` fastest; every
//! error is an [`IoError`] that names the file.

pub mod damage;
pub mod dicom;
mod error;
pub mod gradients;
pub mod nifti;
pub mod png;
pub mod sidecar;

pub use error::{IoError, Result};

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Write the file at `path` through a temporary file beside it (`NAME.tmp`) that is renamed into
/// place once `write` has finished, so a failed or interrupted write never leaves a truncated
/// file where a good one stood (`--force` replaces outputs). A path that exists and is not a
/// regular file (`/dev/null`, a pipe) is written directly: renaming over it would replace it.
pub(crate) fn write_replacing(
    path: &Path,
    write: impl FnOnce(BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let werr = |source| IoError::Write { path: path.to_path_buf(), source };
    if path.exists() && !path.is_file() {
        return write(BufWriter::new(File::create(path).map_err(werr)?));
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let result = File::create(&tmp)
        .map_err(werr)
        .and_then(|f| write(BufWriter::new(f)))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(werr));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Write `text` to `path` through [`write_replacing`] (sidecars, diffusion tables).
pub(crate) fn write_text_replacing(path: &Path, text: &str) -> Result<()> {
    write_replacing(path, |mut w| {
        std::io::Write::write_all(&mut w, text.as_bytes())
            .and_then(|_| std::io::Write::flush(&mut w))
            .map_err(|source| IoError::Write { path: path.to_path_buf(), source })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.nii");
        std::fs::write(&path, b"the good old file").unwrap();
        let failed = write_replacing(&path, |mut w| {
            w.write_all(b"half of the new").unwrap();
            w.flush().unwrap();
            Err(IoError::Write { path: path.clone(), source: std::io::Error::other("disk full") })
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"the good old file");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "a temporary was left");
        write_replacing(&path, |mut w| {
            w.write_all(b"new").map_err(|source| IoError::Write { path: path.clone(), source })?;
            w.flush().map_err(|source| IoError::Write { path: path.clone(), source })
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Not a regular file: written in place, never renamed over.
        let null = Path::new("/dev/null");
        write_replacing(null, |mut w| {
            w.write_all(b"x").map_err(|source| IoError::Write { path: null.into(), source })
        })
        .unwrap();
        assert!(!null.is_file() && null.exists());
    }
}
