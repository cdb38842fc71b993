//! `clarity classify`: name every series of a study (liver mpMRI classes or `other`) from its
//! pixels and its header, fused; optionally Grad-CAM montages of what the pixel model looked at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use clarity_core::Volume;
use clarity_io::dicom::{scan_with_progress, DicomSeries, SeriesOptions};
use clarity_models::classify::infer::{classify_study, SeriesResult};
use clarity_models::classify::model::{SeriesNet, SeriesNetConfig};
use clarity_models::classify::Class;
use clarity_models::store::ModelSource;

#[derive(Args)]
pub struct ClassifyArgs {
    /// A folder (or file) of DICOM series: one study, or several (grouped by StudyInstanceUID).
    pub study: PathBuf,
    /// Folder with the classifier's model.safetensors and config.json [default: the shipped
    /// models/classify, built into this binary].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Print a JSON array (series_uid, class, pixel_class, pixel_prob, header_class, ...).
    #[arg(long)]
    pub json: bool,
    /// Write a Grad-CAM montage (PNG) per series into this folder.
    #[arg(long)]
    pub explain: Option<PathBuf>,
    /// Replace Grad-CAM montages of the same names already in the --explain folder.
    #[arg(long)]
    pub force: bool,
    /// cpu, cuda or vulkan (the GPU ones need a build with --features cuda / vulkan).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Every series under `path`, classified study by study; `each(result, volume)` sees every
/// series while its volume is loaded. Studies are grouped from the headers before any pixels
/// are read, and a study's volumes are dropped once it is classified, so memory holds one
/// study, not the whole folder. Unreadable series are reported on stderr and skipped.
pub fn classify_folder(
    path: &Path,
    model: &ModelSource,
    device: &burn::prelude::Device,
    each: &mut dyn FnMut(&SeriesResult, &Volume) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<SeriesResult>> {
    let (model, cfg) = clarity_models::classify::train::load_model(model.clone(), device)
        .with_context(|| format!("loading the classifier from {model}"))?;
    let bar = super::file_bar(&format!("scanning {}", path.display()));
    let report =
        scan_with_progress(path, SeriesOptions { allow_nonuniform_spacing: true }, &|d, t| {
            bar.set_length(t as u64);
            bar.set_position(d as u64);
        })?;
    bar.finish_and_clear();
    for e in &report.errors {
        eprintln!("skipped: {e}");
    }
    if report.series.is_empty() {
        // An empty table and success would read as "nothing to classify here" when the path
        // was simply not a DICOM study.
        anyhow::bail!(
            "{}: no DICOM image series found{}",
            path.display(),
            match report.errors.len() {
                0 => String::new(),
                n => format!(" ({n} file(s) skipped, listed above)"),
            }
        );
    }
    let mut studies: BTreeMap<String, Vec<&DicomSeries>> = BTreeMap::new();
    for s in &report.series {
        let study = s.headers[0].meta.study_instance_uid.clone().unwrap_or_default();
        studies.entry(study).or_default().push(s);
    }
    let bar = indicatif::ProgressBar::new(report.series.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "classifying series {bar:30} {pos}/{len} [{elapsed}]",
        )
        .unwrap(),
    );
    let mut out = Vec::new();
    for series in studies.values() {
        let mut loaded: Vec<(String, Volume)> = Vec::new();
        for s in series {
            match s.load() {
                Ok(v) => loaded.push((s.name(), v)),
                Err(e) => eprintln!("skipped series {}: {e}", s.name()),
            }
            bar.inc(1);
        }
        let refs: Vec<(String, &Volume)> = loaded.iter().map(|(u, v)| (u.clone(), v)).collect();
        for (r, (_, v)) in classify_study(&model, &cfg, &refs, device).into_iter().zip(&loaded) {
            each(&r, v)?;
            out.push(r);
        }
    }
    bar.finish_and_clear();
    Ok(out)
}

/// A Grad-CAM montage: every slice of the preprocessed grid, greyscale with the heat map in red.
fn write_explanation(
    path: &Path,
    vol: &Volume,
    class: Class,
    (model, cfg): &(SeriesNet, SeriesNetConfig),
    ad: &burn::prelude::Device,
) -> anyhow::Result<()> {
    let input = clarity_models::classify::data::preprocess(vol, cfg.grid);
    let cam = clarity_models::classify::gradcam::grad_cam(model, cfg, &input, class, ad);
    let [d, h, w] = cfg.grid;
    let (scale, cols) = (3, 4);
    let rows = d.div_ceil(cols);
    let (tw, th) = (w * scale, h * scale);
    let (iw, ih) = (tw * cols, th * rows);
    let mut rgb = vec![0u8; iw * ih * 3];
    for z in 0..d {
        let (ox, oy) = ((z % cols) * tw, (z / cols) * th);
        for y in 0..th {
            for x in 0..tw {
                let i = (z * h + y / scale) * w + x / scale;
                let g = (input[i] * 127.5).clamp(0.0, 255.0);
                let heat = cam[i];
                let px = ((oy + y) * iw + ox + x) * 3;
                rgb[px] = (g * (1.0 - heat) + 255.0 * heat) as u8;
                rgb[px + 1] = (g * (1.0 - heat)) as u8;
                rgb[px + 2] = (g * (1.0 - heat)) as u8;
            }
        }
    }
    clarity_io::png::write_rgb_png(path, iw, ih, &rgb)?;
    Ok(())
}

pub fn run(a: ClassifyArgs) -> anyhow::Result<()> {
    super::refuse_nifti(
        &a.study,
        "classify reads DICOM series (their headers are half of its decision)",
    )?;
    let device = super::device(&a.device)?;
    let source = ModelSource::or_built_in(a.model.clone(), &clarity_models::shipped::CLASSIFY);
    // Grad-CAM needs gradients: the model once more, on the autodiff device, loaded once.
    let explainer = match &a.explain {
        Some(dir) => {
            super::create_output_dir(dir)?;
            let ad = device.clone().autodiff();
            Some((clarity_models::classify::train::load_model(source.clone(), &ad)?, ad, dir))
        }
        None => None,
    };
    let t = Instant::now();
    let results = classify_folder(&a.study, &source, &device, &mut |r, vol| {
        let Some((net, ad, dir)) = &explainer else { return Ok(()) };
        let safe: String = r
            .series_uid
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' })
            .collect();
        let path = dir.join(format!("{safe}_{}.png", r.pixel_class.id()));
        super::refuse_to_replace(std::slice::from_ref(&path), a.force)?;
        write_explanation(&path, vol, r.pixel_class, net, ad)
    })?;
    let secs = t.elapsed().as_secs_f64();
    if let Some((_, _, dir)) = &explainer {
        eprintln!("wrote {} Grad-CAM montages to {}", results.len(), dir.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    println!("| series | description | pixel (p) | header (confidence) | fused | agree |");
    println!("|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {} ({:.3}) | {} ({:.2}) | {} | {} |",
            r.series_uid,
            r.description,
            r.pixel_class.id(),
            r.pixel_prob,
            r.header_class.id(),
            r.header_confidence,
            r.class.id(),
            if r.agree { "yes" } else { "NO" }
        );
    }
    println!("{} series in {:.1} s", results.len(), secs);
    Ok(())
}
