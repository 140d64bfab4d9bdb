//! Fuzzing on stable Rust: a seeded mutation loop over each target's corpus (`seeds.rs`, `mutate.rs`),
//! with every input run under `catch_unwind`, a watchdog for hangs and a counting allocator for runaway
//! allocations. `cargo test` runs it in its bounded CI mode; see README's "Reliability" for the numbers.
//!
//! A failure is: a panic (any panic that escapes the target: glassbox turns every bad input into an error),
//! an input running longer than `GLASSBOX_FUZZ_INPUT_TIMEOUT_MS` (default 5000: the slowest input of a
//! target takes milliseconds, so seconds is a hang even on a loaded CI machine), or live allocations during
//! one input beyond 64 MiB + 64 × its size (a target's legitimate memory is its output, at most a few times
//! the input for the parsers and 1 megapixel of pixels, 3 MB, for `image_decode`; the 64 MiB absorbs the
//! decoders' working buffers). The failing input is written to
//! `$CARGO_TARGET_TMPDIR/fuzz-failures/<target>/`; once the parser is fixed, it is kept under
//! `tests/fixtures/fuzz-found/<target>/`, which this driver replays first and `fuzz_found.rs` replays in
//! the normal tests.
//!
//! Environment (all optional):
//! - `GLASSBOX_FUZZ_SECONDS` (default 3): wall time per target; `GLASSBOX_FUZZ_INPUTS` instead runs exactly
//!   that many inputs per target (the long local runs: `GLASSBOX_FUZZ_INPUTS=1000000`).
//! - `GLASSBOX_FUZZ_SEED` (default 1): input `i` of target `t` is made by a generator seeded with
//!   (seed, t, i) alone, so a failure reported as "input i" reproduces with the same seed.
//! - Positional arguments (as `cargo test --test fuzz -- npy`) keep only the targets whose name contains one.

mod mutate;
mod seeds;
mod targets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mutate::Rng;
use seeds::Structure;

/// Live heap bytes, their peak since the last reset, and the limit of the input running now
/// (`usize::MAX` between inputs).
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The input running now and its target, for the reports of the watchdog and the allocator.
static CURRENT: Mutex<(String, Vec<u8>)> = Mutex::new((String::new(), Vec::new()));
/// Inputs started so far (the watchdog sees progress by it) and when the current one started.
static STARTED: AtomicU64 = AtomicU64::new(0);

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grow(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Counts `n` more live bytes; past the current input's limit the run stops here, before the system is
/// asked for memory it may not have (an allocation failure aborts the process with no word of the input).
fn grow(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
    let limit = LIMIT.load(Ordering::Relaxed);
    if live > limit {
        // Lifted first: what follows allocates.
        LIMIT.store(usize::MAX, Ordering::Relaxed);
        fatal(&format!(
            "an allocation of {n} bytes takes the input's live heap to {live} bytes, over its limit of {} bytes, at\n{}",
            limit - BASELINE.load(Ordering::Relaxed),
            std::backtrace::Backtrace::force_capture()
        ));
    }
}

/// Live bytes when the current input started.
static BASELINE: AtomicUsize = AtomicUsize::new(0);

/// Saves the current input, says why it failed, and ends the run (a hang or a runaway allocation cannot
/// be unwound from).
fn fatal(why: &str) -> ! {
    let (target, input) = CURRENT.lock().map(|c| c.clone()).unwrap_or_default();
    let saved = save_failure(&target, &input);
    let _ = writeln!(
        std::io::stderr(),
        "FUZZ FAILURE in {target}: {why}\n  input saved to {}",
        saved.display()
    );
    std::process::exit(1);
}

fn failures_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("fuzz-failures")
        .join(target)
}

fn save_failure(target: &str, input: &[u8]) -> PathBuf {
    let dir = failures_dir(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{:016x}.bin", glassbox::rng::fnv1a(input)));
    let _ = std::fs::write(&path, input);
    path
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

/// The message of the last panic (the hook keeps it instead of printing: libjpeg's errors unwind by
/// design inside the decoder and are caught there).
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// How one run ends: `Err` with the reason when the input failed.
fn run_one(target: &targets::Target, input: &[u8], index: u64) -> Result<bool, String> {
    {
        let mut current = CURRENT.lock().unwrap();
        current.0.clear();
        current.0.push_str(target.name);
        current.1.clear();
        current.1.extend_from_slice(input);
    }
    let base = LIVE.load(Ordering::Relaxed);
    BASELINE.store(base, Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    STARTED.store(index + 1, Ordering::Relaxed);
    *WATCH_START.lock().unwrap() = Some(Instant::now());
    LIMIT.store(
        base.saturating_add(alloc_bound(input.len())),
        Ordering::Relaxed,
    );
    let result = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    LIMIT.store(usize::MAX, Ordering::Relaxed);
    STARTED.store(0, Ordering::Relaxed);
    let peak = PEAK.load(Ordering::Relaxed) - base;
    MAX_PEAK.fetch_max(peak, Ordering::Relaxed);
    result.map_err(|_| format!("panic: {}", LAST_PANIC.lock().unwrap()))
}

/// 64 MiB + 64 bytes per input byte (see the module docs).
fn alloc_bound(len: usize) -> usize {
    (64 << 20) + 64 * len
}

/// The largest live-heap growth of one input in the current target.
static MAX_PEAK: AtomicUsize = AtomicUsize::new(0);
static WATCH_START: Mutex<Option<Instant>> = Mutex::new(None);

/// Ends the run when one input has run longer than `timeout`.
fn watchdog(timeout: Duration) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        let running = STARTED.load(Ordering::Relaxed);
        let since = *WATCH_START.lock().unwrap();
        if let (true, Some(since)) = (running != 0, since) {
            if since.elapsed() > timeout && STARTED.load(Ordering::Relaxed) == running {
                fatal(&format!(
                    "input {} still runs after {timeout:?} (a hang)",
                    running - 1
                ));
            }
        }
    });
}

/// The generator of input `i` of target number `t`: depends on nothing else, so inputs reproduce.
fn input_rng(seed: u64, t: usize, i: u64) -> Rng {
    let mut key = Vec::with_capacity(24);
    for v in [seed, t as u64, i] {
        key.extend_from_slice(&v.to_le_bytes());
    }
    Rng::new(glassbox::rng::fnv1a(&key))
}

/// Input `i`: a seed (or a kept failure) under a stack of 1, 2, 4 or 8 mutations.
fn make_input(rng: &mut Rng, corpus: &seeds::Corpus, extra: &[Vec<u8>]) -> Vec<u8> {
    let pool = corpus.seeds.len() + extra.len();
    let k = rng.below(pool);
    let mut data = if k < corpus.seeds.len() {
        corpus.seeds[k].clone()
    } else {
        extra[k - corpus.seeds.len()].clone()
    };
    let structured = corpus.structure != Structure::Bytes && rng.below(4) != 0;
    if structured {
        for _ in 0..1 + rng.below(3) {
            match corpus.structure {
                Structure::Json => mutate::mutate_json(rng, &mut data),
                Structure::Onnx => mutate::mutate_onnx(rng, &mut data),
                Structure::Bytes => unreachable!(),
            }
        }
    }
    // Structured mutants get byte mutations half the time (mostly they should stay parseable).
    if !structured || rng.chance(2) {
        for _ in 0..1usize << rng.below(4) {
            mutate::mutate_bytes(rng, &mut data, &corpus.seeds, corpus.tokens);
        }
    }
    data
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let seed = env_u64("GLASSBOX_FUZZ_SEED").unwrap_or(1);
    let inputs = env_u64("GLASSBOX_FUZZ_INPUTS");
    let seconds = env_u64("GLASSBOX_FUZZ_SECONDS").unwrap_or(3);
    let timeout = Duration::from_millis(env_u64("GLASSBOX_FUZZ_INPUT_TIMEOUT_MS").unwrap_or(5000));
    // Inside an input the hook keeps the message; elsewhere (the driver itself) it prints it as usual.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if STARTED.load(Ordering::Relaxed) == 0 {
            return default_hook(info);
        }
        let mut last = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner());
        *last = info.to_string();
    }));
    watchdog(timeout);

    let mut failures = 0;
    for (t, target) in targets::TARGETS.iter().enumerate() {
        if !filters.is_empty() && !filters.iter().any(|f| target.name.contains(f.as_str())) {
            continue;
        }
        MAX_PEAK.store(0, Ordering::Relaxed);
        // Replay first: every input that ever failed this target must now be refused cleanly.
        let found = targets::found_inputs(target.name);
        for (path, bytes) in &found {
            if let Err(why) = run_one(target, bytes, 0) {
                eprintln!(
                    "FUZZ FAILURE in {}: replaying {}: {why}",
                    target.name,
                    path.display()
                );
                failures += 1;
            }
        }
        let corpus = seeds::corpus(target.name);
        let extra: Vec<Vec<u8>> = found.into_iter().map(|(_, b)| b).collect();
        let start = Instant::now();
        let (mut tried, mut accepted, mut failed) = (0u64, 0u64, 0);
        loop {
            let done = match inputs {
                Some(n) => tried >= n,
                None => start.elapsed() >= Duration::from_secs(seconds),
            };
            if done || failed >= 5 {
                break;
            }
            let mut rng = input_rng(seed, t, tried);
            let input = make_input(&mut rng, &corpus, &extra);
            match run_one(target, &input, tried) {
                Ok(ok) => accepted += u64::from(ok),
                Err(why) => {
                    let saved = save_failure(target.name, &input);
                    eprintln!(
                        "FUZZ FAILURE in {}: input {tried} (seed {seed}): {why}\n  input saved to {}",
                        target.name,
                        saved.display()
                    );
                    failed += 1;
                }
            }
            tried += 1;
            if inputs.is_some() && tried.is_multiple_of(1_000_000) {
                eprintln!("  {}: {tried} inputs…", target.name);
            }
        }
        failures += failed;
        println!(
            "fuzz {:<14} {tried:>9} inputs in {:>6.1} s (seed {seed}), {accepted} accepted, {} kept failures replayed, \
             largest heap growth of one input {:.1} MiB, {failed} failures",
            target.name,
            start.elapsed().as_secs_f64(),
            extra.len(),
            MAX_PEAK.load(Ordering::Relaxed) as f64 / (1 << 20) as f64
        );
    }
    if failures > 0 {
        eprintln!(
            "{failures} fuzz failures; inputs under {}",
            failures_dir("").display()
        );
        std::process::exit(1);
    }
}
