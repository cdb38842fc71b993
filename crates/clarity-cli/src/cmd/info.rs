use std::path::PathBuf;

use clap::Args;
use clarity_io::dicom::{scan_with_progress, SeriesOptions};
use serde::Serialize;

#[derive(Args)]
pub struct InfoArgs {
    /// DICOM folder (searched recursively), DICOM file, or NIfTI file (.nii/.nii.gz).
    pub path: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Accept series whose slice gaps are not uniform (they are listed with a warning).
    #[arg(long)]
    pub allow_gaps: bool,
}

#[derive(Serialize)]
struct SeriesRow {
    series_uid: String,
    /// What `convert --series` takes besides the UID.
    series_number: Option<i64>,
    modality: String,
    description: String,
    dims: [usize; 3],
    frames: usize,
    /// What the frames are (b-values, echo times, time points), when there are several.
    frame_axis: Option<clarity_core::FrameAxis>,
    /// Distinct diffusion gradient directions (b = 0 and isotropic frames not counted), when
    /// the files give them.
    gradient_directions: Option<usize>,
    spacing_mm: [f64; 3],
    orientation: String,
    transfer_syntax: Vec<String>,
    files: usize,
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct Report {
    series: Vec<SeriesRow>,
    non_images: Vec<String>,
    /// Files that are plainly not DICOM (labels, notes, NIfTI, images beside the series).
    skipped: Vec<String>,
    errors: Vec<String>,
}

pub fn run(a: InfoArgs) -> anyhow::Result<()> {
    if super::is_nifti(&a.path) {
        // The reader's errors name the file already.
        let img = clarity_io::nifti::read_nifti_image(&a.path)?;
        if a.json {
            let v = serde_json::json!({
                "file": a.path, "nifti_version": img.version, "shape": img.shape,
                "dtype": img.datatype.numpy_name(), "zooms": img.zooms, "affine_ras": img.affine,
                "qform_code": img.qform_code, "sform_code": img.sform_code,
                "scl_slope": img.scl_slope, "scl_inter": img.scl_inter,
                "pair": img.pair,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            // A pair says so, with both of its files: either half's name opens it.
            let pair = img.pair.as_ref().map_or(String::new(), |(hdr, img)| {
                format!(" pair ({} + {})", hdr.display(), img.display())
            });
            println!(
                "{}: NIfTI-{}{pair} {:?} {} zooms {:?}",
                a.path.display(),
                img.version,
                img.shape,
                img.datatype.numpy_name(),
                img.zooms
            );
            println!("RAS affine (sform_code {}, qform_code {}):", img.sform_code, img.qform_code);
            for row in &img.affine[..3] {
                println!("  {:>10.4} {:>10.4} {:>10.4} {:>10.4}", row[0], row[1], row[2], row[3]);
            }
        }
        return Ok(());
    }
    let pb = super::file_bar(&format!("reading headers under {}", a.path.display()));
    if a.json {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let opts = SeriesOptions { allow_nonuniform_spacing: a.allow_gaps };
    let report = scan_with_progress(&a.path, opts, &|done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    })?;
    pb.finish_and_clear();
    let rows: Vec<SeriesRow> = report
        .series
        .iter()
        .map(|s| SeriesRow {
            series_uid: s.name(),
            series_number: s.series_number(),
            modality: s.modality().to_string(),
            description: s.description().to_string(),
            dims: s.dims,
            frames: s.frames,
            frame_axis: s.frame_axis.clone(),
            gradient_directions: gradient_directions(&s.diffusion_directions()),
            spacing_mm: s.spacing_mm,
            orientation: s.orientation_label(),
            transfer_syntax: s.transfer_syntaxes(),
            files: s.headers.len(),
            warnings: s.warnings.clone(),
        })
        .collect();
    let out = Report {
        series: rows,
        non_images: report
            .non_images
            .iter()
            .map(|(p, c)| format!("{}: no image (SOP class {c})", p.display()))
            .collect(),
        skipped: report.skipped.iter().map(|p| p.display().to_string()).collect(),
        errors: report.errors.iter().map(|e| e.to_string()).collect(),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:<4} {:<28} {:>16} {:>4} {:<22} {:<9} {:>5}  TRANSFER SYNTAX / UID",
        "MOD", "DESCRIPTION", "DIMS", "T", "SPACING mm", "ORIENT", "FILES"
    );
    for r in &out.series {
        let desc: String = r.description.chars().take(28).collect();
        println!(
            "{:<4} {:<28} {:>16} {:>4} {:<22} {:<9} {:>5}  {}",
            r.modality,
            desc,
            format!("{}x{}x{}", r.dims[0], r.dims[1], r.dims[2]),
            r.frames,
            format!("{:.3}x{:.3}x{:.3}", r.spacing_mm[0], r.spacing_mm[1], r.spacing_mm[2]),
            r.orientation,
            r.files,
            r.transfer_syntax.join(", ")
        );
        match r.series_number {
            Some(n) => println!("{:>5}series #{n}, uid {}", "", r.series_uid),
            None => println!("{:>5}uid {}", "", r.series_uid),
        }
        if let Some(frames) = describe_frames(r) {
            println!("{:>5}frames: {frames}", "");
        }
        for w in &r.warnings {
            println!("{:>5}warning: {w}", "");
        }
    }
    println!(
        "{} series, {} non-image file(s), {} non-DICOM file(s) skipped, {} error(s)",
        out.series.len(),
        out.non_images.len(),
        out.skipped.len(),
        out.errors.len()
    );
    for e in &out.errors {
        println!("error: {e}");
    }
    Ok(())
}

/// Directions that differ by more than rounding (1e-4), zero vectors left out; None when the
/// files give none.
fn gradient_directions(directions: &[[f64; 3]]) -> Option<usize> {
    if directions.is_empty() {
        return None;
    }
    let mut distinct: Vec<[f64; 3]> = Vec::new();
    for g in directions.iter().filter(|g| clarity_core::norm(**g) > 0.5) {
        if !distinct.iter().any(|d| (0..3).all(|c| (d[c] - g[c]).abs() < 1e-4)) {
            distinct.push(*g);
        }
    }
    Some(distinct.len())
}

/// "b-values (s/mm²): 0 ×2, 1000 ×30; 30 gradient directions": each distinct value with how
/// many frames have it (a DTI run has dozens of frames); None for a 3D series.
fn describe_frames(r: &SeriesRow) -> Option<String> {
    use clarity_core::FrameKind;
    let axis = r.frame_axis.as_ref().filter(|_| r.frames > 1)?;
    let what = match axis.kind {
        FrameKind::BValue => "b-values (s/mm²)",
        FrameKind::Echo => "echo times (ms)",
        FrameKind::Phase => "temporal positions",
        FrameKind::Other => "numbered",
    };
    let mut counts: Vec<(f64, usize)> = Vec::new();
    for &v in &axis.values {
        match counts.iter_mut().find(|(u, _)| (u - v).abs() < 1e-6) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    counts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let values: Vec<String> = if axis.kind == FrameKind::Other {
        vec![format!("0..{}", r.frames - 1)]
    } else {
        counts
            .iter()
            .map(|(v, n)| if *n > 1 { format!("{v} ×{n}") } else { format!("{v}") })
            .collect()
    };
    let mut text = format!("{what}: {}", values.join(", "));
    if let Some(n) = r.gradient_directions {
        text.push_str(&format!("; {n} gradient direction(s)"));
    }
    Some(text)
}
