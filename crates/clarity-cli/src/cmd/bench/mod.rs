//! `clarity bench`: Clarity against the tools users know, measured in the same run and printed
//! as tables with ratios (absolute times on shared machines are noisy; ratios are what count).
//! `io`: DICOM series → NIfTI against dcm2niix; `enhance`: the enhancement network against the
//! same network in ONNX Runtime.

mod enhance;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

pub use enhance::EnhanceBenchArgs;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time DICOM series → NIfTI conversion: clarity vs dcm2niix.
    Io(IoBenchArgs),
    /// Time the enhancement network on 256² and 512² slices (slices/s, GFLOP/s) against the
    /// same network in ONNX Runtime on CPU.
    Enhance(EnhanceBenchArgs),
}

#[derive(Args)]
pub struct IoBenchArgs {
    /// A DICOM series folder.
    pub path: PathBuf,
    /// Copies of the series stacked into one larger synthetic series (new positions and UIDs),
    /// so the comparison covers 100+ slices.
    #[arg(long, default_value_t = 8, value_parser = crate::cmd::parse_count)]
    pub copies: usize,
    /// Timed repetitions per tool (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = crate::cmd::parse_count)]
    pub repeats: usize,
}

pub fn run(c: BenchCommand) -> anyhow::Result<()> {
    match c {
        BenchCommand::Io(a) => io(a),
        BenchCommand::Enhance(a) => enhance::run(a),
    }
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub(crate) fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("clarity-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn io(a: IoBenchArgs) -> anyhow::Result<()> {
    super::refuse_nifti(&a.path, "bench io times DICOM series → NIfTI conversion")?;
    let work = tempfile_dir()?;
    // The scratch folder holds `copies` × the series and `repeats` × two conversions: removed
    // on failure too.
    let result = io_in(&a, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn io_in(a: &IoBenchArgs, work: &std::path::Path) -> anyhow::Result<()> {
    let series = if a.copies > 1 {
        let dir = work.join("series");
        let n = clarity_io::dicom::bench_support::stack_copies(&a.path, &dir, a.copies)?;
        println!("built a {n}-slice series from {} copies of {}", a.copies, a.path.display());
        dir
    } else {
        a.path.clone()
    };
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for r in 0..a.repeats {
        let out = work.join(format!("clarity_{r}.nii"));
        let t = Instant::now();
        let vol = clarity_io::dicom::read_series(&series, Default::default())?;
        clarity_io::nifti::write_nifti(&vol, &out)?;
        ours.push(t.elapsed());
        let odir = work.join(format!("dcm2niix_{r}"));
        std::fs::create_dir_all(&odir)?;
        let t = Instant::now();
        let st = std::process::Command::new("dcm2niix")
            .args(["-z", "n", "-b", "n", "-f", "x", "-o"])
            .arg(&odir)
            .arg(&series)
            .output()
            .context("running dcm2niix (install the Debian package dcm2niix)")?;
        theirs.push(t.elapsed());
        if !st.status.success() {
            // dcm2niix reports its errors on stdout.
            let said = [&st.stdout[..], &st.stderr[..]].concat();
            let said = String::from_utf8_lossy(&said);
            let tail: Vec<&str> = said.lines().rev().take(5).collect();
            bail!(
                "dcm2niix failed on {} ({}): {}",
                series.display(),
                st.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            );
        }
    }
    let (o, t) = (median(ours), median(theirs));
    println!("| tool | median of {} | ratio vs dcm2niix |", a.repeats);
    println!("|---|---|---|");
    println!(
        "| clarity (read series + write .nii) | {:.1} ms | {:.2}x time |",
        o.as_secs_f64() * 1e3,
        o.as_secs_f64() / t.as_secs_f64()
    );
    println!("| dcm2niix -z n | {:.1} ms | 1.00x |", t.as_secs_f64() * 1e3);
    println!("speed-up: clarity is {:.2}x as fast as dcm2niix", t.as_secs_f64() / o.as_secs_f64());
    Ok(())
}
