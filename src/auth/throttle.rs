//! The per-account sign-in throttle, kept in the database so it holds across instances.
//!
//! Five failed sign-ins in a row are free. From then on each attempt must wait a delay that
//! doubles with every further failure, from 2 seconds up to a cap of 15 minutes:
//!
//! | failures so far | 0–4 | 5 | 6 | 7 | 8  | 9  | 10 | 11  | 12  | 13  | 14+ |
//! |-----------------|-----|---|---|---|----|----|----|-----|-----|-----|-----|
//! | wait (seconds)  | 0   | 2 | 4 | 8 | 16 | 32 | 64 | 128 | 256 | 512 | 900 |
//!
//! It never locks an account for good: after the wait, one more attempt is allowed, and a
//! success resets the count. An attacker can slow a victim down by at most 15 minutes per
//! guess, never shut them out.

pub const FREE_ATTEMPTS: i32 = 5;
pub const MAX_DELAY_SECS: i64 = 900;

/// How long after the last failure the next attempt must wait.
pub fn delay_after(failures: i32) -> i64 {
    if failures < FREE_ATTEMPTS {
        return 0;
    }
    let doublings = (failures - FREE_ATTEMPTS + 1).min(20) as u32;
    (1i64 << doublings).min(MAX_DELAY_SECS)
}

/// Seconds left before the account accepts another attempt, if it must wait.
pub fn wait_secs(failures: i32, last_failure_at: Option<i64>, now: i64) -> Option<u64> {
    let until = last_failure_at? + delay_after(failures);
    (now < until).then(|| (until - now) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_doubles_from_two_seconds_to_a_fifteen_minute_cap() {
        let curve: Vec<i64> = (0..16).map(delay_after).collect();
        assert_eq!(curve, [0, 0, 0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(delay_after(i32::MAX), MAX_DELAY_SECS);
    }

    #[test]
    fn waiting_ends() {
        assert_eq!(wait_secs(5, Some(100), 101), Some(1));
        assert_eq!(wait_secs(5, Some(100), 102), None);
        assert_eq!(wait_secs(4, Some(100), 100), None);
        assert_eq!(wait_secs(9, None, 0), None);
    }
}
