//! The shipped models, built into the binary from `models/` at build time: `clarity enhance`,
//! `classify`, `eval` and `demo` use them when no `--model` is given, so the binary runs from
//! any folder and on a machine without the repository. Cargo rebuilds this crate when either
//! file changes, so the built-in copy is always the committed one.

use crate::store::BuiltIn;

/// The enhancement network (`models/enhance`; see its model card).
pub static ENHANCE: BuiltIn = BuiltIn {
    origin: "models/enhance",
    config_json: include_str!("../../../models/enhance/config.json"),
    safetensors: include_bytes!("../../../models/enhance/model.safetensors"),
};

/// The series classifier (`models/classify`; see its model card).
pub static CLASSIFY: BuiltIn = BuiltIn {
    origin: "models/classify",
    config_json: include_str!("../../../models/classify/config.json"),
    safetensors: include_bytes!("../../../models/classify/model.safetensors"),
};
