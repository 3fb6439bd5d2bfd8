//! The themes' end-to-end scenarios, in one test binary: each theme's in its own module.

#[path = "../common/mod.rs"]
mod common;

mod presence;
