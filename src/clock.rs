//! The clock: Unix seconds in the database, RFC 3339 in JSON bodies.

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 text for a Unix time, as every JSON body carries it.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A time as pages show it: "just now", "5 minutes ago", "3 hours ago", "yesterday",
/// "3 Nov 2026" (UTC calendar days), beside its RFC 3339 value for `<time datetime>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    pub iso: String,
    pub text: String,
}

impl Moment {
    pub fn at(unix: i64, now: i64) -> Self {
        Moment { iso: rfc3339(unix), text: for_people(unix, now) }
    }
}

pub fn for_people(unix: i64, now: i64) -> String {
    let ago = now - unix;
    let plural = |n: i64, unit: &str| if n == 1 { format!("1 {unit} ago") } else { format!("{n} {unit}s ago") };
    let day = |t: i64| t.div_euclid(86_400);
    match ago {
        // A few minutes ahead is clock skew between instances, not the future.
        -300..=59 => "just now".into(),
        60..=3599 => plural(ago / 60, "minute"),
        _ if ago > 0 && day(unix) == day(now) => plural(ago / 3600, "hour"),
        _ if ago > 0 && day(unix) == day(now) - 1 => "yesterday".into(),
        _ => time::OffsetDateTime::from_unix_timestamp(unix)
            .ok()
            .and_then(|t| {
                t.format(time::macros::format_description!("[day padding:none] [month repr:short] [year]")).ok()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::for_people;

    #[test]
    fn times_for_people() {
        // 2026-11-03 12:00:00 UTC
        let noon = 1_793_707_200;
        assert_eq!(for_people(noon, noon + 5), "just now");
        assert_eq!(for_people(noon + 120, noon), "just now", "two minutes of clock skew");
        assert_eq!(for_people(noon, noon + 60), "1 minute ago");
        assert_eq!(for_people(noon, noon + 5 * 60 + 30), "5 minutes ago");
        assert_eq!(for_people(noon, noon + 3 * 3600), "3 hours ago");
        assert_eq!(for_people(noon, noon + 24 * 3600), "yesterday");
        assert_eq!(for_people(noon, noon + 13 * 3600), "yesterday", "after midnight, noon was yesterday");
        assert_eq!(for_people(noon, noon + 3 * 86_400), "3 Nov 2026");
        assert_eq!(for_people(noon + 86_400 * 2, noon), "5 Nov 2026", "a future day is a date");
    }
}
