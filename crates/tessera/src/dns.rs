//! TXT lookups for domain verification, with hickory's resolver over
//! tokio: the name servers of `dns.nameservers` (`ip` or `ip:port`), or
//! the system's (`/etc/resolv.conf`) when that is unset. Nothing is
//! cached, so an admin who just published a record sees it on the next try.

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use std::net::SocketAddr;
use std::time::Duration;
use tessera_core::org::{DnsError, TxtLookup};

pub struct Dns {
    resolver: TokioResolver,
}

/// Parses one `dns.nameservers` entry: an IP address, or address and port
/// (`192.0.2.53`, `127.0.0.1:5353`, `[2001:db8::53]:53`).
pub fn parse_nameserver(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    raw.parse::<SocketAddr>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| {
            format!("dns.nameservers: {raw:?} is not an IP address or address:port, e.g. 192.0.2.53 or 127.0.0.1:5353")
        })
}

impl Dns {
    /// A resolver for `nameservers`, or the system's when empty.
    pub fn new(nameservers: &[SocketAddr]) -> anyhow::Result<Dns> {
        let mut builder = if nameservers.is_empty() {
            TokioResolver::builder_tokio()?
        } else {
            let servers = nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let opts = builder.options_mut();
        opts.cache_size = 0;
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        Ok(Dns {
            resolver: builder.build()?,
        })
    }
}

#[async_trait::async_trait]
impl TxtLookup for Dns {
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        // Fully qualified: no search domains appended.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.txt_lookup(fqdn).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(txt.to_string()),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Err(DnsError::NoRecords),
            Err(e) => Err(DnsError::Failed(e.to_string())),
        }
    }
}
