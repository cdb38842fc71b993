//! `clarity eval classify`: the classifier on a labelled set — accuracy, macro-/micro-F1,
//! per-class sensitivity, specificity and F1, and confusion matrices (Markdown and PNG heat
//! map) for the pixel, pixel + exam context (dynamic phases ordered in time), header and fused
//! decisions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use clarity_metrics::classification::{ClassificationReport, ConfusionMatrix};
use clarity_models::classify::Class;
use clarity_models::store::ModelSource;

#[derive(Args)]
pub struct EvalClassifyArgs {
    /// Folder of DICOM studies with their labels (the generator writes labels.csv there).
    pub data: PathBuf,
    /// CSV with `series_uid,class` rows (a header line is allowed); default DATA/labels.csv.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Folder with the classifier's model.safetensors and config.json [default: the shipped
    /// models/classify, built into this binary].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Output folder for eval_classify.json and confusion_{pixel,pixel_context,header,fused}.png.
    #[arg(long, default_value = "out/eval_classify")]
    pub out: PathBuf,
    /// cpu, cuda or vulkan (the GPU ones need a build with --features cuda / vulkan).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Replace eval_classify.json and confusion maps an earlier run left in --out.
    #[arg(long)]
    pub force: bool,
}

/// `series_uid → class` from a CSV; names the file and line of anything it cannot read.
pub fn read_labels(path: &Path) -> anyhow::Result<HashMap<String, Class>> {
    let text = match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            bail!("{}: not a text CSV (expected `series_uid,class` rows)", path.display())
        }
        r => r.with_context(|| format!("reading {}", path.display()))?,
    };
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let mut cols = line.split(',').map(str::trim);
        let uid = cols.next().unwrap_or_default();
        if uid.is_empty() || (n == 0 && uid == "series_uid") {
            continue;
        }
        let Some(class) = cols.next() else {
            bail!(
                "{} line {}: {line:?} has no class (expected `series_uid,class`)",
                path.display(),
                n + 1
            );
        };
        let Some(c) = Class::from_id(class) else {
            bail!(
                "{} line {}: unknown class {class:?} (expected one of {})",
                path.display(),
                n + 1,
                Class::ids().join(", ")
            );
        };
        if let Some(before) = out.insert(uid.to_string(), c).filter(|&b| b != c) {
            // Which of the two is the truth is not ours to guess.
            bail!(
                "{} line {}: series {uid} is labelled {} here and {} on an earlier line",
                path.display(),
                n + 1,
                c.id(),
                before.id()
            );
        }
    }
    Ok(out)
}

/// A confusion matrix as a PNG heat map: one 24-px cell per (truth row, prediction column),
/// brightness = fraction of the row; a light frame marks the diagonal.
fn heat_map(m: &ConfusionMatrix, path: &Path) -> anyhow::Result<()> {
    let n = m.classes.len();
    let cell = 24;
    let size = n * cell;
    let mut rgb = vec![0u8; size * size * 3];
    for (t, row) in m.counts.iter().enumerate() {
        let total = row.iter().sum::<u64>().max(1) as f32;
        for (p, &c) in row.iter().enumerate() {
            let f = c as f32 / total;
            for y in 0..cell {
                for x in 0..cell {
                    let edge = x == 0 || y == 0 || x == cell - 1 || y == cell - 1;
                    let px = ((t * cell + y) * size + p * cell + x) * 3;
                    let (r, g, b) = if edge && t == p {
                        (90, 90, 90)
                    } else {
                        ((255.0 * f) as u8, (255.0 * f * f) as u8, (80.0 * (1.0 - f)) as u8)
                    };
                    rgb[px..px + 3].copy_from_slice(&[r, g, b]);
                }
            }
        }
    }
    clarity_io::png::write_rgb_png(path, size, size, &rgb)?;
    Ok(())
}

fn print_report(name: &str, r: &ClassificationReport) {
    println!(
        "\n## {name}: accuracy {:.4}, macro-F1 {:.4}, micro-F1 {:.4} ({} series)",
        r.accuracy, r.macro_f1, r.micro_f1, r.n
    );
    println!("| class | n | sensitivity | specificity | F1 |");
    println!("|---|---|---|---|---|");
    let f = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.3}"));
    for c in &r.per_class {
        println!(
            "| {} | {} | {} | {} | {} |",
            c.class,
            c.support,
            f(c.sensitivity),
            f(c.specificity),
            f(c.f1)
        );
    }
    println!("\n{}", r.confusion.markdown());
}

pub fn run(a: EvalClassifyArgs) -> anyhow::Result<()> {
    // The inputs are checked before the outputs, so a mistyped DATA is not reported as an
    // earlier run's outputs being in the way.
    if !a.data.is_dir() {
        let what = if a.data.exists() { "is not a folder" } else { "does not exist" };
        bail!(
            "{} {what}: eval classify takes a folder of DICOM studies and their labels (as \
             `clarity simulate liver-exam` writes)",
            a.data.display()
        );
    }
    let labels_path = a.labels.clone().unwrap_or_else(|| a.data.join("labels.csv"));
    if a.labels.is_none() && !labels_path.exists() {
        bail!(
            "{} has no labels.csv; pass --labels CSV (`series_uid,class` rows)",
            a.data.display()
        );
    }
    let labels = read_labels(&labels_path)?;
    const REPORTS: [&str; 4] = ["pixel", "pixel_context", "header", "fused"];
    let mut outputs: Vec<PathBuf> =
        REPORTS.iter().map(|n| a.out.join(format!("confusion_{n}.png"))).collect();
    outputs.push(a.out.join("eval_classify.json"));
    super::refuse_to_replace(&outputs, a.force)?;
    let device = super::device(&a.device)?;
    let t = Instant::now();
    let source = ModelSource::or_built_in(a.model.clone(), &clarity_models::shipped::CLASSIFY);
    let results = super::classify::classify_folder(&a.data, &source, &device, &mut |_, _| Ok(()))?;
    let secs = t.elapsed().as_secs_f64();
    let ids = Class::ids();
    let mut pixel = ConfusionMatrix::new(&ids);
    let mut header = ConfusionMatrix::new(&ids);
    let mut fused = ConfusionMatrix::new(&ids);
    let mut context = ConfusionMatrix::new(&ids);
    let mut unlabelled = 0;
    let mut found = std::collections::HashSet::new();
    for r in &results {
        // Series names carry a split part after the UID ("uid [part]").
        let uid = r.series_uid.split(' ').next().unwrap_or("");
        let Some(truth) = labels.get(uid) else {
            unlabelled += 1;
            continue;
        };
        found.insert(uid);
        pixel.add(truth.index(), r.pixel_class.index());
        header.add(truth.index(), r.header_class.index());
        fused.add(truth.index(), r.class.index());
        context.add(truth.index(), r.pixel_context_class.index());
    }
    if pixel.total() == 0 {
        bail!("no series under {} has a label in {}", a.data.display(), labels_path.display());
    }
    super::create_output_dir(&a.out)?;
    let reports: Vec<(&str, ClassificationReport)> = REPORTS
        .into_iter()
        .zip([pixel.report(), context.report(), header.report(), fused.report()])
        .collect();
    for (name, r) in &reports {
        print_report(name, r);
        heat_map(&r.confusion, &a.out.join(format!("confusion_{name}.png")))?;
    }
    let json: serde_json::Map<String, serde_json::Value> = reports
        .iter()
        .map(|(n, r)| (n.to_string(), serde_json::to_value(r).expect("serialisable")))
        .collect();
    std::fs::write(a.out.join("eval_classify.json"), serde_json::to_string_pretty(&json)?)?;
    // Said, not silent: a labelled series that was not read (skipped above, or not under DATA)
    // is missing from every score.
    let missing = labels.keys().filter(|uid| !found.contains(uid.as_str())).count();
    if missing > 0 {
        eprintln!(
            "warning: {missing} of the {} labelled series were not found or not read under {}; \
             the scores leave them out",
            labels.len(),
            a.data.display()
        );
    }
    println!(
        "\n{} labelled series ({} without a label skipped), classified in {:.1} s; wrote {}/eval_classify.json and confusion_*.png (rows: truth; columns: prediction; order {})",
        pixel.total(),
        unlabelled,
        secs,
        a.out.display(),
        ids.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_csv_with_or_without_header_and_bad_class_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.csv");
        std::fs::write(&p, "series_uid,class\n1.2.3,adc\n1.2.4, other \n").unwrap();
        let l = read_labels(&p).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l["1.2.4"], Class::Other);
        std::fs::write(&p, "1.2.3,dce_portal\n1.2.5,t3_weird\n").unwrap();
        let e = read_labels(&p).unwrap_err().to_string();
        assert!(e.contains("labels.csv line 2") && e.contains("t3_weird"), "{e}");
        // Before: a line without a class was skipped, and a repeated series took the last class.
        std::fs::write(&p, "1.2.3,adc\n1.2.4\n").unwrap();
        let e = read_labels(&p).unwrap_err().to_string();
        assert!(e.contains("labels.csv line 2: \"1.2.4\" has no class"), "{e}");
        std::fs::write(&p, "1.2.3,adc\n1.2.3,adc\n1.2.3,t2_fs\n").unwrap();
        let e = read_labels(&p).unwrap_err().to_string();
        assert!(e.contains("line 3: series 1.2.3 is labelled t2_fs here and adc"), "{e}");
    }
}
