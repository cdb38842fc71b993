//! `clarity train enhance`: train the enhancement network (resumable).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use clarity_core::PhaseEncodingDirection;
use clarity_models::classify::data::{brain_pool, generate, DatasetSettings, Sample};
use clarity_models::classify::model::SeriesNetConfig;
use clarity_models::classify::train::ClassifyTrainSettings;
use clarity_models::enhance::data::PairSettings;
use clarity_models::enhance::train::{train, Loss, TrainEvent, TrainSettings, ValidationPoint};
use clarity_models::enhance::EnhanceNetConfig;

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Train the enhanced-resolution CNN on fast-scan pairs made on the fly.
    Enhance(EnhanceTrainArgs),
    /// Train the liver series classifier (3D ResNet) on generated exams.
    Classify(ClassifyTrainArgs),
}

#[derive(Args)]
pub struct ClassifyTrainArgs {
    /// Output folder: model.safetensors, config.json, training_log.json, checkpoint/ (an
    /// existing checkpoint there is resumed).
    #[arg(long, default_value = "models/classify")]
    pub out: PathBuf,
    /// Generated training exams (9 series + "other" series each).
    #[arg(long, default_value_t = 120, value_parser = super::parse_count)]
    pub exams: usize,
    /// Generated validation exams (a different generator seed).
    #[arg(long, default_value_t = 16, value_parser = super::parse_count)]
    pub val_exams: usize,
    /// Field strengths of the training exams, in tesla (3 T is held out by default: the shifted
    /// test set).
    #[arg(long, value_delimiter = ',', default_values_t = [1.5], value_parser = super::parse_field_tesla)]
    pub field: Vec<f64>,
    /// The shared MRI folder: brain volumes used as "other" (skipped when absent).
    #[arg(long, default_value = "../shared/data/mri")]
    pub data: PathBuf,
    /// Optimiser steps in total (a resumed run continues up to this number).
    #[arg(long, default_value_t = 1500, value_parser = super::parse_count)]
    pub steps: usize,
    /// Series per step.
    #[arg(long, default_value_t = 16, value_parser = super::parse_count)]
    pub batch: usize,
    /// Peak learning rate (cosine decay to 2 % of it).
    #[arg(long, default_value_t = 2e-3, value_parser = super::parse_positive)]
    pub learning_rate: f64,
    /// Channels of the first stage (stages have C, 2C, 4C, 8C).
    #[arg(long, default_value_t = 16, value_parser = super::parse_count)]
    pub channels: usize,
    /// Validate and checkpoint every N steps.
    #[arg(long, default_value_t = 100, value_parser = super::parse_count)]
    pub every: usize,
    /// Seed of the exam generator (training uses it, validation seed + 1) and of training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train into an --out folder that holds a trained model (model.safetensors) but no
    /// checkpoint to resume, replacing that model. Without it such a folder is refused.
    #[arg(long)]
    pub force: bool,
    /// cpu, cuda or vulkan (the GPU ones need a build with --features cuda / vulkan).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

#[derive(Args)]
pub struct EnhanceTrainArgs {
    /// The shared MRI folder (training and validation volumes; see clarity-models' sources).
    #[arg(long, default_value = "../shared/data/mri")]
    pub data: PathBuf,
    /// Output folder: model.safetensors, config.json, training_log.json, checkpoint/ (an
    /// existing checkpoint there is resumed).
    #[arg(long, default_value = "models/enhance")]
    pub out: PathBuf,
    /// Optimiser steps in total (a resumed run continues up to this number).
    #[arg(long, default_value_t = 4000, value_parser = super::parse_count)]
    pub steps: usize,
    /// Patches per step.
    #[arg(long, default_value_t = 16, value_parser = super::parse_count)]
    pub batch: usize,
    /// Patch size in pixels.
    #[arg(long, default_value_t = 64, value_parser = super::parse_count)]
    pub patch: usize,
    /// SNR range of the simulated full-length scans, LOW,HIGH (drawn log-uniformly; SNR is the
    /// slice's foreground mean over the noise σ, as in `clarity eval enhance --snr`). Default:
    /// the training pairs' own range, 8,60.
    #[arg(long, value_name = "LOW,HIGH", value_parser = super::parse_snr_range)]
    pub snr_range: Option<(f64, f64)>,
    /// Peak learning rate (cosine decay to 2 % of it).
    #[arg(long, default_value_t = 1e-3, value_parser = super::parse_positive)]
    pub learning_rate: f64,
    /// Feature channels.
    #[arg(long, default_value_t = 32, value_parser = super::parse_count)]
    pub channels: usize,
    /// Convolution layers.
    #[arg(long, default_value_t = 8, value_parser = super::parse_count)]
    pub depth: usize,
    /// Neighbouring slices on each side used as input channels.
    #[arg(long, default_value_t = 1)]
    pub context: usize,
    /// Tap spacing of each layer's 3×3 convolution, head first, one per --depth layer (e.g.
    /// 1,1,2,4,2,1): values over 1 make dilated convolutions that see farther at the same cost.
    /// With --init-from a deeper network, the old layers keep their spacing (1 in every shipped
    /// model) and the new ones, spread evenly between them, take the spacing given here.
    /// Default: all 1.
    #[arg(long, value_name = "D1,D2,...", value_delimiter = ',')]
    pub dilations: Vec<usize>,
    /// Validate and checkpoint every N steps.
    #[arg(long, default_value_t = 200, value_parser = super::parse_count)]
    pub every: usize,
    /// Stop after this step with a checkpoint, keeping the schedule of --steps: run again with
    /// the same --steps (and no --stop-after, or a later one) to continue exactly where it stopped.
    #[arg(long, value_parser = super::parse_count)]
    pub stop_after: Option<usize>,
    /// Stop with a checkpoint after the first step that ends this many minutes after training
    /// started (fractions allowed; loading the data comes before and is not counted), keeping
    /// the schedule of --steps like --stop-after: for a machine lent for a fixed time, where
    /// the speed is not known in advance. Run the same command again to continue exactly where
    /// it stopped.
    #[arg(long, value_name = "MINUTES", value_parser = super::parse_positive)]
    pub stop_after_minutes: Option<f64>,
    /// Start from the trained model in this folder (model.safetensors + config.json) instead of
    /// random weights. With more --channels or --depth than it has, the network is first grown
    /// without changing its output (new channels copy existing ones, new layers start as
    /// identities), and with a larger --context the new outer slices start with zero weights,
    /// then trained; --pe-axis must match it. Ignored when --out holds
    /// a checkpoint (that run resumes).
    #[arg(long, value_name = "MODEL_DIR")]
    pub init_from: Option<PathBuf>,
    /// Training loss: l1 (robust; train from scratch with it), mse (what PSNR measures; a
    /// short fine-tune of an L1-trained model with --init-from lifts PSNR) or l1-foreground
    /// (l1 with the air weighed down to a tenth: the metrics look at the object).
    #[arg(long, value_enum, default_value_t = TrainLoss::L1)]
    pub loss: TrainLoss,
    /// Phase-encoding axis of the training pairs: either (random per pair, a network for any
    /// orientation) or one axis (a PE-specific network; `clarity enhance` then transposes
    /// inputs whose PE runs the other way).
    #[arg(long, value_enum, default_value_t = TrainPe::Either)]
    pub pe_axis: TrainPe,
    /// Give the network the scan's noise level as an extra input channel (a constant plane of
    /// the per-pixel noise σ over the slab's normalisation scale). `clarity enhance` then needs
    /// σ: --noise-sigma, or the estimate from background air. With --init-from a model without
    /// one, the channel is added with zero weights (the start computes the same function).
    #[arg(long)]
    pub noise_channel: bool,
    /// Give the network the fraction of phase-encoding lines the scan dropped as an extra input
    /// channel (a constant plane, after the noise plane). `clarity enhance` then needs it:
    /// --reduction, or detected from the k-space cut-off. With --init-from a model without
    /// one, the channel is added with zero weights (the start computes the same function).
    #[arg(long)]
    pub reduction_channel: bool,
    /// Train on the real scans only, without the phantom images (MNI152 brain contrasts and the
    /// generated liver exam): they are piecewise smooth and teach smoothing. The shipped model's
    /// last stage was trained so.
    #[arg(long)]
    pub no_phantoms: bool,
    /// Multiply each training slab by a smooth random intensity field (e^±1.25 at most, like a
    /// surface coil's falloff) before simulating its scans, so the network sees the same tissue
    /// at many local SNRs.
    #[arg(long)]
    pub bias_field: bool,
    /// Print the files and series folders this run would read from --data (training, then
    /// validation), marking any that are missing, and exit without training. Missing DICOM
    /// training series are skipped by a run; missing NIfTI volumes stop it.
    #[arg(long)]
    pub list_data: bool,
    /// Random seed: initial weights, patch and noise draws (a run is repeatable per seed on the
    /// CPU engine).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train into an --out folder that holds a trained model (model.safetensors) but no
    /// checkpoint to resume, replacing that model. Without it such a folder is refused.
    #[arg(long)]
    pub force: bool,
    /// cpu, cuda or vulkan (the GPU ones need a build with --features cuda / vulkan).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TrainLoss {
    /// Mean absolute error.
    L1,
    /// Mean squared error.
    Mse,
    /// Mean absolute error weighted to the object (truth above 10 % of the slab's 99th
    /// percentile, the validation metrics' foreground); air counts a tenth.
    L1Foreground,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TrainPe {
    /// Either axis, drawn per pair.
    Either,
    /// Always along rows (the i axis).
    Row,
    /// Always along columns (the j axis).
    Col,
}

/// A progress bar over optimiser steps with the running loss as its message.
fn step_bar(steps: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps [{elapsed} < {eta}, {per_sec}] {msg}",
        )
        .unwrap(),
    );
    bar
}

/// Refuse to train into `out` when it holds a trained model that no checkpoint there continues:
/// the run would replace someone's network with a fresh one. `--init-from` the same folder
/// says "train this model further, in place", which is the stated intent, not an accident.
fn refuse_to_replace_model(
    out: &Path,
    init_from: Option<&Path>,
    force: bool,
) -> anyhow::Result<()> {
    let model = out.join("model.safetensors");
    let resumes = clarity_models::store::holds_checkpoint(&out.join("checkpoint"));
    if model.is_file() && !resumes && !force && !init_from.is_some_and(|a| super::same_path(a, out))
    {
        anyhow::bail!(
            "{} holds a trained model and no checkpoint to resume: training would replace it. \
             Pass --force to replace it, or choose another --out",
            model.display()
        );
    }
    Ok(())
}

pub fn run(c: TrainCommand) -> anyhow::Result<()> {
    match c {
        TrainCommand::Enhance(a) => enhance(a),
        TrainCommand::Classify(a) => classify(a),
    }
}

fn enhance(a: EnhanceTrainArgs) -> anyhow::Result<()> {
    if a.list_data {
        for f in clarity_models::enhance::sources::files(&a.data, !a.no_phantoms) {
            let missing = if f.exists() { "" } else { "\t(missing)" };
            println!("{}{missing}", f.display());
        }
        return Ok(());
    }
    refuse_to_replace_model(&a.out, a.init_from.as_deref(), a.force)?;
    let pe_axis = match a.pe_axis {
        TrainPe::Either => None,
        TrainPe::Row => Some(PhaseEncodingDirection::Row),
        TrainPe::Col => Some(PhaseEncodingDirection::Col),
    };
    let mut net = EnhanceNetConfig {
        context: a.context,
        channels: a.channels,
        depth: a.depth,
        pe_axis,
        noise_channel: a.noise_channel,
        reduction_channel: a.reduction_channel,
        dilations: a.dilations.clone(),
    };
    // Before the slow data loading: a bad network configuration fails at once.
    net.check().map_err(|why| {
        anyhow::anyhow!("--channels {} --depth {} --dilations: {why}", a.channels, a.depth)
    })?;
    if net.dilations.iter().all(|&d| d == 1) {
        // All-plain saves as older models did, without the list.
        net.dilations.clear();
    }
    let device = super::device(&a.device)?;
    let pb = super::spinner(if a.no_phantoms {
        "preparing training volumes (real MRI)"
    } else {
        "preparing training volumes (real MRI, phantoms, liver exams)"
    });
    let (train_vols, val_vols) = clarity_models::enhance::sources::load(&a.data, !a.no_phantoms)
        .with_context(|| {
            format!(
                "loading training data from {} (--data sets the folder; --list-data shows what \
                 it needs)",
                a.data.display()
            )
        })?;
    pb.finish_and_clear();
    println!(
        "{} training and {} validation volumes; network {} parameters, {:.2} GFLOP per 256² \
         slice, receptive field {} pixels",
        train_vols.len(),
        val_vols.len(),
        net.parameters(),
        net.flops_per_slice(256, 256) / 1e9,
        net.receptive_field()
    );
    let default_pairs = PairSettings::default();
    let settings = TrainSettings {
        steps: a.steps,
        batch: a.batch,
        learning_rate: a.learning_rate,
        seed: a.seed,
        validate_every: a.every,
        checkpoint_every: a.every,
        pairs: PairSettings {
            patch: a.patch,
            context: a.context,
            pe_axis,
            noise_channel: a.noise_channel,
            reduction_channel: a.reduction_channel,
            bias_field: a.bias_field,
            snr: a.snr_range.unwrap_or(default_pairs.snr),
            ..default_pairs
        },
        net,
        stop_after: a.stop_after,
        stop_after_seconds: a.stop_after_minutes.map(|m| m * 60.0),
        init_from: a.init_from,
        loss: match a.loss {
            TrainLoss::L1 => Loss::L1,
            TrainLoss::Mse => Loss::Mse,
            TrainLoss::L1Foreground => Loss::L1Foreground,
        },
    };
    let bar = step_bar(a.steps);
    let t = Instant::now();
    let mut ema = f64::NAN;
    let loss_name = match settings.loss {
        Loss::L1 => "L1",
        Loss::Mse => "MSE",
        Loss::L1Foreground => "L1 (foreground)",
    };
    // Without a terminal (a run under nohup or in CI) the bar draws nothing, so the log gets a
    // line every 100 steps instead: a run of hours must show in its log that it is moving.
    let log_lines = bar.is_hidden();
    let end = a.stop_after.map_or(a.steps, |s| s.min(a.steps));
    let mut first: Option<(usize, Instant)> = None;
    let report = train(&settings, &train_vols, &val_vols, &a.out, &device, &mut |event| {
        let (step, loss) = match event {
            TrainEvent::Step { step, loss } => (step, loss),
            TrainEvent::Validated(v) => {
                // As it happens, above the bar (or in the log), not only in the final summary.
                let line = validation_line(v);
                if log_lines {
                    eprintln!("{line}");
                } else {
                    bar.println(line);
                }
                return;
            }
        };
        ema = if ema.is_nan() { loss } else { 0.98 * ema + 0.02 * loss };
        bar.set_position(step as u64);
        bar.set_message(format!("{loss_name} {ema:.5}"));
        let (step0, t0) = *first.get_or_insert((step, Instant::now()));
        if log_lines && step > step0 && (step % 100 == 0 || step == end) {
            let per_step = t0.elapsed().as_secs_f64() / (step - step0) as f64;
            eprintln!(
                "step {step}/{end}: {loss_name} {ema:.5}, {per_step:.2} s per step, {:.0} min left",
                per_step * end.saturating_sub(step) as f64 / 60.0
            );
        }
    })?;
    bar.finish_and_clear();
    std::fs::write(a.out.join("training_log.json"), serde_json::to_string_pretty(&report)?)?;
    for v in &report.validation {
        println!("{}", validation_line(v));
    }
    println!(
        "wrote {}/model.safetensors and config.json ({:.0} s this run, {:.0} s in total)",
        a.out.display(),
        t.elapsed().as_secs_f64(),
        report.seconds
    );
    if report.steps_done < a.steps {
        println!(
            "stopped at step {} of {}: the same command continues from {}/checkpoint",
            report.steps_done,
            a.steps,
            a.out.display()
        );
    }
    Ok(())
}

/// One line of the enhancement network's validation record.
fn validation_line(v: &ValidationPoint) -> String {
    format!(
        "step {:>6}: validation L1 zero-filled {:.5} → network {:.5}, MSE {:.3e} → {:.3e}",
        v.step, v.l1_input, v.l1_output, v.mse_input, v.mse_output
    )
}

/// Generate a dataset with a progress bar.
fn dataset(
    what: &str,
    settings: &DatasetSettings,
    grid: [usize; 3],
    brains: &[clarity_core::Volume],
) -> Vec<Sample> {
    let bar = indicatif::ProgressBar::new(settings.exams as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "generating {what} exams {{bar:30}} {{pos}}/{{len}} [{{elapsed}} < {{eta}}]"
        ))
        .unwrap(),
    );
    let out = generate(settings, grid, brains, &mut |n| bar.set_position(n as u64));
    bar.finish_and_clear();
    out
}

fn classify(a: ClassifyTrainArgs) -> anyhow::Result<()> {
    refuse_to_replace_model(&a.out, None, a.force)?;
    let device = super::device(&a.device)?;
    let net = SeriesNetConfig { channels: a.channels, ..Default::default() };
    let mut train_set = DatasetSettings { exams: a.exams, seed: a.seed, ..Default::default() };
    train_set.exam.fields = a.field.clone();
    let val_set = DatasetSettings { exams: a.val_exams, seed: a.seed + 1, ..train_set.clone() };
    let mri = a.data.is_dir().then_some(a.data.as_path());
    if mri.is_none() {
        eprintln!("note: {} not found; \"other\" examples are CT-like only", a.data.display());
    }
    let brains = brain_pool(mri);
    let t = Instant::now();
    let train_samples = dataset("training", &train_set, net.grid, &brains);
    let val_samples = dataset("validation", &val_set, net.grid, &brains);
    println!(
        "{} training and {} validation series ({:.0} s to generate); network {:.2} GFLOP per series",
        train_samples.len(),
        val_samples.len(),
        t.elapsed().as_secs_f64(),
        net.flops() / 1e9
    );
    let settings = ClassifyTrainSettings {
        steps: a.steps,
        batch: a.batch,
        learning_rate: a.learning_rate,
        seed: a.seed,
        validate_every: a.every,
        net,
    };
    let bar = step_bar(a.steps);
    let mut ema = f64::NAN;
    let report = clarity_models::classify::train::train(
        &settings,
        &train_samples,
        &val_samples,
        &a.out,
        &device,
        &mut |step, loss| {
            ema = if ema.is_nan() { loss } else { 0.95 * ema + 0.05 * loss };
            bar.set_position(step as u64);
            bar.set_message(format!("loss {ema:.4}"));
        },
    )?;
    bar.finish_and_clear();
    let log = serde_json::json!({ "dataset": { "train": train_set, "validation": val_set }, "report": report });
    std::fs::write(a.out.join("training_log.json"), serde_json::to_string_pretty(&log)?)?;
    for v in &report.validation {
        println!("step {:>6}: validation accuracy {:.4}, loss {:.4}", v.step, v.accuracy, v.loss);
    }
    println!(
        "wrote {}/model.safetensors and config.json ({:.0} s this run, {:.0} s training in total)",
        a.out.display(),
        t.elapsed().as_secs_f64(),
        report.seconds
    );
    Ok(())
}
