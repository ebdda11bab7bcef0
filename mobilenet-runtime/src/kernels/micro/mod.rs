//! The f32 micro-kernels: the innermost loops, generic over the vector
//! type, each instantiated once per instruction set in `entry.rs` and
//! called by the drivers (`gemm.rs`, `dwconv.rs`), which own the walk over
//! tiles, rows and threads. Drivers import micro-kernels, never the reverse.

mod dw_group;
mod gemm_tile;

pub(crate) use dw_group::{Group, Pixel, group};
pub(crate) use gemm_tile::{Tile, tile};
