//! Enhanced resolution: the network and its training and inference.

pub mod data;
pub mod model;
pub mod train;

pub use model::{EnhanceNet, EnhanceNetConfig};
