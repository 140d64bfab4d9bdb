//! The `glassbox` command line: a thin shell over the library (explain, compare, dissect, report, bench).
fn main() {}
