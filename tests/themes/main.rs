//! End to end for the themes built on the source kit, one module each: the local fixture server
//! answers HDX `package_show` and serves the real published files at their HDX paths; the real fetch
//! path ingests them; answers are checked against figures computed here from the raw files (or an
//! independent oracle such as HAPI's processed output). Both stores.

#[path = "../common/mod.rs"]
mod common;

mod availability;
mod conflict_events;
mod food_prices;
mod food_security;
mod guide;
mod national_risk;
mod needs;
mod presence;
mod refugees;
