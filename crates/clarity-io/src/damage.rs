//! Byte-level damage for robustness checks: the readers must answer a damaged file with a
//! volume or an error, never a panic. Used by the bad-input tests (on the `tests/bad` controls
//! and a few damaged copies of every file of the shared corpus) and by
//! `examples/mutate_corpus.rs` (as many copies per file as asked).

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `bytes` damaged one of four ways, chosen and placed by `seed` (the same seed always does
/// the same damage): up to 8 bytes overwritten (mostly in the first 4 KiB, where the lengths,
/// counts and offsets a reader trusts are), the file cut short, a 32-bit field set to an extreme
/// (0, 1, 0xFFFF, 0x8000, i32::MAX, u32::MAX), or a run of up to 63 bytes repeated or removed
/// so that everything after it shifts.
pub fn damage(bytes: &[u8], seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = bytes.to_vec();
    if out.is_empty() {
        return out;
    }
    let header_end = out.len().min(4096);
    match rng.gen_range(0..4) {
        0 => {
            for _ in 0..rng.gen_range(1..=8) {
                let end = if rng.gen_bool(0.8) { header_end } else { out.len() };
                let i = rng.gen_range(0..end);
                out[i] = rng.gen();
            }
        }
        1 => out.truncate(rng.gen_range(0..out.len())),
        2 => {
            let i = rng.gen_range(0..header_end);
            let v: u32 = [0, 1, 0xffff, 0x8000, 0x7fff_ffff, 0xffff_ffff][rng.gen_range(0..6)];
            let n = 4.min(out.len() - i);
            out[i..i + n].copy_from_slice(&v.to_le_bytes()[..n]);
        }
        _ => {
            let i = rng.gen_range(0..header_end);
            let len = rng.gen_range(1..64).min(out.len() - i);
            if rng.gen_bool(0.5) {
                let run = out[i..i + len].to_vec();
                out.splice(i..i, run);
            } else {
                out.drain(i..i + len);
            }
        }
    }
    out
}

/// Copy `seed` of the `file_index`-th file of [`corpus_files`], damaged by [`damage`]: one
/// rule, so that `mutate_corpus` and `audit_damage` name the same damage by the same
/// `(file, seed)`.
pub fn corpus_copy(bytes: &[u8], file_index: usize, seed: u64) -> Vec<u8> {
    damage(bytes, seed * 1_000_003 + file_index as u64)
}

/// The files under `root` that [`read_damaged`] reads: DICOM (`.dcm`, and the extension-less
/// files of the WG04 set) and NIfTI (`.nii`, `.nii.gz`), up to 8 MiB each (larger ones cost
/// seconds per copy and hold nothing the readers treat differently), sorted.
pub fn corpus_files(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            let name = p.to_string_lossy().to_ascii_lowercase();
            let big = std::fs::metadata(p).map(|m| m.len() > 8 << 20).unwrap_or(true);
            !big && (name.ends_with(".dcm")
                || name.ends_with(".nii")
                || name.ends_with(".nii.gz")
                || name.contains("/wg04/"))
        })
        .collect();
    out.sort();
    out
}

/// What a reader made of a (damaged) file.
#[derive(Debug)]
pub enum Outcome {
    /// A volume.
    Read,
    /// An error, with its message.
    Error(String),
    /// A panic, with its message: the failure these checks look for.
    Panic(String),
}

/// Read `path` as NIfTI (by its name) or as a DICOM series, catching a panic.
pub fn read_damaged(path: &Path) -> Outcome {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let nifti = name.ends_with(".nii") || name.ends_with(".nii.gz");
    let result = std::panic::catch_unwind(|| {
        if nifti {
            crate::nifti::read_nifti(path).map(|_| ())
        } else {
            crate::dicom::read_series(path, Default::default()).map(|_| ())
        }
    });
    match result {
        Ok(Ok(())) => Outcome::Read,
        Ok(Err(e)) => Outcome::Error(e.to_string()),
        Err(p) => Outcome::Panic(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::damage;

    #[test]
    fn damage_is_fixed_by_its_seed_and_changes_the_bytes() {
        let bytes: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        assert_eq!(damage(&bytes, 7), damage(&bytes, 7));
        let changed = (0..200).filter(|&s| damage(&bytes, s) != bytes).count();
        // A byte may be overwritten by its own value or a field by the value it held.
        assert!(changed >= 190, "only {changed} of 200 seeds changed the file");
        assert!(damage(&[], 3).is_empty());
    }
}
