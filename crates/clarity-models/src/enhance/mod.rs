//! Enhanced resolution: the network and its training and inference.

pub mod consistency;
pub mod cpu;
mod cpu_train;
pub mod data;
mod direct;
pub mod grow;
pub mod infer;
pub mod model;
pub mod noise;
pub mod readout;
pub mod sources;
pub mod train;

pub use model::{EnhanceNet, EnhanceNetConfig};
