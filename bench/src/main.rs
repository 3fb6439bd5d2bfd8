//! `crisisgraph-bench`: see docs/benchmarks.md.

fn main() {
    eprintln!("usage: see docs/benchmarks.md");
}
