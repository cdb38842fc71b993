//! `clarity bench enhance`: throughput of the enhancement network on CPU (or CUDA), and the same
//! network in ONNX Runtime on the same input in the same run. The ONNX graph is built from the
//! model's safetensors by `ort_enhance.py` (embedded here), which also checks that its output
//! matches ours, so the ratio compares equal work.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use burn::prelude::*;
use clap::Args;
use clarity_models::enhance::cpu::ConvKernel;
use clarity_models::enhance::{EnhanceNet, EnhanceNetConfig};
use clarity_models::store::ModelSource;

use super::{median, tempfile_dir};

const ORT_SCRIPT: &str = include_str!("ort_enhance.py");

#[derive(Args)]
pub struct EnhanceBenchArgs {
    /// Folder with model.safetensors and config.json [default: the shipped models/enhance,
    /// built into this binary].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Square slice sizes to time.
    #[arg(long, value_delimiter = ',', default_values_t = [256, 512], value_parser = crate::cmd::parse_count)]
    pub sizes: Vec<usize>,
    /// Slices per network call.
    #[arg(long, default_value_t = 4, value_parser = crate::cmd::parse_count)]
    pub batch: usize,
    /// Timed calls per size (after one warm-up call); the median is reported.
    #[arg(long, default_value_t = 5, value_parser = crate::cmd::parse_count)]
    pub repeats: usize,
    /// Python interpreter with onnx, onnxruntime, safetensors and numpy for the baseline
    /// (scripts/bench_enhance.sh makes one); the baseline is skipped with a note when it cannot
    /// run.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Only time clarity.
    #[arg(long)]
    pub no_baseline: bool,
    /// Also time this many training steps with burn's autodiff and with the CPU engine (0: skip).
    #[arg(long, default_value_t = 5)]
    pub train_steps: usize,
    /// cpu, cuda or vulkan (the GPU ones need a build with --features cuda / vulkan).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Time a network of this many feature channels instead of the model's, randomly
    /// initialised with the model's inputs (context, noise plane): to size a network before
    /// training it, since speed does not depend on the weights.
    #[arg(long, value_parser = crate::cmd::parse_count)]
    pub channels: Option<usize>,
    /// Time a network of this many layers (head and tail included) instead of the model's,
    /// as --channels (plain 3×3 convolutions throughout).
    #[arg(long, value_parser = crate::cmd::parse_count)]
    pub depth: Option<usize>,
}

/// A randomly initialised network of the width and depth asked for, with `loaded_cfg`'s inputs
/// (written to `work` so the ONNX Runtime baseline reads the same weights).
fn sized_model(
    a: &EnhanceBenchArgs,
    loaded_cfg: EnhanceNetConfig,
    work: &Path,
    device: &Device,
) -> anyhow::Result<(EnhanceNet, EnhanceNetConfig, ModelSource)> {
    let cfg = EnhanceNetConfig {
        channels: a.channels.unwrap_or(loaded_cfg.channels),
        depth: a.depth.unwrap_or(loaded_cfg.depth),
        dilations: Vec::new(),
        ..loaded_cfg
    };
    cfg.check().map_err(|why| anyhow::anyhow!("--channels/--depth: {why}"))?;
    let model = cfg.init(device);
    let dir = work.join("sized");
    clarity_models::enhance::train::save_model(&model, &cfg, &dir)?;
    Ok((model, cfg, ModelSource::Folder(dir)))
}

/// A deterministic, image-like input in [0, 1]: smooth structure plus fine texture (speed does
/// not depend on values, but denormals or all-zero inputs could flatter either side).
fn test_input(b: usize, c: usize, n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(b * c * n * n);
    for s in 0..b * c {
        for y in 0..n {
            for x in 0..n {
                let (fx, fy) = (x as f32 / n as f32, y as f32 / n as f32);
                let smooth = 0.5 + 0.3 * (6.0 * fx + s as f32).sin() * (5.0 * fy).cos();
                let fine = 0.05 * ((x * 7919 + y * 104_729 + s * 13) % 97) as f32 / 97.0;
                v.push(smooth + fine);
            }
        }
    }
    v
}

fn write_f32(path: &Path, values: &[f32]) -> anyhow::Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

struct Baseline {
    median_s: f64,
    max_abs_diff: f64,
    version: String,
}

#[allow(clippy::too_many_arguments)]
fn run_ort(
    a: &EnhanceBenchArgs,
    source: &ModelSource,
    work: &Path,
    input: &[f32],
    output: &[f32],
    cfg: &EnhanceNetConfig,
    n: usize,
    threads: usize,
) -> anyhow::Result<Baseline> {
    let script = work.join("ort_enhance.py");
    std::fs::write(&script, ORT_SCRIPT)?;
    let (xi, yo) = (work.join("x.f32"), work.join("y.f32"));
    write_f32(&xi, input)?;
    write_f32(&yo, output)?;
    let dims = [a.batch, cfg.in_channels(), n, n, a.repeats, threads].map(|d| d.to_string());
    let out = Command::new(&a.python)
        .arg(&script)
        .arg(source.folder(&work.join("model"))?)
        .arg(&xi)
        .arg(&yo)
        .args(dims)
        .output()
        .with_context(|| format!("running {}", a.python))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("{}", err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("failed"));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let j: serde_json::Value = serde_json::from_str(line.trim())
        .with_context(|| format!("reading the baseline's output {line:?}"))?;
    Ok(Baseline {
        median_s: j["median_s"].as_f64().context("median_s")?,
        max_abs_diff: j["max_abs_diff"].as_f64().context("max_abs_diff")?,
        version: j["ort"].as_str().unwrap_or("?").to_string(),
    })
}

pub fn run(a: EnhanceBenchArgs) -> anyhow::Result<()> {
    let device = crate::cmd::device(&a.device)?;
    let work = tempfile_dir()?;
    let loaded = crate::cmd::load_enhance_model(a.model.clone(), &device)?;
    let sized = a.channels.is_some() || a.depth.is_some();
    let (model, cfg, source) =
        if sized { sized_model(&a, loaded.1, &work, &device)? } else { loaded };
    let threads = rayon::current_num_threads();
    println!(
        "network: {} channels × {} layers, {} input channels, {} parameters, {:.2} GFLOP per \
         256² slice{}; {} CPU threads",
        cfg.channels,
        cfg.depth,
        cfg.in_channels(),
        cfg.parameters(),
        cfg.flops_per_slice(256, 256) / 1e9,
        if sized {
            " (sized by --channels/--depth: random weights and the untrained network's zero \
             tail, so its output is its input and the |Δ| column checks no more than that)"
        } else {
            ""
        },
        threads
    );
    let mut rows = Vec::new();
    let mut skipped: Option<String> = None;
    for &n in &a.sizes {
        let input = test_input(a.batch, cfg.in_channels(), n);
        let x = Tensor::<4>::from_data(
            TensorData::new(input.clone(), [a.batch, cfg.in_channels(), n, n]),
            &device,
        );
        // Warm-up (and the output the baseline is checked against).
        let y = model.forward(x.clone()).into_data();
        let output = y.as_slice::<f32>().expect("float output").to_vec();
        let mut times = Vec::new();
        for _ in 0..a.repeats {
            let t = Instant::now();
            let _ = model.forward(x.clone()).into_data();
            times.push(t.elapsed());
        }
        let ours = median(times).as_secs_f64();
        // The channels-last CPU path on the same input, one slab at a time.
        let fast_net = clarity_models::enhance::cpu::CpuEnhanceNet::from_model(&model, cfg.context);
        let slab = cfg.in_channels() * n * n;
        // Both of its kernels, interleaved call by call so that a change in the machine's load
        // hits both alike: the default (direct AVX2 convolution where the CPU has it) and the
        // portable im2col + gemm.
        let kernels = [ConvKernel::Auto, ConvKernel::Gemm];
        let run_fast = |kernel: ConvKernel| -> Vec<f32> {
            input.chunks(slab).flat_map(|x| fast_net.forward_slab_with(x, n, n, kernel)).collect()
        };
        let mut fast_diff = 0f32;
        for kernel in kernels {
            let fast_out = run_fast(kernel);
            fast_diff =
                fast_out.iter().zip(&output).map(|(a, b)| (a - b).abs()).fold(fast_diff, f32::max);
        }
        let mut times = [Vec::new(), Vec::new()];
        for _ in 0..a.repeats {
            for (kernel, times) in kernels.iter().zip(&mut times) {
                let t = Instant::now();
                let _ = run_fast(*kernel);
                times.push(t.elapsed());
            }
        }
        let [fast, gemm] = times.map(|t| median(t).as_secs_f64());
        let baseline = if a.no_baseline || skipped.is_some() {
            None
        } else {
            match run_ort(&a, &source, &work, &input, &output, &cfg, n, threads) {
                Ok(b) => Some(b),
                Err(e) => {
                    skipped = Some(format!("{e:#}"));
                    None
                }
            }
        };
        rows.push((n, ours, fast, gemm, fast_diff, baseline));
    }
    let _ = std::fs::remove_dir_all(&work);
    let peak = clarity_models::enhance::cpu::fma_peak_gflops(threads, 1.0);
    let gflop = |n: usize, s: f64| cfg.flops_per_slice(n, n) * a.batch as f64 / s / 1e9;
    let per_s = |s: f64| a.batch as f64 / s;
    println!("\nslices/s (GFLOP/s); ratios are time ÷ ONNX Runtime's time (below 1 = faster)");
    println!(
        "| slice | burn {} | clarity cpu path | its im2col + gemm kernel | ONNX Runtime | burn ÷ ORT | cpu path ÷ ORT | im2col + gemm ÷ ORT | max |Δ| cpu path, ORT vs burn |",
        a.device
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (n, ours, fast, gemm, fast_diff, b) in &rows {
        let cell = |s: f64| format!("{:.2} ({:.1})", per_s(s), gflop(*n, s));
        let (ort, r_burn, r_fast, r_gemm, diff) = match b {
            Some(b) => (
                cell(b.median_s),
                format!("{:.2}x", ours / b.median_s),
                format!("{:.2}x", fast / b.median_s),
                format!("{:.2}x", gemm / b.median_s),
                format!("{fast_diff:.1e}, {:.1e}", b.max_abs_diff),
            ),
            None => ("—".into(), "—".into(), "—".into(), "—".into(), format!("{fast_diff:.1e}, —")),
        };
        println!(
            "| {n}² | {} | {} | {} | {ort} | {r_burn} | {r_fast} | {r_gemm} | {diff} |",
            cell(*ours),
            cell(*fast),
            cell(*gemm)
        );
    }
    if let Some(peak) = peak {
        println!(
            "(this machine's FMA peak, measured now on {threads} threads: {peak:.1} GFLOP/s; cpu path {:.0} % of it, ONNX Runtime {} on the first size)",
            rows.first().map_or(f64::NAN, |r| 100.0 * gflop(r.0, r.2) / peak),
            rows.first()
                .and_then(|r| r.5.as_ref().map(|b| format!("{:.0} %", 100.0 * gflop(r.0, b.median_s) / peak)))
                .unwrap_or_else(|| "—".into())
        );
    }
    if clarity_models::enhance::cpu::direct_kernel_available() {
        for (n, _, fast, gemm, _, _) in &rows {
            println!(
                "(cpu path on {n}²: im2col + gemm takes {:.2}× the direct AVX2 kernel's time)",
                gemm / fast
            );
        }
    } else {
        println!("(this CPU lacks AVX2 + FMA: both cpu path columns ran im2col + gemm)");
    }
    if let Some((_, _, _, _, _, Some(b))) = rows.first() {
        println!("(ONNX Runtime {}, {} intra-op threads; batch {})", b.version, threads, a.batch);
    }
    if a.train_steps > 0 {
        // A training batch like `clarity train enhance`'s: 16 patches of 64², simulated pairs
        // of a synthetic image (the data only has to be realistic in size here).
        let pairs = clarity_models::enhance::data::PairSettings {
            context: cfg.context,
            noise_channel: cfg.noise_channel,
            reduction_channel: cfg.reduction_channel,
            ..Default::default()
        };
        let vol = clarity_core::Volume::new([128, 128, 3], test_input(1, 3, 128))?;
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
        let batch = clarity_models::enhance::data::sample_batch(&[vol], 16, &pairs, &mut rng);
        let times = clarity_models::enhance::train::time_training_steps(
            &cfg,
            &batch,
            a.train_steps,
            &device,
        );
        let (burn_s, cpu_s) = (times.burn_s, times.cpu_s);
        let step_flop = cfg.flops_per_slice(64, 64) * 16.0 * 3.0;
        println!(
            "\ntraining step (16 × 64² patches, forward + backward + Adam; median of {}):",
            a.train_steps
        );
        println!("| engine | s/step | GFLOP/s (3× forward FLOPs) |\n|---|---|---|");
        println!(
            "| burn {} autodiff | {burn_s:.3} | {:.1} |",
            // `cpu` runs burn's flex backend.
            if a.device == "cpu" { "flex" } else { a.device.as_str() },
            step_flop / burn_s / 1e9
        );
        println!("| clarity CPU engine | {cpu_s:.3} | {:.1} |", step_flop / cpu_s / 1e9);
        println!(
            "| clarity CPU engine, im2col + gemm kernel | {:.3} | {:.1} |",
            times.cpu_gemm_s,
            step_flop / times.cpu_gemm_s / 1e9
        );
        println!(
            "(the CPU engine takes {:.2}× burn's time; with im2col + gemm {:.2}×)",
            cpu_s / burn_s,
            times.cpu_gemm_s / burn_s
        );
    }
    if let Some(why) = skipped {
        println!(
            "\nONNX Runtime baseline skipped: {why}\n(scripts/bench_enhance.sh installs onnx, onnxruntime, safetensors and numpy in a venv and passes --python)"
        );
    }
    Ok(())
}
