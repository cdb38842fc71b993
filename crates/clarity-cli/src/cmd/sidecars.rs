//! What goes beside a NIfTI made from DICOM, as dcm2niix writes it: the BIDS sidecar
//! `NAME.json` and, for a diffusion-weighted volume, FSL's `NAME.bval` and `NAME.bvec`.
//! Shared by `convert` and `enhance`, so a NIfTI from either carries the same.

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
    for stale in [bval, bvec].into_iter().filter(|p| !written.contains(p) && p.is_file()) {
        std::fs::remove_file(&stale)
            .with_context(|| format!("removing the stale {}", stale.display()))?;
        println!("removed {} (left by the run this one replaced)", stale.display());
    }
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
