//! The benchmark's bound on sign-ins: one bcrypt verify at a cost, timed with the crate the
//! server uses. `cargo run --release --example bcrypt_bound -- 12` prints milliseconds per
//! verify (the median of a few); cores ÷ that is the most sign-ins per second a machine can do.
use std::time::Instant;

fn main() {
    let cost = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(bcrypt::DEFAULT_COST);
    let hash = bcrypt::hash("a bench passphrase 42", cost).expect("bcrypt hashes");
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            assert!(bcrypt::verify("a bench passphrase 42", &hash).expect("bcrypt verifies"));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("{:.2}", times[times.len() / 2]);
}
