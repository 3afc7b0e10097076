//! Where a request comes from: client address, User-Agent, device token.

use crate::cookies;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use tessera_core::service::RequestContext;

/// Where the request came from.
pub struct Client(pub RequestContext);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| {
            // A value that is not text cannot be an address: it stands
            // in the walk as garbage, which ends it.
            let forwarded: Vec<&str> = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .map(|v| v.to_str().unwrap_or(""))
                .collect();
            client_ip(c.0.ip(), &forwarded, &state.web.trusted_proxies).to_string()
        });
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // A browser's device token; mobile clients send theirs in the
        // sign-in body instead.
        let device_token = CookieJar::from_headers(&parts.headers)
            .get(&cookies::name(&state.web, cookies::DEVICE))
            .map(|c| c.value().to_string());
        Ok(Client(RequestContext {
            ip,
            user_agent,
            device_token,
        }))
    }
}

/// The client's address, given the TCP `peer`, the `X-Forwarded-For`
/// header values in the order received, and the proxies we trust.
///
/// Only a trusted proxy may speak for the client. Each proxy appends the
/// address it received from, so the list is read from the right: trusted
/// hops are skipped and the first untrusted one is the client. Everything
/// left of it was written by that client and may be forged. A hop that is
/// not an address ends the walk at the last trusted hop, since whoever
/// wrote it cannot be vouched for either.
pub(crate) fn client_ip(peer: IpAddr, forwarded: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let mut last_trusted = peer;
    for hop in forwarded.iter().flat_map(|v| v.split(',')).rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            return last_trusted;
        };
        let ip = ip.to_canonical();
        if !is_trusted(&ip) {
            return ip;
        }
        last_trusted = ip;
    }
    // Every hop is a proxy of ours: the left-most is the nearest we know.
    last_trusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PROXIES: &[&str] = &["10.0.0.0/8", "127.0.0.1/32"];

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let got = client_ip(ip("203.0.113.9"), &["198.51.100.1"], &nets(PROXIES));
        assert_eq!(got, ip("203.0.113.9"));
        // With no proxies configured, nobody is trusted.
        let got = client_ip(ip("127.0.0.1"), &["198.51.100.1"], &[]);
        assert_eq!(got, ip("127.0.0.1"));
    }

    #[test]
    fn a_spoofed_left_most_entry_is_ignored() {
        // The client sent "X-Forwarded-For: 1.1.1.1"; our proxy appended
        // the address it really saw.
        let got = client_ip(ip("127.0.0.1"), &["1.1.1.1, 203.0.113.7"], &nets(PROXIES));
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn trusted_hops_are_skipped_across_headers() {
        let got = client_ip(
            ip("10.0.0.1"),
            &["1.1.1.1, 203.0.113.7, 10.0.0.3", "10.1.2.3"],
            &nets(PROXIES),
        );
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn all_trusted_means_the_left_most_and_no_header_means_the_peer() {
        let got = client_ip(ip("10.0.0.1"), &["10.9.9.9, 10.0.0.2"], &nets(PROXIES));
        assert_eq!(got, ip("10.9.9.9"));
        let got = client_ip(ip("10.0.0.1"), &[], &nets(PROXIES));
        assert_eq!(got, ip("10.0.0.1"));
    }

    #[test]
    fn garbage_ends_the_walk_at_the_last_trusted_hop() {
        let got = client_ip(
            ip("127.0.0.1"),
            &["1.1.1.1, not-an-ip, 10.0.0.4"],
            &nets(PROXIES),
        );
        assert_eq!(got, ip("10.0.0.4"));
        // Right at the end: the peer itself.
        let got = client_ip(ip("127.0.0.1"), &["1.1.1.1, unknown"], &nets(PROXIES));
        assert_eq!(got, ip("127.0.0.1"));
        // A port is not an address either.
        let got = client_ip(ip("127.0.0.1"), &["203.0.113.7:4000"], &nets(PROXIES));
        assert_eq!(got, ip("127.0.0.1"));
        // An empty or non-text header value likewise.
        let got = client_ip(ip("127.0.0.1"), &["1.1.1.1", ""], &nets(PROXIES));
        assert_eq!(got, ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_hops_and_mapped_peers() {
        let trusted = nets(&["fd00::/8", "127.0.0.1/32"]);
        let got = client_ip(
            ip("fd00::1"),
            &["2001:db8::bad, 2001:db8::1, fd00::2"],
            &trusted,
        );
        assert_eq!(got, ip("2001:db8::1"));
        // A v4 proxy reaching a dual-stack listener shows up v4-mapped.
        let got = client_ip(ip("::ffff:127.0.0.1"), &["[::1]", "192.0.2.5"], &trusted);
        assert_eq!(got, ip("192.0.2.5"));
    }
}
