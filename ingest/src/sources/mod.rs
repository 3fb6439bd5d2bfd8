//! One module per source: what to fetch and how to parse it into validated rows and rejections.

pub mod dtm;
pub mod geography;
pub mod table;
