//! Training and weights IO of the enhancement network, on a tiny model and synthetic data so it
//! runs in seconds on a CPU; and one check of the shipped model's data consistency on a real
//! validation volume (~50 s in release on 2 cores).

use burn::prelude::*;
use clarity_core::Volume;
use clarity_models::enhance::infer::InferOptions;
use clarity_models::enhance::train::{load_model, train, TrainEvent, TrainSettings};
use clarity_models::enhance::{data::PairSettings, EnhanceNetConfig};

/// Bright discs of different sizes on a dim background: edges for the network to restore.
fn discs(seed: usize) -> Volume {
    let n = 48;
    let mut data = vec![0f32; n * n * 3];
    for k in 0..3 {
        for j in 0..n {
            for i in 0..n {
                let mut v = 20.0;
                for d in 0..4 {
                    let (cx, cy, r) = (
                        (7 + 11 * d + seed) % 40 + 4,
                        (13 + 7 * d + 3 * seed) % 40 + 4,
                        3 + (d + seed) % 6,
                    );
                    if (i as i64 - cx as i64).pow(2) + (j as i64 - cy as i64).pow(2)
                        <= (r * r) as i64
                    {
                        v = 100.0 + 20.0 * d as f32 + 5.0 * k as f32;
                    }
                }
                data[(k * n + j) * n + i] = v;
            }
        }
    }
    Volume::new([n, n, 3], data).unwrap()
}

fn tiny(steps: usize) -> TrainSettings {
    TrainSettings {
        steps,
        batch: 8,
        learning_rate: 2e-3,
        seed: 1,
        validate_every: 50,
        checkpoint_every: 50,
        pairs: PairSettings { patch: 32, snr: (20.0, 40.0), ..Default::default() },
        net: EnhanceNetConfig::new(1, 16, 5),
        stop_after: None,
        stop_after_seconds: None,
        init_from: None,
        loss: Default::default(),
    }
}

#[test]
fn tiny_model_learns_resumes_and_round_trips_its_weights() {
    let vols: Vec<Volume> = (0..4).map(discs).collect();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    // Half the run, then a resumed second half from the checkpoint.
    let report = train(&tiny(100), &vols, &vols, dir.path(), &device, &mut |_| {}).unwrap();
    assert_eq!(report.validation.last().unwrap().step, 100);
    // The resumed half reports its steps and validations as they happen.
    let (mut steps, mut heard) = (Vec::new(), Vec::new());
    let report = train(&tiny(300), &vols, &vols, dir.path(), &device, &mut |event| match event {
        TrainEvent::Step { step, .. } => steps.push(step),
        TrainEvent::Validated(v) => heard.push((v.step, v.l1_output)),
    })
    .unwrap();
    assert_eq!(steps, (101..=300).collect::<Vec<_>>());
    let recorded: Vec<(usize, f64)> =
        report.validation[2..].iter().map(|v| (v.step, v.l1_output)).collect();
    assert_eq!(heard, recorded);
    let first = &report.validation[0];
    let last = report.validation.last().unwrap();
    assert_eq!(report.validation.len(), 6, "validation history survives the resume");
    // The untrained network is the identity, so its L1 is the input's; training must beat it
    // clearly, and improve over the run.
    assert!(
        last.l1_output < 0.8 * last.l1_input && last.l1_output < first.l1_output,
        "network does not beat the zero-filled input: {:?}",
        report.validation
    );
    // The written safetensors + config load back into the same function.
    let (model, cfg) = load_model(dir.path(), &device).unwrap();
    assert_eq!(cfg, tiny(300).net);
    let x = Tensor::<4>::random([1, 3, 16, 16], burn::tensor::Distribution::Default, &device);
    let y1 = model.forward(x.clone());
    let (again, _) = load_model(dir.path(), &device).unwrap();
    let d: f32 = (again.forward(x) - y1).abs().max().into_scalar();
    assert!(d == 0.0);
    // PyTorch-style names and layouts in the file.
    let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(header["head.weight"]["shape"], serde_json::json!([16, 3, 3, 3]));
    assert_eq!(header["body.0.weight"]["shape"], serde_json::json!([16, 16, 3, 3]));
    assert_eq!(header["tail.bias"]["shape"], serde_json::json!([1]));
}

const ONE_PASS: InferOptions =
    InferOptions { batch: 2, flips: false, noise_sigma: None, dropped_fraction: None };

/// A volume with its in-plane axes swapped.
fn transposed(v: &Volume) -> Volume {
    let [nx, ny, nz] = v.dims;
    let mut data = vec![0f32; nx * ny * nz];
    for k in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                data[(k * nx + x) * ny + y] = v.data[(k * ny + y) * nx + x];
            }
        }
    }
    Volume::new([ny, nx, nz], data).unwrap()
}

#[test]
fn pe_specific_network_sees_inputs_with_pe_along_its_own_axis() {
    use clarity_core::PhaseEncodingDirection::{Col, Row};
    use clarity_models::enhance::infer::enhance_volume;
    let device = Device::flex();
    let cfg = EnhanceNetConfig {
        context: 1,
        channels: 4,
        depth: 3,
        pe_axis: Some(Col),
        noise_channel: false,
        reduction_channel: false,
        // A dilated middle layer: inference must take the same tap spacing as training.
        dilations: vec![1, 2, 1],
    };
    let mut model = cfg.init(&device);
    // A non-zero tail so the network is not the identity (it starts as one).
    model.tail = burn::nn::conv::Conv2dConfig::new([4, 1], [3, 3])
        .with_padding(burn::nn::PaddingConfig2d::Same)
        .init(&device);
    // Non-square, so a missed or doubled transpose cannot go unnoticed.
    let mut vol = discs(2);
    vol = Volume::new([48, 40, 3], {
        let mut d = Vec::new();
        for k in 0..3 {
            d.extend_from_slice(&vol.slice(k)[..48 * 40]);
        }
        d
    })
    .unwrap();
    let along_row = enhance_volume(&model, &cfg, &vol, Row, &device, ONE_PASS, &mut |_, _| {});
    let expected = transposed(&enhance_volume(
        &model,
        &cfg,
        &transposed(&vol),
        Col,
        &device,
        ONE_PASS,
        &mut |_, _| {},
    ));
    assert_eq!(along_row.dims, vol.dims);
    let diff =
        along_row.data.iter().zip(&expected.data).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-3, "max difference {diff}");
    // And it differs from running the slices untransposed (the check has teeth).
    let plain = enhance_volume(&model, &cfg, &vol, Col, &device, ONE_PASS, &mut |_, _| {});
    let d2 =
        plain.data.iter().zip(&along_row.data).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(d2 > 1e-2, "transposing made no difference ({d2})");
}

/// `vol` mirrored left-right in every slice.
fn mirrored(v: &Volume) -> Volume {
    let mut out = v.clone();
    let nx = v.dims[0];
    out.data.chunks_mut(nx).for_each(|row| row.reverse());
    out
}

fn max_diff(a: &Volume, b: &Volume) -> f32 {
    a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

#[test]
fn flip_ensemble_makes_the_output_mirror_with_the_input() {
    use clarity_core::PhaseEncodingDirection::Col;
    use clarity_models::enhance::infer::enhance_volume;
    let device = Device::flex();
    let cfg = EnhanceNetConfig::new(1, 4, 3);
    let mut model = cfg.init(&device);
    model.tail = burn::nn::conv::Conv2dConfig::new([4, 1], [3, 3])
        .with_padding(burn::nn::PaddingConfig2d::Same)
        .init(&device);
    let vol = discs(3);
    let run = |v: &Volume, flips: bool| {
        enhance_volume(
            &model,
            &cfg,
            v,
            Col,
            &device,
            InferOptions { batch: 2, flips, noise_sigma: None, dropped_fraction: None },
            &mut |_, _| {},
        )
    };
    // Averaged over the four flips the network is exactly flip-equivariant...
    let d = max_diff(&run(&mirrored(&vol), true), &mirrored(&run(&vol, true)));
    assert!(d < 1e-3, "ensemble not mirror-equivariant: {d}");
    // ...which a single pass of a random network is not (the check has teeth).
    let d1 = max_diff(&run(&mirrored(&vol), false), &mirrored(&run(&vol, false)));
    assert!(d1 > 1e-2, "single pass already equivariant ({d1})");
}

/// The CPU engine's checkpoint holds everything: stopping (at a step, then on a time budget)
/// and resuming gives the same weights as one uninterrupted run.
#[test]
fn resumed_cpu_training_equals_an_uninterrupted_run() {
    let vols: Vec<Volume> = (0..2).map(discs).collect();
    let device = Device::flex();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    train(&tiny(60), &vols, &vols, a.path(), &device, &mut |_| {}).unwrap();
    let (m1, _) = load_model(a.path(), &device).unwrap();
    // The same 60-step schedule, stopped after step 37 (between checkpoints) and resumed.
    let stopped = TrainSettings { stop_after: Some(37), ..tiny(60) };
    let r = train(&stopped, &vols, &vols, b.path(), &device, &mut |_| {}).unwrap();
    assert_eq!(r.steps_done, 37);
    // A budget of 0 s is spent by the first step of the sitting, which must then validate and
    // checkpoint (otherwise the next sitting would redo it from step 37).
    let budget = TrainSettings { stop_after_seconds: Some(0.0), ..tiny(60) };
    let r = train(&budget, &vols, &vols, b.path(), &device, &mut |_| {}).unwrap();
    assert_eq!(r.steps_done, 38);
    assert_eq!(r.validation.last().map(|v| v.step), Some(38));
    let state = std::fs::read_to_string(b.path().join("checkpoint/state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["step"], 38, "no checkpoint at the step the budget stopped");
    train(&tiny(60), &vols, &vols, b.path(), &device, &mut |_| {}).unwrap();
    let (m2, _) = load_model(b.path(), &device).unwrap();
    let x = Tensor::<4>::random([1, 3, 20, 20], burn::tensor::Distribution::Default, &device);
    let d: f32 = (m1.forward(x.clone()) - m2.forward(x)).abs().max().into_scalar();
    assert_eq!(d, 0.0, "resumed runs differ by {d}");
}

/// burn's autodiff engine (what a GPU trains with) still learns, run here on the CPU.
#[test]
fn burn_autodiff_engine_learns() {
    use clarity_models::enhance::train::train_with_autodiff;
    let vols: Vec<Volume> = (0..2).map(discs).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut s = tiny(120);
    s.validate_every = 120;
    let report =
        train_with_autodiff(&s, &vols, &vols, dir.path(), &Device::flex(), &mut |_| {}).unwrap();
    let last = report.validation.last().unwrap();
    assert!(last.l1_output < 0.9 * last.l1_input, "{:?}", report.validation);
    assert!(dir.path().join("checkpoint/model.bpk").is_file(), "burn checkpoint written");
}

/// burn's engine, what a GPU run trains with, resumes from its checkpoint as the CPU engine
/// does: a run split by a time budget (0 s: one step a sitting) and by a step ends with the
/// weights of an uninterrupted one. A GPU run lent 10 minutes a call depends on it.
#[test]
fn resumed_burn_training_equals_an_uninterrupted_run() {
    use clarity_models::enhance::train::train_with_autodiff;
    let vols: Vec<Volume> = (0..2).map(discs).collect();
    let device = Device::flex();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = TrainSettings { validate_every: 10, checkpoint_every: 10, ..tiny(24) };
    train_with_autodiff(&s, &vols, &vols, a.path(), &device, &mut |_| {}).unwrap();
    let (m1, _) = load_model(a.path(), &device).unwrap();
    let sittings = [
        TrainSettings { stop_after: Some(13), ..s.clone() },
        TrainSettings { stop_after_seconds: Some(0.0), ..s.clone() },
        s.clone(),
    ];
    let done: Vec<usize> = sittings
        .iter()
        .map(|t| train_with_autodiff(t, &vols, &vols, b.path(), &device, &mut |_| {}))
        .map(|r| r.unwrap().steps_done)
        .collect();
    assert_eq!(done, [13, 14, 24]);
    let (m2, _) = load_model(b.path(), &device).unwrap();
    let x = Tensor::<4>::random([1, 3, 20, 20], burn::tensor::Distribution::Default, &device);
    let (y1, y2) = (m1.forward(x.clone()), m2.forward(x.clone()));
    let moved: f32 = (y1.clone() - x).abs().max().into_scalar();
    assert!(moved > 1e-4, "the run did not train ({moved})");
    let d: f32 = (y1 - y2).abs().max().into_scalar();
    assert!(d <= 1e-6 * moved.max(1.0), "resumed run differs by {d} (training moved {moved})");
}

/// `init_from` grows a trained model without changing its output: a wider, deeper network
/// started from it with a zero learning rate computes what the small one does, on both engines,
/// and it trains on from there. A wider slice context starts from the same function too; a
/// narrower one is refused.
#[test]
fn training_from_a_smaller_model_starts_where_it_ended() {
    use clarity_models::enhance::train::train_with_autodiff;
    let vols: Vec<Volume> = (0..2).map(discs).collect();
    let device = Device::flex();
    let small = tempfile::tempdir().unwrap();
    train(&tiny(40), &vols, &vols, small.path(), &device, &mut |_| {}).unwrap();
    let (m_small, _) = load_model(small.path(), &device).unwrap();
    let x = Tensor::<4>::random([1, 3, 24, 20], burn::tensor::Distribution::Default, &device);
    let want = m_small.forward(x.clone());
    let bigger = |lr: f64| TrainSettings {
        learning_rate: lr,
        init_from: Some(small.path().to_path_buf()),
        net: EnhanceNetConfig::new(1, 24, 8),
        ..tiny(5)
    };
    for autodiff in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        if autodiff {
            train_with_autodiff(&bigger(0.0), &vols, &vols, dir.path(), &device, &mut |_| {})
        } else {
            train(&bigger(0.0), &vols, &vols, dir.path(), &device, &mut |_| {})
        }
        .unwrap();
        let (m, cfg) = load_model(dir.path(), &device).unwrap();
        assert_eq!((cfg.channels, cfg.depth), (24, 8));
        let d: f32 = (m.forward(x.clone()) - want.clone()).abs().max().into_scalar();
        assert!(d < 1e-4, "autodiff {autodiff}: grown network differs by {d}");
    }
    let dir = tempfile::tempdir().unwrap();
    train(&bigger(1e-3), &vols, &vols, dir.path(), &device, &mut |_| {}).unwrap();
    let (m, _) = load_model(dir.path(), &device).unwrap();
    let d: f32 = (m.forward(x.clone()) - want.clone()).abs().max().into_scalar();
    assert!(d > 1e-6, "training from the grown network changed nothing");
    // A wider slice context: the two new outer slices start with zero weights, so the output
    // is the small network's on the middle three whatever they hold.
    let context = |c: usize, lr: f64| TrainSettings {
        net: EnhanceNetConfig::new(c, 24, 8),
        pairs: PairSettings { context: c, ..tiny(5).pairs },
        ..bigger(lr)
    };
    let wide = dir.path().join("wide");
    train(&context(2, 0.0), &vols, &vols, &wide, &device, &mut |_| {}).unwrap();
    let (m_wide, cfg) = load_model(&wide, &device).unwrap();
    assert_eq!(cfg.context, 2);
    let outer = |seed: u64| {
        Tensor::<4>::random([1, 1, 24, 20], burn::tensor::Distribution::Default, &device)
            .mul_scalar(seed as f32)
    };
    let x5 = Tensor::cat(vec![outer(2), x.clone(), outer(3)], 1);
    let d: f32 = (m_wide.forward(x5) - want).abs().max().into_scalar();
    assert!(d < 1e-4, "the wider context changed the output by {d}");
    let err = train(&context(0, 1e-3), &vols, &vols, &dir.path().join("x"), &device, &mut |_| {});
    assert!(err.unwrap_err().to_string().contains("not shrink"));
}

/// The noise plane of a training pair is constant and proportional to the scan's noise: the
/// same draw at SNR 10 and 40 differs only in σ, by 4×.
#[test]
fn noise_plane_of_a_pair_follows_the_noise_level() {
    use clarity_models::enhance::data::sample_batch;
    use rand::SeedableRng;
    let vols: Vec<Volume> = (0..2).map(discs).collect();
    let plane_at = |snr: f64| {
        let s =
            PairSettings { patch: 32, snr: (snr, snr), noise_channel: true, ..Default::default() };
        assert_eq!(s.input_channels(), 4);
        let b = sample_batch(&vols, 3, &s, &mut rand::rngs::StdRng::seed_from_u64(5));
        assert_eq!(b.channels, 4);
        let n = 32 * 32;
        (0..3).map(|i| b.input[(i * 4 + 3) * n..(i * 4 + 4) * n].to_vec()).collect::<Vec<_>>()
    };
    let (low, high) = (plane_at(10.0), plane_at(40.0));
    for (l, h) in low.iter().zip(&high) {
        assert!(l.iter().all(|v| *v == l[0]) && h.iter().all(|v| *v == h[0]), "not constant");
        assert!(l[0] > 0.0 && (l[0] / h[0] - 4.0).abs() < 1e-4, "{} vs {}", l[0], h[0]);
    }
}

/// The reduction plane of a training pair is constant and holds the fraction of PE lines the
/// shortened scan dropped, counted in whole lines of the slice's PE extent; it comes after the
/// noise plane.
#[test]
fn reduction_plane_of_a_pair_holds_the_dropped_fraction() {
    use clarity_core::PhaseEncodingDirection::Col;
    use clarity_models::enhance::data::sample_batch;
    use clarity_mr::acquisition::acquired_lines;
    use rand::SeedableRng;
    let vol = discs(1);
    let n_pe = vol.dims[1]; // PE along columns: the j extent
    for r in [0.2, 0.3, 0.4] {
        let s = PairSettings {
            patch: 32,
            reduction: (r, r),
            pe_axis: Some(Col),
            noise_channel: true,
            reduction_channel: true,
            ..Default::default()
        };
        assert_eq!(s.input_channels(), 5);
        let b = sample_batch(
            std::slice::from_ref(&vol),
            2,
            &s,
            &mut rand::rngs::StdRng::seed_from_u64(3),
        );
        let n = 32 * 32;
        let want = 1.0 - acquired_lines(n_pe, r, 1.0).len() as f32 / n_pe as f32;
        for i in 0..2 {
            let noise = &b.input[(i * 5 + 3) * n..(i * 5 + 4) * n];
            let plane = &b.input[(i * 5 + 4) * n..(i * 5 + 5) * n];
            assert!(
                plane.iter().all(|v| (*v - want).abs() < 1e-6),
                "r {r}: {} vs {want}",
                plane[0]
            );
            assert!(noise[0] > 0.0 && noise[0] != plane[0], "the noise plane comes first");
        }
    }
}

/// Adding the noise input, then the reduction input, to a trained model (`init_from`, zero
/// learning rate) keeps what it computes whatever the planes hold; pairs without the plane
/// for a network with one are refused, and so are planes out of order or taken away.
#[test]
fn plane_inputs_added_to_a_trained_model_change_nothing_until_trained() {
    let vols: Vec<Volume> = (0..2).map(discs).collect();
    let device = Device::flex();
    let small = tempfile::tempdir().unwrap();
    train(&tiny(20), &vols, &vols, small.path(), &device, &mut |_| {}).unwrap();
    let (m_small, _) = load_model(small.path(), &device).unwrap();
    let x = Tensor::<4>::random([1, 3, 20, 18], burn::tensor::Distribution::Default, &device);
    let want = m_small.forward(x.clone());
    let with_noise = TrainSettings {
        learning_rate: 0.0,
        init_from: Some(small.path().to_path_buf()),
        net: EnhanceNetConfig { noise_channel: true, ..tiny(5).net },
        pairs: PairSettings { noise_channel: true, ..tiny(5).pairs },
        ..tiny(5)
    };
    let dir = tempfile::tempdir().unwrap();
    train(&with_noise, &vols, &vols, dir.path(), &device, &mut |_| {}).unwrap();
    let (m, cfg) = load_model(dir.path(), &device).unwrap();
    assert!(cfg.noise_channel);
    for level in [0.0f32, 0.5] {
        let plane = Tensor::<4>::full([1, 1, 20, 18], level, &device);
        let d: f32 = (m.forward(Tensor::cat(vec![x.clone(), plane], 1)) - want.clone())
            .abs()
            .max()
            .into_scalar();
        assert!(d < 1e-5, "noise plane {level}: output moved by {d}");
    }
    // The reduction plane on top of the noise plane: again the same function.
    let planes = |noise_channel, reduction_channel| TrainSettings {
        init_from: Some(dir.path().to_path_buf()),
        net: EnhanceNetConfig { noise_channel, reduction_channel, ..tiny(5).net },
        pairs: PairSettings { noise_channel, reduction_channel, ..tiny(5).pairs },
        ..with_noise.clone()
    };
    let both = tempfile::tempdir().unwrap();
    train(&planes(true, true), &vols, &vols, both.path(), &device, &mut |_| {}).unwrap();
    let (m, cfg) = load_model(both.path(), &device).unwrap();
    assert!(cfg.noise_channel && cfg.reduction_channel);
    let input = |level: f32, dropped: f32| {
        let noise = Tensor::<4>::full([1, 1, 20, 18], level, &device);
        Tensor::cat(vec![x.clone(), noise, Tensor::full([1, 1, 20, 18], dropped, &device)], 1)
    };
    for (level, dropped) in [(0.0f32, 0.25f32), (0.5, 0.4)] {
        let d: f32 = (m.forward(input(level, dropped)) - want.clone()).abs().max().into_scalar();
        assert!(d < 1e-5, "planes {level}, {dropped}: output moved by {d}");
    }
    // Planes keep their order and are never dropped.
    let to = |s: &TrainSettings, name: &str| {
        let out = dir.path().join(name);
        train(s, &vols, &vols, out.as_path(), &device, &mut |_| {}).unwrap_err().to_string()
    };
    let only_reduction =
        TrainSettings { init_from: Some(small.path().to_path_buf()), ..planes(false, true) };
    let r_dir = dir.path().join("r");
    train(&only_reduction, &vols, &vols, &r_dir, &device, &mut |_| {}).unwrap();
    let before = TrainSettings { init_from: Some(r_dir), ..planes(true, true) };
    assert!(to(&before, "z").contains("before the model's later planes"));
    assert!(to(&planes(false, false), "w").contains("takes a noise plane"));
    let mismatched = TrainSettings { pairs: tiny(5).pairs, ..with_noise };
    let err =
        train(&mismatched, &vols, &vols, dir.path().join("y").as_path(), &device, &mut |_| {});
    assert!(err.unwrap_err().to_string().contains("input channels"), "mismatch not refused");
}

/// The shipped model's data consistency must not undo the network on real data: on brain2 (a
/// validation volume, never trained on) at SNR 10, r = 0.33, the SURE-fitted readout has to
/// score at least the network's own inside the foreground. With the first probe step (half the
/// noise σ) the fit's Monte-Carlo traces were biased and it scored below the network there
/// (PSNR 34.82 vs 34.88 dB in `clarity eval enhance`); reads `../shared/data`.
#[test]
fn shipped_model_consistency_keeps_up_with_the_network_on_brain2_at_snr_10() {
    use clarity_models::enhance::consistency::{enhance_consistent, ScanNoise};
    use clarity_mr::fastscan::{foreground_mask, simulate, FastScanSettings};
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(path) = crate::shared_mri("pyradiomics_brain2/t1.nii.gz") else { return };
    let device = Device::flex();
    let (model, cfg) = load_model(&root.join("models/enhance"), &device).unwrap();
    let vol = clarity_io::nifti::read_nifti(&path).unwrap();
    let pe = clarity_core::PhaseEncodingDirection::Col;
    let (reduction, snr) = (0.33, 10.0);
    let t =
        simulate(&vol, &FastScanSettings { reduction, snr, pe, to_acquired_matrix: true, seed: 0 });
    let n_pe = t.lr.dims[pe.voxel_axis()];
    let sigma_pixel = t.lr_sigma_pixel;
    let noise = ScanNoise { sigma_pixel, lines: t.lr_lines.clone(), pe };
    let opts = InferOptions {
        noise_sigma: Some(sigma_pixel),
        dropped_fraction: Some(clarity_models::enhance::infer::dropped_fraction(&t.lr_lines, n_pe)),
        ..Default::default()
    };
    let (net, consistent) =
        enhance_consistent(&model, &cfg, &t.lr, &device, opts, Some(&noise), pe, &mut |_, _| {});
    let (er, report) = consistent.unwrap();
    let mask = foreground_mask(&t.truth);
    let mse = |v: &Volume| {
        let (s, n) = v
            .data
            .iter()
            .zip(&t.truth.data)
            .zip(&mask)
            .filter(|(_, &m)| m)
            .fold((0f64, 0usize), |(s, n), ((a, b), _)| (s + ((a - b) as f64).powi(2), n + 1));
        s / n as f64
    };
    let (e_net, e_er) = (mse(&net), mse(&er));
    let gain_db = 10.0 * (e_net / e_er).log10();
    eprintln!(
        "brain2 r 0.33 SNR 10: consistency gain {gain_db:+.3} dB (SURE est. {:+.3})",
        report.estimated_gain_db()
    );
    assert!(gain_db > 0.0, "consistency lost {gain_db:.3} dB to the network ({report:?})");
}

/// `--no-phantoms` leaves out exactly the six phantom images (three MNI152 brain contrasts,
/// three series of the generated liver exam) and keeps every real scan at its weight of 4.
#[test]
fn training_pool_without_phantoms_is_the_real_scans() {
    use clarity_models::enhance::sources::load;
    let Some(mri) = crate::shared_mri("") else { return };
    let (with, val) = load(&mri, true).unwrap();
    let (without, val2) = load(&mri, false).unwrap();
    assert_eq!(with.len(), without.len() + 6);
    assert_eq!(val.len(), 2);
    assert_eq!(val2.len(), 2);
    // The real scans come first, in the same order, each repeated 4 times.
    assert_eq!(without.len() % 4, 0);
    for (a, b) in without.iter().zip(&with) {
        assert_eq!(a.dims, b.dims);
    }
    for group in without.chunks(4) {
        assert!(group.iter().all(|v| v.dims == group[0].dims && v.data == group[0].data));
    }
}

/// The bias-field augmentation stays within its bounds, is smooth at the pixel scale, and
/// reaches the training target: on a uniform slab a pair's target is flat without it and
/// varies with it.
#[test]
fn bias_field_is_bounded_smooth_and_applied_to_the_truth() {
    use clarity_models::enhance::data::{sample_batch, BiasField};
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (lo, hi) = ((-1.25f32).exp(), 1.25f32.exp());
    for _ in 0..50 {
        let b = BiasField::draw(256, 256, &mut rng);
        for y in (0..256).step_by(5) {
            for x in (0..255).step_by(5) {
                let (v, right) = (b.at(x, y), b.at(x + 1, y));
                assert!((lo..=hi).contains(&v), "{v} at ({x}, {y})");
                assert!((right / v - 1.0).abs() < 0.011, "{v} → {right} at ({x}, {y})");
            }
        }
    }
    let flat = Volume::new([48, 48, 3], vec![100.0; 48 * 48 * 3]).unwrap();
    let mut spread = |bias_field: bool| {
        let s = PairSettings { patch: 32, bias_field, ..Default::default() };
        let b = sample_batch(std::slice::from_ref(&flat), 4, &s, &mut rng);
        b.target
            .chunks(32 * 32)
            .map(|t| {
                let (min, max) =
                    t.iter().fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
                max / min
            })
            .fold(1f32, f32::max)
    };
    let (without, with) = (spread(false), spread(true));
    assert!(without < 1.0 + 1e-6, "{without}");
    assert!(with > 1.02, "{with}");
}
