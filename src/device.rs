//! A user agent in words for people deciding whether a session is theirs: "Chrome 131 on
//! macOS", "Safari on iPhone", "curl", "Googlebot (bot)", "Unknown device". The parsing is
//! woothee's (its dataset, not a table of ours); only the wording is here.
use woothee::parser::Parser;

const UNKNOWN: &str = "UNKNOWN";

pub fn describe(user_agent: &str) -> String {
    let user_agent = user_agent.trim();
    if user_agent.is_empty() {
        return "Unknown device".into();
    }
    let Some(parsed) = Parser::new().parse(user_agent) else {
        return "Unknown device".into();
    };
    if parsed.category == "crawler" {
        return format!("{} (bot)", parsed.name);
    }
    // woothee files command-line clients under "HTTP Library" with the tool as the version.
    if parsed.name == "HTTP Library" {
        return if parsed.version == UNKNOWN { "HTTP client".into() } else { parsed.version.to_string() };
    }
    let browser = match parsed.name {
        UNKNOWN => None,
        // Safari's version is not what people know it by; the others' major version is.
        "Safari" => Some("Safari".to_string()),
        name => Some(match major(parsed.version) {
            Some(major) => format!("{name} {major}"),
            None => name.to_string(),
        }),
    };
    let os = match parsed.os {
        UNKNOWN => None,
        "Mac OSX" => Some("macOS"),
        os if os.starts_with("Windows") && os != "Windows Phone OS" => Some("Windows"),
        "Windows Phone OS" => Some("Windows Phone"),
        os => Some(os),
    };
    match (browser, os) {
        (Some(browser), Some(os)) => format!("{browser} on {os}"),
        (Some(browser), None) => browser,
        (None, Some(os)) => format!("A browser on {os}"),
        (None, None) => "Unknown device".into(),
    }
}

fn major(version: &str) -> Option<&str> {
    let major = version.split('.').next()?;
    (!major.is_empty() && major.bytes().all(|b| b.is_ascii_digit())).then_some(major)
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn common_browsers_and_a_bot_in_words() {
        let cases = [
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome 131 on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox 133 on Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge 131 on Windows",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome 131 on Android",
            ),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox 128 on Linux"),
            ("curl/8.5.0", "curl"),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot (bot)"),
            ("", "Unknown device"),
            ("\u{1}garbage\u{7f}", "Unknown device"),
        ];
        for (user_agent, expected) in cases {
            assert_eq!(describe(user_agent), expected, "{user_agent}");
        }
    }
}
