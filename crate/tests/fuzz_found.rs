//! Every input that once failed a fuzz target (`tests/fixtures/fuzz-found/<target>/`) is now read or
//! refused cleanly: no panic, and quickly. The fuzz driver (`tests/fuzz/main.rs`) replays them too, with its
//! allocation bound; this is the replay among the normal tests.

#[path = "fuzz/targets.rs"]
mod targets;

use std::time::{Duration, Instant};

#[test]
fn every_fuzz_found_input_is_refused_or_read_cleanly() {
    let mut replayed = 0;
    for target in targets::TARGETS {
        for (path, bytes) in targets::found_inputs(target.name) {
            let start = Instant::now();
            let _accepted = (target.run)(&bytes);
            let took = start.elapsed();
            println!("{}: {} ({took:?})", target.name, path.display());
            assert!(
                took < Duration::from_secs(10),
                "{}: {} took {took:?}",
                target.name,
                path.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed > 0, "tests/fixtures/fuzz-found/ holds no input");
}
