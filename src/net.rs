//! Requester addresses: IP ranges and the X-Forwarded-For rule.
use std::net::IpAddr;
use std::str::FromStr;

/// An IP address or CIDR block from `TRUSTED_PROXIES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for IpRange {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| ())?)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| ())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(());
        }
        Ok(IpRange { network, prefix })
    }
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n) as u128, self.prefix, 32) == masked(u32::from(a) as u128, self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let shift = width - prefix;
    (bits >> shift) << shift
}

/// IPv4-mapped IPv6 addresses (dual-stack sockets) compare as the IPv4 address they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Every `X-Forwarded-For` line of a request, in order, as one comma-separated list (RFC 9110
/// §5.3: repeated lines are one list). A proxy that appends its own line must not be outvoted
/// by a line the client wrote first. A line that is not text becomes an unparsable hop.
pub fn forwarded_for(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    let lines: Vec<String> = headers
        .get_all("x-forwarded-for")
        .map(|v| v.to_str().map(str::to_string).unwrap_or_else(|_| "unreadable".into()))
        .collect();
    (!lines.is_empty()).then(|| lines.join(","))
}

/// What per-IP limits count against: an IPv4 address, or the /64 of an IPv6 one (a single
/// subscriber usually holds a whole /64, so per-address keys would be free for the asking).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &[IpRange]) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let Some(header) = forwarded_for else { return Some(peer) };
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(client) {
                    break;
                }
            }
            // An unparsable hop ends what we can believe; the last believable one stands.
            Err(_) => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(s: &str) -> Vec<IpRange> {
        s.split(',').map(|r| r.parse().unwrap()).collect()
    }

    #[test]
    fn untrusted_peer_header_is_ignored() {
        let ip = client_ip(Some("203.0.113.9".parse().unwrap()), Some("1.2.3.4"), &ranges("10.0.0.0/8"));
        assert_eq!(ip, Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn trusted_peer_yields_rightmost_untrusted_hop() {
        let ip = client_ip(
            Some("10.0.0.2".parse().unwrap()),
            Some("6.6.6.6, 198.51.100.7, 10.0.0.5"),
            &ranges("10.0.0.0/8"),
        );
        assert_eq!(ip, Some("198.51.100.7".parse().unwrap()));
    }

    #[test]
    fn ipv6_keys_are_the_64_prefix_and_ipv4_keys_the_address() {
        let key = |s: &str| limit_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:3"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
        assert_eq!(key("::ffff:192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn repeated_forwarded_for_lines_are_one_list_in_order() {
        use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
        let mut headers = HeaderMap::new();
        let name = HeaderName::from_static("x-forwarded-for");
        headers.append(name.clone(), HeaderValue::from_static("6.6.6.6"));
        headers.append(name, HeaderValue::from_static("203.0.113.7, 10.0.0.5"));
        let list = forwarded_for(&headers).unwrap();
        assert_eq!(list, "6.6.6.6,203.0.113.7, 10.0.0.5");
        let ip = client_ip(Some("10.0.0.2".parse().unwrap()), Some(&list), &ranges("10.0.0.0/8"));
        assert_eq!(ip, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(forwarded_for(&HeaderMap::new()), None);
    }

    #[test]
    fn cidr_matching_respects_the_prefix() {
        let r: IpRange = "192.168.1.0/24".parse().unwrap();
        assert!(r.contains("192.168.1.77".parse().unwrap()));
        assert!(!r.contains("192.168.2.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
    }
}
