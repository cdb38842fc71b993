//! The two ways a training step is computed: the hand-written CPU engine (forward, backward
//! and Adam in [`crate::enhance::cpu_train`], ~4× burn's speed on 2 cores) and burn's autodiff
//! (any burn device, a GPU included). [`super::Run`] drives either through [`Engine`].

use std::path::Path;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

use super::{load_model, save_model, to_tensors, CheckpointState, Loss, TrainSettings};
use crate::enhance::cpu::{ConvKernel, CpuEnhanceNet};
use crate::enhance::cpu_train::{loss_and_grads, seeded_init, Adam};
use crate::enhance::data::Batch;
use crate::enhance::model::{EnhanceNet, EnhanceNetConfig};
use crate::store::{
    checkpoint_state, ck_err, load_checkpoint, save_checkpoint, write_state, TrainError,
};

/// One way of training the network: burn's autodiff, or the hand-written CPU engine.
pub(super) trait Engine: Sized {
    /// A fresh network from `settings`, or the one in checkpoint folder `ck` with its state.
    fn start(
        settings: &TrainSettings,
        ck: &Path,
        device: &Device,
    ) -> Result<(Self, Option<CheckpointState>), TrainError>;
    /// One optimiser step on `batch` at learning rate `lr`; returns the batch's mean loss.
    fn step(&mut self, batch: Batch, lr: f64) -> f64;
    /// The network's output on `batch`, `[batch, 1, p, p]`.
    fn enhance(&self, batch: &Batch) -> Vec<f32>;
    /// Write a resumable checkpoint into `ck`.
    fn checkpoint(&self, ck: &Path, state: &CheckpointState) -> Result<(), TrainError>;
    /// The trained network as a burn module (on the CPU), for saving.
    fn model(&self) -> EnhanceNet;
}

/// Refuses a checkpoint of another network.
fn check_net(
    ck: &Path,
    state: &CheckpointState,
    settings: &TrainSettings,
) -> Result<(), TrainError> {
    if state.settings.net != settings.net {
        return Err(ck_err(ck, "network configuration differs from the checkpoint's"));
    }
    Ok(())
}

/// The network a fresh run starts from: `settings.init_from` grown to `settings.net`, or a
/// seeded random one.
fn initial_net(s: &TrainSettings) -> Result<CpuEnhanceNet, TrainError> {
    let Some(dir) = &s.init_from else {
        return Ok(seeded_init(&s.net, s.seed));
    };
    let (model, cfg) = load_model(dir, &Device::flex())?;
    if cfg.context > s.net.context || cfg.pe_axis != s.net.pe_axis {
        return Err(ck_err(
            dir,
            format!(
                "the model to start from has context {} and PE axis {:?}; this run asks for \
                 context {} and PE axis {:?} (the PE axis must match; the context may grow, \
                 not shrink)",
                cfg.context, cfg.pe_axis, s.net.context, s.net.pe_axis
            ),
        ));
    }
    let mut small = CpuEnhanceNet::from_model(&model, cfg.context);
    if s.net.context > cfg.context {
        small = crate::enhance::grow::with_context(&small, s.net.context)
            .map_err(|e| ck_err(dir, e))?;
    }
    // Constant planes come after the image channels in a fixed order (noise, reduction), so a
    // model grows planes only at the end: it may gain the noise plane only while it has no
    // reduction plane, and neither plane can be taken away.
    let planes = |c: &EnhanceNetConfig| [c.noise_channel, c.reduction_channel];
    let (have, want) = (planes(&cfg), planes(&s.net));
    let names = ["noise", "reduction"];
    for i in 0..2 {
        if have[i] && !want[i] {
            return Err(ck_err(
                dir,
                format!(
                    "the model to start from takes a {} plane; this run asks for none",
                    names[i]
                ),
            ));
        }
        if !have[i] && want[i] && have[i + 1..].iter().any(|&h| h) {
            return Err(ck_err(
                dir,
                format!("cannot add a {} plane before the model's later planes", names[i]),
            ));
        }
    }
    for _ in (0..2).filter(|&i| want[i] && !have[i]) {
        small = crate::enhance::grow::with_extra_input(&small);
    }
    crate::enhance::grow::grow(&small, s.net.channels, s.net.depth, &s.net.dilations, s.seed)
        .map_err(|e| ck_err(dir, e))
}

/// The hand-written CPU engine ([`crate::enhance::cpu_train`]).
pub(super) struct CpuEngine {
    net: CpuEnhanceNet,
    adam: Adam,
    cfg: EnhanceNetConfig,
    loss: Loss,
    /// Auto in training; Gemm only for the bench's comparison.
    pub(super) kernel: ConvKernel,
}

impl Engine for CpuEngine {
    fn start(
        s: &TrainSettings,
        ck: &Path,
        _device: &Device,
    ) -> Result<(Self, Option<CheckpointState>), TrainError> {
        let Some(state) = checkpoint_state::<CheckpointState>(ck)? else {
            let net = initial_net(s)?;
            let adam = Adam::new(&net);
            let kernel = ConvKernel::Auto;
            return Ok((Self { net, adam, cfg: s.net.clone(), loss: s.loss, kernel }, None));
        };
        let net = seeded_init(&s.net, s.seed);
        let adam = Adam::new(&net);
        let mut engine =
            Self { net, adam, cfg: s.net.clone(), loss: s.loss, kernel: ConvKernel::Auto };
        check_net(ck, &state, s)?;
        let adam_path = ck.join("adam.bin");
        if !adam_path.is_file() {
            return Err(ck_err(
                ck,
                "this checkpoint was written by burn's trainer (a GPU run); resume it with the \
                 same --device, or train into a new folder",
            ));
        }
        let (model, _) = load_model(ck, &Device::flex())?;
        engine.net = CpuEnhanceNet::from_model(&model, s.net.context);
        let bytes = std::fs::read(&adam_path).map_err(|e| ck_err(&adam_path, e))?;
        engine.adam = Adam::from_bytes(&bytes, engine.adam.m.len())
            .ok_or_else(|| ck_err(&adam_path, "not an optimizer state for this network"))?;
        Ok((engine, Some(state)))
    }

    fn step(&mut self, batch: Batch, lr: f64) -> f64 {
        let (loss, grads) = loss_and_grads(&self.net, &batch, self.loss, self.kernel);
        self.adam.step(&mut self.net, &grads, lr);
        loss
    }

    fn enhance(&self, b: &Batch) -> Vec<f32> {
        let n = b.channels * b.patch * b.patch;
        b.input.chunks(n).flat_map(|x| self.net.forward_slab(x, b.patch, b.patch)).collect()
    }

    fn checkpoint(&self, ck: &Path, state: &CheckpointState) -> Result<(), TrainError> {
        save_model(&self.model(), &self.cfg, ck)?;
        let adam_path = ck.join("adam.bin");
        std::fs::write(&adam_path, self.adam.to_bytes()).map_err(|e| ck_err(&adam_path, e))?;
        write_state(ck, state)
    }

    fn model(&self) -> EnhanceNet {
        self.net.to_model(&self.cfg, &Device::flex())
    }
}

/// burn's autodiff on any device.
pub(super) struct BurnEngine {
    model: EnhanceNet,
    optim: burn::optim::ModuleOptimizer,
    device: Device,
    loss: Loss,
}

impl Engine for BurnEngine {
    fn start(
        s: &TrainSettings,
        ck: &Path,
        device: &Device,
    ) -> Result<(Self, Option<CheckpointState>), TrainError> {
        let device = device.clone().autodiff();
        // Best effort: burn's generator is shared with anything else drawing from it.
        device.seed(s.seed);
        let state = checkpoint_state::<CheckpointState>(ck)?;
        let model: EnhanceNet = match s.init_from {
            Some(_) if state.is_none() => initial_net(s)?.to_model(&s.net, &device),
            _ => s.net.init(&device),
        };
        // Adam's epsilon at 1e-8 (burn's default is 1e-5): the residuals this network learns are
        // ~1 % of the signal, their gradients small enough that 1e-5 swamped the second-moment
        // term and stalled training (measured: validation L1 stuck at the input's for 600 steps,
        // 4× lower with 1e-8).
        let optim = AdamConfig::new().with_epsilon(1e-8).init();
        let mut engine = Self { model, optim, device, loss: s.loss };
        let Some(state) = state else {
            return Ok((engine, None));
        };
        check_net(ck, &state, s)?;
        (engine.model, engine.optim) = load_checkpoint(ck, engine.model, engine.optim)?;
        Ok((engine, Some(state)))
    }

    fn step(&mut self, batch: Batch, lr: f64) -> f64 {
        let (x, y) = to_tensors(batch, &self.device);
        let loss = self.loss.of_tensor(self.model.forward(x), y);
        let value = loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        // `step` takes the module by value; a clone shares the parameter tensors (reference
        // counted), so this costs one copy of 57k weights at most.
        self.model = self.optim.step(lr, self.model.clone(), grads);
        value
    }

    fn enhance(&self, b: &Batch) -> Vec<f32> {
        let plain = self.device.clone().inner();
        let (x, _) = to_tensors(b.clone(), &plain);
        self.model.valid().forward(x).into_data().try_to_vec::<f32>().expect("f32 output")
    }

    fn checkpoint(&self, ck: &Path, state: &CheckpointState) -> Result<(), TrainError> {
        save_checkpoint(ck, &self.model, &self.optim, state)
    }

    fn model(&self) -> EnhanceNet {
        self.model.valid()
    }
}
