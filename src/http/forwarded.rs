//! The client's address behind trusted reverse proxies (`--trusted-proxy`).
//!
//! When the peer of a connection is a trusted proxy, the client is the rightmost address of
//! `X-Forwarded-For` that is not itself a trusted proxy: each proxy appends the address it was
//! called from, so everything to the left of the first untrusted hop was written by a client and
//! proves nothing. Otherwise the client is the peer, whatever the header says. The address is the
//! key of an anonymous reader's rate limit and sockets, and is logged with each request.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The client's address: `peer` unless it is trusted, else the rightmost untrusted address of
/// `forwarded_for` (the values of every `X-Forwarded-For` header, in order). When every address
/// is trusted, the leftmost one; an entry that is not an address ends the walk at the hop before
/// it.
pub fn client<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded_for.rev().flat_map(|value| value.rsplit(',')) {
        let Some(address) = parse(entry.trim()) else {
            break;
        };
        client = address;
        if !is_trusted(&address) {
            break;
        }
    }
    client
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, or either with a
/// port.
fn parse(entry: &str) -> Option<IpAddr> {
    let address = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::client;
    use crate::config::trusted_proxy as proxy;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn of(peer: &str, headers: &[&str], trusted: &[&str]) -> IpAddr {
        let trusted: Vec<_> = trusted.iter().map(|t| proxy(t).expect("a proxy")).collect();
        client(ip(peer), headers.iter().copied(), &trusted)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(of("203.0.113.9", &["198.51.100.1"], &[]), ip("203.0.113.9"));
        assert_eq!(
            of("203.0.113.9", &["198.51.100.1"], &["10.0.0.0/8"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_address_is_the_client() {
        let trusted = ["10.0.0.0/8", "192.0.2.7"];
        // One proxy.
        assert_eq!(
            of("10.0.0.2", &["198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // Two proxies; what the client itself wrote on the left is ignored.
        assert_eq!(
            of("10.0.0.2", &["1.1.1.1, 198.51.100.1, 192.0.2.7"], &trusted),
            ip("198.51.100.1")
        );
        // Several headers are one list, in order.
        assert_eq!(
            of("10.0.0.2", &["1.1.1.1", "198.51.100.1,10.1.1.1"], &trusted),
            ip("198.51.100.1")
        );
        // Ports, brackets and IPv4-mapped addresses.
        assert_eq!(
            of("10.0.0.2", &["198.51.100.1:4711"], &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            of("10.0.0.2", &["[2001:db8::1]:443"], &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            of("10.0.0.2", &["[2001:db8::1]"], &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            of("::ffff:10.0.0.2", &["198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn without_an_untrusted_address_the_last_good_hop_is_the_client() {
        let trusted = ["10.0.0.0/8"];
        // No header: the proxy itself.
        assert_eq!(of("10.0.0.2", &[], &trusted), ip("10.0.0.2"));
        // Only proxies: the leftmost.
        assert_eq!(
            of("10.0.0.2", &["10.0.0.5, 10.0.0.4"], &trusted),
            ip("10.0.0.5")
        );
        // Garbage stops the walk at the hop that forwarded it.
        assert_eq!(
            of("10.0.0.2", &["1.1.1.1, unknown, 10.0.0.4"], &trusted),
            ip("10.0.0.4")
        );
        assert_eq!(of("10.0.0.2", &[""], &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn a_proxy_is_a_block_or_an_address() {
        assert!(proxy("10.0.0.0/8").is_ok());
        assert!(proxy("::1").is_ok());
        assert!(proxy("fd00::/8").is_ok());
        assert!(proxy("10.0.0.0/33").is_err());
        assert!(proxy("proxy.local").is_err());
    }
}
