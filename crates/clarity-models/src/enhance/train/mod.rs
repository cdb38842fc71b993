//! Training the enhancement network: L1 loss on on-the-fly fast-scan pairs, Adam with a cosine
//! learning-rate decay, seeded, validation every N steps, resumable checkpoints.
//!
//! Checkpoints (`OUT/checkpoint/`) hold the model as burnpack (which keeps parameter ids, so the
//! optimizer state matches on resume), the Adam state, and `state.json` (step, settings). The
//! final model is also written as `model.safetensors` (PyTorch-style names and layouts:
//! `head.weight` is `[out, in, kh, kw]`) with `config.json` beside it.

use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use clarity_core::Volume;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

pub use crate::store::TrainError;
use crate::store::{ck_err, cosine_lr, load_weights, save_weights, ModelSource, TrainState};

use super::cpu::ConvKernel;

use super::data::{sample_batch, Batch, PairSettings};
use super::model::{EnhanceNet, EnhanceNetConfig};

mod engine;
use engine::{BurnEngine, CpuEngine, Engine};

/// What a training run does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub seed: u64,
    pub validate_every: usize,
    pub checkpoint_every: usize,
    pub pairs: PairSettings,
    pub net: EnhanceNetConfig,
    /// Stop after this step (with a checkpoint) although the schedule runs to `steps`: splits
    /// one run over several sittings; resuming with the same `steps` continues it exactly.
    #[serde(default)]
    pub stop_after: Option<usize>,
    /// Also stop (with a checkpoint) after the first step that ends this many seconds into the
    /// sitting: a budget for a machine lent by the hour, where steps per second are not known
    /// in advance. The schedule is still `steps`, so resuming continues it exactly.
    #[serde(default)]
    pub stop_after_seconds: Option<f64>,
    /// Start from the trained model in this folder (`model.safetensors` + `config.json`)
    /// instead of random weights, grown to `net`'s width and depth without changing what it
    /// computes ([`super::grow`]). Only a fresh run uses it; a checkpoint resumes as it is.
    #[serde(default)]
    pub init_from: Option<std::path::PathBuf>,
    /// What the optimiser minimises.
    #[serde(default)]
    pub loss: Loss,
}

/// Training loss between the network's output and the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Mean absolute error: robust, keeps edges; what a model is first trained with.
    #[default]
    L1,
    /// Mean squared error: what PSNR measures, so a short L1 → MSE fine-tune lifts PSNR.
    Mse,
    /// L1 weighted to the object: pixels whose truth is at or below [`FOREGROUND_LEVEL`] (what
    /// the validation metrics leave out, below 10 % of the 99th percentile) count
    /// [`AIR_WEIGHT`]. Not zero: with the air left out entirely (measured) the network's output
    /// there drifts to junk, which the consistency step's fit then has to work around.
    #[serde(rename = "l1-foreground")]
    L1Foreground,
}

/// Where [`Loss::L1Foreground`] starts counting, in the pairs' normalised units (the slab's
/// 99th percentile is 1): the metrics' foreground threshold.
pub(crate) const FOREGROUND_LEVEL: f32 = clarity_mr::fastscan::FOREGROUND_FRACTION;

/// The weight of a pixel below [`FOREGROUND_LEVEL`] in [`Loss::L1Foreground`].
pub(crate) const AIR_WEIGHT: f32 = 0.1;

impl Loss {
    /// The loss of one pixel's error `d` (its truth `target`) and its derivative.
    pub(crate) fn of(self, d: f32, target: f32) -> (f64, f32) {
        match self {
            Loss::L1Foreground if target <= FOREGROUND_LEVEL => {
                let (l, dl) = Loss::L1.of(d, target);
                (l * AIR_WEIGHT as f64, dl * AIR_WEIGHT)
            }
            Loss::L1 | Loss::L1Foreground => (
                d.abs() as f64,
                if d > 0.0 {
                    1.0
                } else if d < 0.0 {
                    -1.0
                } else {
                    0.0
                },
            ),
            Loss::Mse => ((d as f64) * (d as f64), 2.0 * d),
        }
    }

    /// The mean loss of `output` against `target` as a burn scalar tensor (the autodiff
    /// engine's graph).
    pub(crate) fn of_tensor(self, output: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
        match self {
            Loss::L1 => (output - target).abs().mean(),
            Loss::Mse => (output - target).powi_scalar(2).mean(),
            Loss::L1Foreground => {
                let object = target.clone().greater_elem(FOREGROUND_LEVEL).float();
                let weight = object.mul_scalar(1.0 - AIR_WEIGHT).add_scalar(AIR_WEIGHT);
                ((output - target).abs() * weight).mean()
            }
        }
    }
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            steps: 2000,
            batch: 16,
            learning_rate: 1e-3,
            seed: 0,
            validate_every: 100,
            checkpoint_every: 100,
            pairs: PairSettings::default(),
            net: EnhanceNetConfig::default(),
            stop_after: None,
            stop_after_seconds: None,
            init_from: None,
            loss: Loss::L1,
        }
    }
}

/// What [`train`] reports while it runs.
#[derive(Debug, Clone, Copy)]
pub enum TrainEvent<'a> {
    /// A step finished: steps done so far (a resumed run counts from its checkpoint) and that
    /// step's training loss.
    Step { step: usize, loss: f64 },
    /// The validation batch was scored (after every `validate_every` steps and the last one),
    /// so a run of hours can say how it is doing while it goes, not only at its end.
    Validated(&'a ValidationPoint),
}

/// One validation result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationPoint {
    pub step: usize,
    /// Mean L1 of the zero-filled input and of the network output against the truth.
    pub l1_input: f64,
    pub l1_output: f64,
    /// Mean squared error of the same (what PSNR measures); absent in logs before it was added.
    #[serde(default)]
    pub mse_input: f64,
    #[serde(default)]
    pub mse_output: f64,
}

/// What the run reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    pub steps_done: usize,
    pub seconds: f64,
    pub final_train_l1: f64,
    pub validation: Vec<ValidationPoint>,
}

type CheckpointState = TrainState<TrainSettings, ValidationPoint>;

/// Tensors of a batch; takes it by value so the training step moves its buffers instead of
/// copying them.
fn to_tensors(b: Batch, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let x = Tensor::<4>::from_data(
        TensorData::new(b.input, [b.batch, b.channels, b.patch, b.patch]),
        device,
    );
    let y =
        Tensor::<4>::from_data(TensorData::new(b.target, [b.batch, 1, b.patch, b.patch]), device);
    (x, y)
}

/// Train on `train` volumes, validate on `val` volumes, write into `out`. Resumes from
/// `out/checkpoint` when it exists. `progress` hears of every step and every validation.
///
/// On the CPU (`flex`) device the hand-written back-propagation of `cpu_train.rs` runs
/// (~4× burn's speed here); on any other device burn's autodiff does. Their checkpoints differ
/// (safetensors + `adam.bin` against burnpack), so a run resumes on the engine that started it.
pub fn train(
    settings: &TrainSettings,
    train: &[Volume],
    val: &[Volume],
    out: &Path,
    device: &Device,
    progress: &mut dyn FnMut(TrainEvent<'_>),
) -> Result<TrainReport, TrainError> {
    if *device == Device::flex() {
        run_engine::<CpuEngine>(settings, train, val, out, device, progress)
    } else {
        run_engine::<BurnEngine>(settings, train, val, out, device, progress)
    }
}

/// [`train`] with burn's autodiff on any device (the CPU included): what a GPU run uses.
pub fn train_with_autodiff(
    settings: &TrainSettings,
    train: &[Volume],
    val: &[Volume],
    out: &Path,
    device: &Device,
    progress: &mut dyn FnMut(TrainEvent<'_>),
) -> Result<TrainReport, TrainError> {
    run_engine::<BurnEngine>(settings, train, val, out, device, progress)
}

fn run_engine<E: Engine>(
    settings: &TrainSettings,
    train: &[Volume],
    val: &[Volume],
    out: &Path,
    device: &Device,
    progress: &mut dyn FnMut(TrainEvent<'_>),
) -> Result<TrainReport, TrainError> {
    let (pool, val_batch) = prepare(settings, train, val, out)?;
    Run { settings, pool: &pool, val_batch: val_batch.as_ref(), out }.go::<E>(device, progress)
}

/// The usable training volumes and the fixed validation batch; creates `out/checkpoint`.
fn prepare(
    settings: &TrainSettings,
    train: &[Volume],
    val: &[Volume],
    out: &Path,
) -> Result<(Vec<Volume>, Option<Batch>), TrainError> {
    let p = settings.pairs.patch;
    let (pairs, net) = (&settings.pairs, &settings.net);
    if pairs.input_channels() != net.in_channels() {
        return Err(TrainError::Settings(format!(
            "pairs have {} input channels (context {}, noise plane {}, reduction plane {}), the \
             network takes {} (context {}, noise plane {}, reduction plane {})",
            pairs.input_channels(),
            pairs.context,
            pairs.noise_channel,
            pairs.reduction_channel,
            net.in_channels(),
            net.context,
            net.noise_channel,
            net.reduction_channel
        )));
    }
    let pool: Vec<Volume> =
        train.iter().filter(|v| v.dims[0] >= p && v.dims[1] >= p).cloned().collect();
    let val_pool: Vec<Volume> =
        val.iter().filter(|v| v.dims[0] >= p && v.dims[1] >= p).cloned().collect();
    if pool.is_empty() {
        return Err(TrainError::NoData(format!("no training volume is at least {p}×{p} in-plane")));
    }
    crate::store::recover_checkpoint(&out.join("checkpoint"))?;
    std::fs::create_dir_all(out.join("checkpoint")).map_err(|e| ck_err(out, e))?;
    // Fixed validation batch: the same pairs every time, from the held-out volumes.
    let val_batch = (!val_pool.is_empty()).then(|| {
        let mut rng = StdRng::seed_from_u64(settings.seed ^ 0x5EED);
        sample_batch(&val_pool, 32, &settings.pairs, &mut rng)
    });
    Ok((pool, val_batch))
}

/// What both engines share: data, schedule, validation, checkpoints, report.
struct Run<'a> {
    settings: &'a TrainSettings,
    pool: &'a [Volume],
    val_batch: Option<&'a Batch>,
    out: &'a Path,
}

impl Run<'_> {
    /// The batch of a step: depends only on (seed, step), so a resumed run sees the same pairs.
    fn batch(&self, step: usize) -> Batch {
        let s = self.settings;
        let mut rng =
            StdRng::seed_from_u64(s.seed.wrapping_mul(0x9E37_79B9).wrapping_add(step as u64));
        sample_batch(self.pool, s.batch, &s.pairs, &mut rng)
    }

    /// The step this sitting ends at.
    fn end(&self) -> usize {
        let s = self.settings;
        s.stop_after.map_or(s.steps, |e| e.min(s.steps))
    }

    /// Whether validation or a checkpoint (every `every` steps) falls after step `done`; the
    /// sitting's last step (`last`) always has both.
    fn due(done: usize, every: usize, last: bool) -> bool {
        done.is_multiple_of(every.max(1)) || last
    }

    /// Whether this sitting has used its time budget (`stop_after_seconds`).
    fn out_of_time(&self, started: Instant) -> bool {
        self.settings.stop_after_seconds.is_some_and(|s| started.elapsed().as_secs_f64() >= s)
    }

    /// Validation point of `engine` on the fixed validation batch.
    fn validate(&self, done: usize, engine: &impl Engine) -> Option<ValidationPoint> {
        let vb = self.val_batch?;
        let plane = vb.patch * vb.patch;
        let c = self.settings.net.context;
        let output = engine.enhance(vb);
        let (mut l1_in, mut l1_out, mut se_in, mut se_out) = (0f64, 0f64, 0f64, 0f64);
        for b in 0..vb.batch {
            let centre =
                &vb.input[(b * vb.channels + c) * plane..(b * vb.channels + c + 1) * plane];
            let target = &vb.target[b * plane..(b + 1) * plane];
            let out = &output[b * plane..(b + 1) * plane];
            for ((x, y), t) in centre.iter().zip(out).zip(target) {
                let (di, dout) = ((x - t) as f64, (y - t) as f64);
                l1_in += di.abs();
                l1_out += dout.abs();
                se_in += di * di;
                se_out += dout * dout;
            }
        }
        let n = (vb.batch * plane) as f64;
        Some(ValidationPoint {
            step: done,
            l1_input: l1_in / n,
            l1_output: l1_out / n,
            mse_input: se_in / n,
            mse_output: se_out / n,
        })
    }

    fn go<E: Engine>(
        &self,
        device: &Device,
        progress: &mut dyn FnMut(TrainEvent<'_>),
    ) -> Result<TrainReport, TrainError> {
        let s = self.settings;
        let ck = self.out.join("checkpoint");
        let (mut engine, state) = E::start(s, &ck, device)?;
        let (start, mut validation, seconds_before) =
            state.map_or((0, Vec::new(), 0.0), |st| (st.step, st.validation, st.seconds));
        let t0 = Instant::now();
        let mut last_loss = f64::NAN;
        let mut steps_done = start;
        for step in start..self.end() {
            last_loss =
                engine.step(self.batch(step), cosine_lr(s.learning_rate, step, s.steps, 0.02));
            let done = step + 1;
            steps_done = done;
            progress(TrainEvent::Step { step: done, loss: last_loss });
            let last = done == self.end() || self.out_of_time(t0);
            if Self::due(done, s.validate_every, last) {
                if let Some(point) = self.validate(done, &engine) {
                    progress(TrainEvent::Validated(&point));
                    validation.push(point);
                }
            }
            if Self::due(done, s.checkpoint_every, last) {
                let state = CheckpointState {
                    step: done,
                    settings: s.clone(),
                    validation: validation.clone(),
                    seconds: seconds_before + t0.elapsed().as_secs_f64(),
                };
                crate::store::replace_checkpoint(&ck, |tmp| engine.checkpoint(tmp, &state))?;
            }
            if last {
                break;
            }
        }
        save_model(&engine.model(), &s.net, self.out)?;
        Ok(TrainReport {
            steps_done,
            seconds: seconds_before + t0.elapsed().as_secs_f64(),
            final_train_l1: last_loss,
            validation,
        })
    }
}

/// Write `model.safetensors` and `config.json` into `dir`.
pub fn save_model(
    model: &EnhanceNet,
    cfg: &EnhanceNetConfig,
    dir: &Path,
) -> Result<(), TrainError> {
    save_weights(model, cfg, dir)
}

/// Load `model.safetensors` and `config.json` (a folder, or a built-in copy) onto `device`.
pub fn load_model(
    source: impl Into<ModelSource>,
    device: &Device,
) -> Result<(EnhanceNet, EnhanceNetConfig), TrainError> {
    let source = source.into();
    let (model, cfg) = load_weights(&source, |cfg: &EnhanceNetConfig| cfg.init(device))?;
    // init() builds something from any configuration; a bad one is refused here, by name.
    cfg.check().map_err(|why| ck_err(&source.config_path(), why))?;
    Ok((model, cfg))
}

/// Median seconds of one training step (forward, backward, Adam update) on `batch`, after one
/// warm-up step each: what `clarity bench enhance` prints. Data generation excluded.
#[derive(Debug, Clone, Copy)]
pub struct TrainingStepTimes {
    /// burn's autodiff on the bench's device (`flex`, or a GPU: what a GPU run would use). On
    /// a GPU a step's queued work finishes while the next one reads its loss, so the median is
    /// the steady-state time.
    pub burn_s: f64,
    /// The hand-written CPU engine as training runs it (the direct AVX2 kernel for every layer
    /// that takes it: forward, input and weight gradients).
    pub cpu_s: f64,
    /// The same engine with im2col + gemm for every layer, timed interleaved with `cpu_s`.
    pub cpu_gemm_s: f64,
}

/// Time `repeats` training steps of each engine on `batch` (see [`TrainingStepTimes`]).
pub fn time_training_steps(
    net: &EnhanceNetConfig,
    batch: &Batch,
    repeats: usize,
    device: &Device,
) -> TrainingStepTimes {
    fn timed(engine: &mut impl Engine, batch: &Batch) -> f64 {
        let t = Instant::now();
        engine.step(batch.clone(), 1e-4);
        t.elapsed().as_secs_f64()
    }
    fn median(mut times: Vec<f64>) -> f64 {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    }
    let n = repeats.max(1);
    let s = TrainSettings { net: net.clone(), ..Default::default() };
    // A folder without a checkpoint: every engine starts fresh, from the same weights.
    let fresh = Path::new("/nonexistent/clarity-bench");
    let mut burn = BurnEngine::start(&s, fresh, device).expect("fresh start").0;
    timed(&mut burn, batch);
    let burn_s = median((0..n).map(|_| timed(&mut burn, batch)).collect());
    let mut cpu = CpuEngine::start(&s, fresh, &Device::flex()).expect("fresh start").0;
    let mut gemm = CpuEngine::start(&s, fresh, &Device::flex()).expect("fresh start").0;
    gemm.kernel = ConvKernel::Gemm;
    timed(&mut cpu, batch);
    timed(&mut gemm, batch);
    let (a, b): (Vec<f64>, Vec<f64>) =
        (0..n).map(|_| (timed(&mut cpu, batch), timed(&mut gemm, batch))).unzip();
    TrainingStepTimes { burn_s, cpu_s: median(a), cpu_gemm_s: median(b) }
}
