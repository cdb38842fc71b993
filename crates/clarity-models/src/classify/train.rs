//! Training the pixel model: cross-entropy on preprocessed series with light augmentation
//! (left-right and slice-order flips, an intensity curve), Adam with cosine decay, seeded,
//! validation accuracy every N steps, resumable checkpoints (see [`crate::store`]).

use std::path::Path;
use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use crate::store::TrainError;
use crate::store::{
    checkpoint_state, ck_err, cosine_lr, load_checkpoint, load_weights, replace_checkpoint,
    save_checkpoint, save_weights, ModelSource, TrainState,
};

use super::data::Sample;
use super::model::{SeriesNet, SeriesNetConfig};
use super::N_CLASSES;

/// What a training run does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifyTrainSettings {
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub seed: u64,
    pub validate_every: usize,
    pub net: SeriesNetConfig,
}

impl Default for ClassifyTrainSettings {
    fn default() -> Self {
        Self {
            steps: 1500,
            batch: 16,
            learning_rate: 2e-3,
            seed: 0,
            validate_every: 100,
            net: SeriesNetConfig::default(),
        }
    }
}

/// Validation accuracy at a step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifyValidation {
    pub step: usize,
    pub accuracy: f64,
    pub loss: f64,
}

/// What the run reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifyReport {
    pub steps_done: usize,
    pub seconds: f64,
    pub final_train_loss: f64,
    pub validation: Vec<ClassifyValidation>,
}

type CheckpointState = TrainState<ClassifyTrainSettings, ClassifyValidation>;

/// One sample with a random flip and intensity curve applied.
fn augmented(s: &Sample, grid: [usize; 3], rng: &mut StdRng) -> Vec<f32> {
    let [d, h, w] = grid;
    let (flip_w, flip_d) = (rng.gen_bool(0.5), rng.gen_bool(0.5));
    let gamma: f32 = rng.gen_range(0.8..1.25);
    let gain: f32 = rng.gen_range(0.9..1.1);
    let mut out = vec![0f32; d * h * w];
    for z in 0..d {
        let sz = if flip_d { d - 1 - z } else { z };
        for y in 0..h {
            for x in 0..w {
                let sx = if flip_w { w - 1 - x } else { x };
                let v = s.input[(sz * h + y) * w + sx];
                out[(z * h + y) * w + x] = (v.powf(gamma) * gain).min(2.0);
            }
        }
    }
    out
}

fn batch_tensor(inputs: Vec<f32>, n: usize, grid: [usize; 3], device: &Device) -> Tensor<5> {
    let [d, h, w] = grid;
    Tensor::<5>::from_data(TensorData::new(inputs, [n, 1, d, h, w]), device)
}

/// Softmax probabilities for preprocessed inputs (each `[d, h, w]`), `batch` at a time.
pub fn predict(
    model: &SeriesNet,
    inputs: &[&[f32]],
    grid: [usize; 3],
    device: &Device,
    batch: usize,
) -> Vec<[f32; N_CLASSES]> {
    let mut out = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(batch.max(1)) {
        let flat: Vec<f32> = chunk.iter().flat_map(|x| x.iter().copied()).collect();
        let logits = model.forward(batch_tensor(flat, chunk.len(), grid, device));
        let p = burn::tensor::activation::softmax(logits, 1).into_data();
        let p = p.as_slice::<f32>().expect("float output");
        for row in p.chunks(N_CLASSES) {
            out.push(std::array::from_fn(|i| row[i]));
        }
    }
    out
}

fn evaluate(model: &SeriesNet, val: &[Sample], grid: [usize; 3], device: &Device) -> (f64, f64) {
    let inputs: Vec<&[f32]> = val.iter().map(|s| s.input.as_slice()).collect();
    let probs = predict(model, &inputs, grid, device, 16);
    let mut correct = 0;
    let mut loss = 0.0;
    for (p, s) in probs.iter().zip(val) {
        let best = (0..N_CLASSES).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
        correct += usize::from(best == s.class.index());
        loss -= (p[s.class.index()].max(1e-7) as f64).ln();
    }
    (correct as f64 / val.len().max(1) as f64, loss / val.len().max(1) as f64)
}

/// Train on `train`, validate on `val`, write into `out` (resuming `out/checkpoint`).
/// `progress(step, loss)` after every step.
pub fn train(
    settings: &ClassifyTrainSettings,
    train: &[Sample],
    val: &[Sample],
    out: &Path,
    device: &Device,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<ClassifyReport, TrainError> {
    let grid = settings.net.grid;
    let voxels: usize = grid.iter().product();
    if train.is_empty() || train.iter().any(|s| s.input.len() != voxels) {
        return Err(TrainError::NoData(format!("no samples, or samples not on the {grid:?} grid")));
    }
    let ad = device.clone().autodiff();
    let mut model = settings.net.init(&ad);
    let mut optim = AdamConfig::new().init();
    let ck = out.join("checkpoint");
    crate::store::recover_checkpoint(&ck)?;
    let (mut start, mut validation, mut seconds_before) = (0, Vec::new(), 0.0);
    if let Some(state) = checkpoint_state::<CheckpointState>(&ck)? {
        if state.settings.net != settings.net {
            return Err(ck_err(&ck, "network configuration differs from the checkpoint's"));
        }
        (model, optim) = load_checkpoint(&ck, model, optim)?;
        (start, validation, seconds_before) = (state.step, state.validation, state.seconds);
    }
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let t0 = Instant::now();
    let mut last_loss = f64::NAN;
    for step in start..settings.steps {
        // Each step's batch depends only on (seed, step): a resumed run sees the same data.
        let mut rng = StdRng::seed_from_u64(
            settings.seed.wrapping_mul(0x9E37_79B9).wrapping_add(step as u64),
        );
        let picks: Vec<&Sample> =
            (0..settings.batch).map(|_| &train[rng.gen_range(0..train.len())]).collect();
        let flat: Vec<f32> = picks.iter().flat_map(|s| augmented(s, grid, &mut rng)).collect();
        let targets: Vec<i64> = picks.iter().map(|s| s.class.index() as i64).collect();
        let x = batch_tensor(flat, picks.len(), grid, &ad);
        let y = Tensor::<1, Int>::from_data(TensorData::new(targets, [picks.len()]), &ad);
        let loss = loss_fn.forward(model.forward(x), y);
        last_loss = loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model =
            optim.step(cosine_lr(settings.learning_rate, step, settings.steps, 0.02), model, grads);
        let done = step + 1;
        progress(done, last_loss);
        let last = done == settings.steps;
        if done % settings.validate_every.max(1) == 0 || last {
            if !val.is_empty() {
                let (accuracy, loss) = evaluate(&model.valid(), val, grid, device);
                validation.push(ClassifyValidation { step: done, accuracy, loss });
            }
            let state = CheckpointState {
                step: done,
                settings: settings.clone(),
                validation: validation.clone(),
                seconds: seconds_before + t0.elapsed().as_secs_f64(),
            };
            replace_checkpoint(&ck, |tmp| save_checkpoint(tmp, &model, &optim, &state))?;
        }
    }
    save_weights(&model.valid(), &settings.net, out)?;
    Ok(ClassifyReport {
        steps_done: settings.steps,
        seconds: seconds_before + t0.elapsed().as_secs_f64(),
        final_train_loss: last_loss,
        validation,
    })
}

/// Load `model.safetensors` and `config.json` (a folder, or a built-in copy) onto `device`.
pub fn load_model(
    source: impl Into<ModelSource>,
    device: &Device,
) -> Result<(SeriesNet, SeriesNetConfig), TrainError> {
    load_weights(&source.into(), |cfg: &SeriesNetConfig| cfg.init(device))
}
