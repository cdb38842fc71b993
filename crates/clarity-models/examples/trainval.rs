//! Developer aid: validate on training volumes to separate optimisation from generalisation
//! (`trainval [MRI_DIR]`; LR and DEPTH from the environment).
use burn::prelude::*;
fn main() {
    let mri = std::env::args().nth(1).unwrap_or_else(|| "../shared/data/mri".into());
    let (train, _) =
        clarity_models::enhance::sources::load(std::path::Path::new(&mri), true).unwrap();
    let mut s = clarity_models::enhance::train::TrainSettings {
        steps: 300,
        validate_every: 50,
        checkpoint_every: 1000,
        ..Default::default()
    };
    if let Ok(lr) = std::env::var("LR") {
        s.learning_rate = lr.parse().unwrap();
    }
    if let Ok(d) = std::env::var("DEPTH") {
        s.net.depth = d.parse().unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut losses = Vec::new();
    let r = clarity_models::enhance::train::train(
        &s,
        &train,
        &train,
        dir.path(),
        &Device::flex(),
        &mut |event| {
            if let clarity_models::enhance::train::TrainEvent::Step { loss, .. } = event {
                losses.push(loss)
            }
        },
    )
    .unwrap();
    for v in r.validation {
        println!("step {} input {:.5} output {:.5}", v.step, v.l1_input, v.l1_output);
    }
    for c in losses.chunks(50) {
        println!("train L1 mean {:.5}", c.iter().sum::<f64>() / c.len() as f64);
    }
}
