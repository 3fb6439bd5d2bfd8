//! One module per source: what to fetch and how to parse it into validated rows and rejections.

pub mod bounded_rows;
pub mod bounds;
pub mod dtm;
pub mod funding;
pub mod geography;
pub mod hdx;
pub mod population;
pub mod sheet;
pub mod sites;
pub mod table;
