//! What goes beside a NIfTI made from DICOM, as dcm2niix writes it: the BIDS sidecar
//! `NAME.json` and, for a diffusion-weighted volume, FSL's `NAME.bval` and `NAME.bvec`.
//! Shared by `convert` and `enhance`, so a NIfTI from either carries the same. From a NIfTI
//! input, the tables beside it (as dcm2niix left them) are carried over: both commands keep
//! the grid and the frames, so the voxel-frame directions still hold.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clarity_core::Volume;
use clarity_io::gradients::{diffusion_table, table_paths, write_diffusion_table};
use clarity_io::sidecar::{sidecar_path, write_bids_sidecar};

/// The NIfTI and every file that may be written beside it, for the check against replacing
/// an earlier run's outputs.
pub fn with_sidecars(nifti: &Path) -> Vec<PathBuf> {
    let (bval, bvec) = table_paths(nifti);
    vec![nifti.to_path_buf(), sidecar_path(nifti), bval, bvec]
}

/// Every file a run writing the NIfTI `output` from `input` may put in place: the NIfTI, the
/// sidecar (from DICOM) and the diffusion tables.
pub fn nifti_outputs(input: &Path, output: &Path) -> Vec<PathBuf> {
    if super::is_nifti(input) {
        let (bval, bvec) = table_paths(output);
        vec![output.to_path_buf(), bval, bvec]
    } else {
        with_sidecars(output)
    }
}

/// What goes beside the NIfTI `output` of `vol` read from `input`: from DICOM the sidecar and
/// tables made from its header, from NIfTI the input's tables copied.
pub fn write_beside(vol: &Volume, input: &Path, output: &Path) -> anyhow::Result<()> {
    if super::is_nifti(input) {
        copy_input_tables(input, output, vol.frames)
    } else {
        write_sidecars(vol, output)
    }
}

/// Copy `NAME.bval`/`NAME.bvec` from beside the input to beside the output, when the .bval
/// has one value per frame (else they belong to another image: said, not copied). Tables a
/// replaced run left beside the output are removed when the input has none.
fn copy_input_tables(input: &Path, output: &Path, frames: usize) -> anyhow::Result<()> {
    let (from, to) = (table_paths(input), table_paths(output));
    let pairs = [(&from.0, &to.0), (&from.1, &to.1)];
    // Written in place (`--force` onto the input), the input's tables are the output's: never
    // copied onto themselves (that empties them) nor removed as stale.
    let own: Vec<PathBuf> =
        pairs.iter().filter(|(src, dst)| super::same_path(src, dst)).map(|p| p.1.clone()).collect();
    if from.0.is_file() {
        let text = std::fs::read_to_string(&from.0)
            .with_context(|| format!("reading {}", from.0.display()))?;
        let values = text.split_whitespace().count();
        if values != frames {
            eprintln!(
                "note: {} has {values} b-value(s) for {frames} volume(s); not copied beside the output",
                from.0.display()
            );
            return remove_stale(&[to.0, to.1], &own);
        }
    }
    let mut kept = own.clone();
    for (src, dst) in pairs {
        if src.is_file() && !own.contains(dst) {
            std::fs::copy(src, dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
            println!("wrote {} (copied from {})", dst.display(), src.display());
            kept.push(dst.clone());
        }
    }
    remove_stale(&[to.0, to.1], &kept)
}

/// Remove the files of `tables` not in `written` that a replaced run (`--force`) left.
fn remove_stale(tables: &[PathBuf], written: &[PathBuf]) -> anyhow::Result<()> {
    for stale in tables.iter().filter(|p| !written.contains(p) && p.is_file()) {
        std::fs::remove_file(stale)
            .with_context(|| format!("removing the stale {}", stale.display()))?;
        println!("removed {} (left by the run this one replaced)", stale.display());
    }
    Ok(())
}

/// Write the sidecar of `vol` beside `nifti`, and its diffusion tables when it has them.
pub fn write_sidecars(vol: &Volume, nifti: &Path) -> anyhow::Result<()> {
    let sidecar = sidecar_path(nifti);
    write_bids_sidecar(vol, &sidecar)?;
    println!("wrote {} (acquisition parameters)", sidecar.display());
    write_gradient_tables(vol, nifti)
}

/// NAME.bval and NAME.bvec beside a NIfTI of a diffusion-weighted volume; says so when the
/// directions are not known. Tables that a replaced run (`--force`) left beside a volume that
/// has none are removed: they would be read as its own.
fn write_gradient_tables(vol: &Volume, nifti: &Path) -> anyhow::Result<()> {
    let table = diffusion_table(vol);
    let written = match &table {
        Some(t) => write_diffusion_table(t, nifti)?,
        None => Vec::new(),
    };
    let (bval, bvec) = table_paths(nifti);
    remove_stale(&[bval, bvec], &written)?;
    match table {
        Some(t) if t.fsl_directions.is_some() => {
            println!("wrote {} and .bvec (diffusion b-values and directions)", written[0].display())
        }
        Some(_) => println!(
            "wrote {} (diffusion b-values); no .bvec: the files do not give the gradient \
             direction of every diffusion-weighted volume",
            written[0].display()
        ),
        None => {}
    }
    Ok(())
}
