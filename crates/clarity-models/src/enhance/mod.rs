//! Enhanced resolution: the network and its training and inference.

pub mod model;

pub use model::{EnhanceNet, EnhanceNetConfig};
