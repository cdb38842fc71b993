//! Saving and loading what training produces, shared by every network:
//! - **weights** for users and other frameworks: `model.safetensors` (PyTorch-style names and
//!   layouts, e.g. `head.weight` as `[out, in, kh, kw]`) with `config.json` beside it;
//! - **checkpoints** for resuming: `checkpoint/model.bpk` (burnpack keeps parameter ids, so the
//!   optimizer state matches on resume), `checkpoint/optim.bpk` and `checkpoint/state.json`.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{ApplyError, BurnpackStore, ModuleSnapshot, SafetensorsStore};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Errors a training run or a model load can stop with.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// No training sample fits the network's input (e.g. every volume smaller than the patch).
    #[error("no usable training data: {0}")]
    NoData(String),
    /// The settings contradict each other (e.g. the pairs' input channels and the network's).
    #[error("inconsistent training settings: {0}")]
    Settings(String),
    /// Writing or reading a checkpoint or a weights file failed.
    #[error("{path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
}

pub(crate) fn ck_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint { path: path.to_path_buf(), reason: e.to_string() }
}

/// Write `model.safetensors` and `config.json` into `dir`.
pub fn save_weights<M: Module>(
    model: &M,
    cfg: &impl Serialize,
    dir: &Path,
) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| ck_err(dir, e))?;
    let path = dir.join("model.safetensors");
    model
        .save_into(&mut SafetensorsStore::from_file(&path).overwrite(true))
        .map_err(|e| ck_err(&path, e))?;
    let json = serde_json::to_string_pretty(cfg).map_err(|e| ck_err(dir, e))?;
    std::fs::write(dir.join("config.json"), json).map_err(|e| ck_err(dir, e))
}

/// A copy of a shipped model's two files, built into the binary.
#[derive(Debug)]
pub struct BuiltIn {
    /// The folder the files were read from at build time, relative to the repository.
    pub origin: &'static str,
    pub config_json: &'static str,
    pub safetensors: &'static [u8],
}

/// Where a network's weights come from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// A folder with `model.safetensors` and `config.json`.
    Folder(PathBuf),
    /// A shipped model built into the binary, so `clarity` needs no `models/` folder beside it.
    BuiltIn(&'static BuiltIn),
}

impl ModelSource {
    /// The folder if one is given, else the built-in model.
    pub fn or_built_in(folder: Option<PathBuf>, built_in: &'static BuiltIn) -> Self {
        folder.map_or(Self::BuiltIn(built_in), Self::Folder)
    }

    /// Where the model's `config.json` is (a built-in one: where it was built from), for errors.
    pub fn config_path(&self) -> PathBuf {
        match self {
            Self::Folder(dir) => dir.join("config.json"),
            Self::BuiltIn(b) => Path::new(b.origin).join("config.json"),
        }
    }

    /// The model's two files in a folder: the given one, or `scratch` (created) with the
    /// built-in model written into it, for tools that read files (the ONNX Runtime baseline).
    pub fn folder(&self, scratch: &Path) -> Result<PathBuf, TrainError> {
        match self {
            Self::Folder(dir) => Ok(dir.clone()),
            Self::BuiltIn(b) => {
                std::fs::create_dir_all(scratch).map_err(|e| ck_err(scratch, e))?;
                let write = |name: &str, bytes: &[u8]| {
                    let path = scratch.join(name);
                    std::fs::write(&path, bytes).map_err(|e| ck_err(&path, e))
                };
                write("config.json", b.config_json.as_bytes())?;
                write("model.safetensors", b.safetensors)?;
                Ok(scratch.to_path_buf())
            }
        }
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Folder(dir) => write!(f, "{}", dir.display()),
            Self::BuiltIn(b) => write!(f, "the built-in {}", b.origin),
        }
    }
}

impl From<&Path> for ModelSource {
    fn from(dir: &Path) -> Self {
        Self::Folder(dir.to_path_buf())
    }
}

impl From<&PathBuf> for ModelSource {
    fn from(dir: &PathBuf) -> Self {
        Self::Folder(dir.clone())
    }
}

/// Read `config.json`, build the network with `init`, load `model.safetensors`: from a folder
/// or from the built-in copy.
pub fn load_weights<C: DeserializeOwned, M: Module>(
    source: &ModelSource,
    init: impl FnOnce(&C) -> M,
) -> Result<(M, C), TrainError> {
    // The paths name the files in errors; a built-in copy is named by where it came from.
    // Validation is ours (`mismatch_summary`), from burn's list of what did not fit.
    let (cfg_path, weights_path, text, mut store) = match source {
        ModelSource::Folder(dir) => {
            let (cfg_path, weights_path) = (source.config_path(), dir.join("model.safetensors"));
            let text = std::fs::read_to_string(&cfg_path).map_err(|e| ck_err(&cfg_path, e))?;
            let store = SafetensorsStore::from_file(&weights_path).validate(false);
            (cfg_path, weights_path, text, store)
        }
        ModelSource::BuiltIn(b) => {
            let dir = Path::new(b.origin);
            let store = SafetensorsStore::from_bytes(Some(b.safetensors.to_vec())).validate(false);
            (source.config_path(), dir.join("model.safetensors"), b.config_json.to_string(), store)
        }
    };
    let cfg: C = serde_json::from_str(&text).map_err(|e| ck_err(&cfg_path, e))?;
    let mut model = init(&cfg);
    let applied = model.load_from(&mut store).map_err(|e| ck_err(&weights_path, e))?;
    if let Some(why) = mismatch_summary(&applied.errors, &cfg_path) {
        return Err(ck_err(&weights_path, why));
    }
    Ok((model, cfg))
}

/// What did not fit when the weights were applied, in one line (None when all did). burn's own
/// validation error lists every tensor (two dozen for the shipped enhancer, several thousand
/// characters), so the first one and a count say it, with the likely cause of a shape
/// mismatch: `config.json` and the weights are not one model.
fn mismatch_summary(errors: &[ApplyError], cfg_path: &Path) -> Option<String> {
    let first = errors.first()?;
    let more = match errors.len() {
        1 => String::new(),
        n => format!(" (and {} more tensors)", n - 1),
    };
    Some(match first {
        ApplyError::ShapeMismatch { path, expected, found } => format!(
            "the weights do not fit the network {} describes: {path} is {:?} in the file, the \
             network needs {:?}{more}. Are config.json and model.safetensors from one model?",
            cfg_path.display(),
            found.as_slice(),
            expected.as_slice(),
        ),
        other => format!("{other}{more}"),
    })
}

/// What a checkpoint remembers besides the weights and optimizer: the step reached, the settings
/// (a resume with another network is refused), the validation history and the time spent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainState<S, V> {
    pub step: usize,
    pub settings: S,
    pub validation: Vec<V>,
    pub seconds: f64,
}

/// Save a resumable checkpoint into `dir` (created).
pub fn save_checkpoint<M: Module>(
    dir: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    state: &impl Serialize,
) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| ck_err(dir, e))?;
    model
        .save_into(&mut BurnpackStore::from_file(dir.join("model.bpk")).overwrite(true))
        .map_err(|e| ck_err(dir, e))?;
    optim.save(dir.join("optim.bpk")).map_err(|e| ck_err(dir, e))?;
    write_state(dir, state)
}

/// `dir` with `suffix` added to its name (`checkpoint` → `checkpoint.tmp`).
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

/// Write the checkpoint in folder `dir` whole or not at all: `write` fills a fresh `dir.tmp`,
/// which then takes `dir`'s place. Why: a run killed while writing (a session that ends without
/// warning) would otherwise leave new weights beside an old `state.json`, and a resume would
/// continue from that mix.
pub fn replace_checkpoint(
    dir: &Path,
    write: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let (tmp, old) = (sibling(dir, ".tmp"), sibling(dir, ".old"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| ck_err(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| ck_err(&tmp, e))?;
    write(&tmp)?;
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| ck_err(&old, e))?;
        }
        std::fs::rename(dir, &old).map_err(|e| ck_err(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| ck_err(dir, e))?;
    // The old checkpoint is only clutter now; failing to remove it loses nothing.
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Put back the checkpoint of a run killed between the two renames of [`replace_checkpoint`]
/// (`dir` gone, `dir.old` complete), so the next run resumes instead of starting afresh.
pub fn recover_checkpoint(dir: &Path) -> Result<(), TrainError> {
    let old = sibling(dir, ".old");
    if !dir.exists() && old.is_dir() {
        std::fs::rename(&old, dir).map_err(|e| ck_err(dir, e))?;
    }
    Ok(())
}

/// Whether a run writing into checkpoint folder `dir` resumes from a checkpoint: one in `dir`,
/// or one that [`recover_checkpoint`] will put back from `dir.old`. Callers that guard an
/// output folder ask this instead of looking for `state.json` themselves.
pub fn holds_checkpoint(dir: &Path) -> bool {
    let old = sibling(dir, ".old");
    dir.join("state.json").is_file() || (!dir.exists() && old.join("state.json").is_file())
}

/// Write a checkpoint's `state.json` into `dir`.
pub fn write_state(dir: &Path, state: &impl Serialize) -> Result<(), TrainError> {
    let json = serde_json::to_string_pretty(state).map_err(|e| ck_err(dir, e))?;
    std::fs::write(dir.join("state.json"), json).map_err(|e| ck_err(dir, e))
}

/// The checkpoint's state when `dir` holds one (`None` when there is none).
pub fn checkpoint_state<S: DeserializeOwned>(dir: &Path) -> Result<Option<S>, TrainError> {
    let path = dir.join("state.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ck_err(&path, e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| ck_err(&path, e))
}

/// Load the checkpoint's model and optimizer state (after [`checkpoint_state`] said it exists).
pub fn load_checkpoint<M: Module>(
    dir: &Path,
    mut model: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer), TrainError> {
    model
        .load_from(&mut BurnpackStore::from_file(dir.join("model.bpk")))
        .map_err(|e| ck_err(dir, e))?;
    let optim = optim.load(dir.join("optim.bpk")).map_err(|e| ck_err(dir, e))?;
    Ok((model, optim))
}

/// Cosine decay from `peak` at step 0 to `floor_fraction · peak` at the last step.
pub fn cosine_lr(peak: f64, step: usize, steps: usize, floor_fraction: f64) -> f64 {
    let progress = step as f64 / steps.max(1) as f64;
    (peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(peak * floor_fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn weights_that_do_not_fit_config_json_say_so_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let device = burn::prelude::Device::default();
        let small = crate::enhance::model::EnhanceNetConfig::new(1, 8, 3);
        save_weights(&small.init(&device), &small, dir.path()).unwrap();
        let wider = crate::enhance::model::EnhanceNetConfig { channels: 16, ..small.clone() };
        std::fs::write(dir.path().join("config.json"), serde_json::to_string(&wider).unwrap())
            .unwrap();
        let source = ModelSource::Folder(dir.path().to_path_buf());
        let err =
            load_weights(&source, |c: &crate::enhance::model::EnhanceNetConfig| c.init(&device))
                .expect_err("16-channel network, 8-channel weights")
                .to_string();
        assert!(err.contains("model.safetensors: the weights do not fit"), "{err}");
        assert!(err.contains("head.weight is [8, 3, 3, 3] in the file"), "{err}");
        assert!(err.contains("needs [16, 3, 3, 3] (and "), "{err}");
        assert!(err.len() < 400 && !err.contains('\n'), "{err}");
    }

    #[test]
    fn a_checkpoint_is_replaced_whole_or_not_at_all() {
        let out = tempfile::tempdir().unwrap();
        let ck = out.path().join("checkpoint");
        fn write(files: &'static [(&str, &str)]) -> impl Fn(&Path) -> Result<(), TrainError> {
            move |dir| {
                for (name, text) in files {
                    std::fs::write(dir.join(name), text).map_err(|e| ck_err(dir, e))?;
                }
                Ok(())
            }
        }
        replace_checkpoint(&ck, write(&[("model", "1"), ("state.json", "1")])).unwrap();
        // Killed (here: failed) after the weights, before the state: step 1 stays as it was.
        let failed = replace_checkpoint(&ck, |dir| {
            write(&[("model", "2")])(dir)?;
            Err(ck_err(dir, "killed"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(ck.join("model")).unwrap(), "1");
        replace_checkpoint(&ck, write(&[("model", "3"), ("state.json", "3")])).unwrap();
        assert_eq!(std::fs::read_to_string(ck.join("state.json")).unwrap(), "3");
        assert_eq!(files(out.path()), ["checkpoint"]);
        // Killed between the two renames: the old checkpoint is put back on the next start.
        std::fs::rename(&ck, out.path().join("checkpoint.old")).unwrap();
        recover_checkpoint(&ck).unwrap();
        assert_eq!(std::fs::read_to_string(ck.join("model")).unwrap(), "3");
        assert_eq!(files(out.path()), ["checkpoint"]);
    }
}
