//! Target safety (PRODUCT §4 "Targets"): sendout must not become a way to reach the network it
//! runs in. A target whose address is private, loopback, link-local, unique-local, a cloud
//! metadata service, unspecified, multicast or otherwise special (see
//! [`sendout_core::input::netclass`]) is refused unless an operator allowed its range.
//!
//! The check is made on the addresses the HTTP client actually connects to, not on the URL
//! text: [`GuardedResolver`] is the client's DNS resolver, so every connection goes through it,
//! and it refuses the whole name if *any* address it resolves to is forbidden (a name that
//! resolves to one public and one private address could otherwise be steered to the private
//! one, and DNS rebinding could swap the answer between a check and the connect). IP-literal
//! hosts never reach a resolver, so [`TargetPolicy::check_url`] checks them before sending.
//!
//! Metadata addresses (`169.254.169.254`, …) hand out credentials, so allowing a broader range
//! such as `169.254.0.0/16` does not allow them: they must be listed exactly (`/32`, `/128`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sendout_core::input::{classify_ip, AllowList, IpClass};
use url::{Host, Url};

use super::hosts::ResolvedNames;

/// Which target addresses may be connected to.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allow: AllowList,
    /// Single-address entries of the allow-list: the only way to allow a metadata address.
    exact: AllowList,
}

/// A target address that may not be connected to. Its message names the address and its kind
/// (never the URL's path or query, which may hold tokens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "target address {ip} is not allowed ({kind}); an operator can allow its range with \
     SENDOUT_ALLOWED_TARGET_RANGES",
    kind = describe(*class)
)]
pub struct Refused {
    pub ip: IpAddr,
    pub class: IpClass,
}

/// Why a target host could not be resolved.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error("the name resolved to no address")]
    NoAddress,
    #[error("the name could not be resolved: {0}")]
    Lookup(#[from] std::io::Error),
}

fn describe(class: IpClass) -> &'static str {
    match class {
        IpClass::Public => "public",
        IpClass::Loopback => "loopback",
        IpClass::Private => "private network",
        IpClass::LinkLocal => "link-local",
        IpClass::UniqueLocal => "unique local",
        IpClass::Metadata => "cloud metadata service",
        IpClass::Unspecified => "unspecified",
        IpClass::Multicast => "multicast",
        IpClass::Documentation => "documentation range",
        IpClass::CarrierGradeNat => "carrier-grade NAT",
        IpClass::Broadcast => "broadcast",
        IpClass::Reserved => "reserved range",
    }
}

impl TargetPolicy {
    /// A policy allowing public addresses and the given ranges.
    pub fn new(allowed: &[IpNet]) -> Self {
        let exact = allowed
            .iter()
            .filter(|net| net.prefix_len() == net.max_prefix_len())
            .copied()
            .collect::<Vec<_>>();
        Self {
            allow: AllowList::new(allowed.to_vec()),
            exact: AllowList::new(exact),
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let class = classify_ip(ip);
        let allowed = match class {
            IpClass::Public => true,
            IpClass::Metadata => self.exact.permits(ip),
            _ => self.allow.permits(ip),
        };
        if allowed {
            Ok(())
        } else {
            Err(Refused { ip, class })
        }
    }

    /// Checks a URL whose host is an IP literal (which the client connects to without
    /// resolving); names are checked by [`GuardedResolver`] when connecting.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        match url.host() {
            Some(Host::Ipv4(ip)) => self.check(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check(IpAddr::V6(ip)),
            Some(Host::Domain(_)) | None => Ok(()),
        }
    }

    /// Checks every address; the first forbidden one refuses them all.
    pub fn check_all(&self, addrs: &[SocketAddr]) -> Result<(), Refused> {
        addrs.iter().try_for_each(|addr| self.check(addr.ip()))
    }
}

/// The HTTP client's DNS resolver: the system resolver (through tokio), then
/// [`TargetPolicy::check_all`] on the answer; an answer that passes is remembered in
/// [`ResolvedNames`] for the worker's per-host fairness.
#[derive(Clone)]
pub struct GuardedResolver {
    policy: TargetPolicy,
    names: Arc<ResolvedNames>,
}

impl GuardedResolver {
    pub fn new(policy: TargetPolicy, names: Arc<ResolvedNames>) -> Self {
        Self { policy, names }
    }

    /// Resolves `host` and checks every address (port 0: the client sets the real one).
    pub async fn resolve_checked(
        &self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(ResolveError::Lookup)?
            .collect();
        if addrs.is_empty() {
            return Err(ResolveError::NoAddress.into());
        }
        self.policy.check_all(&addrs)?;
        self.names.learn(host, &addrs);
        Ok(addrs)
    }
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver").finish_non_exhaustive()
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolver.resolve_checked(&host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    fn nets(texts: &[&str]) -> Vec<IpNet> {
        texts
            .iter()
            .map(|t| t.parse().expect("a CIDR range"))
            .collect()
    }

    #[test]
    fn only_public_addresses_pass_by_default() {
        let policy = TargetPolicy::new(&[]);
        assert_eq!(policy.check(ip("93.184.216.34")), Ok(()));
        assert_eq!(policy.check(ip("2606:4700:4700::1111")), Ok(()));
        for (address, class) in [
            ("127.0.0.1", IpClass::Loopback),
            ("::1", IpClass::Loopback),
            ("::ffff:127.0.0.1", IpClass::Loopback),
            ("10.0.0.1", IpClass::Private),
            ("192.168.1.20", IpClass::Private),
            ("169.254.10.1", IpClass::LinkLocal),
            ("fe80::1", IpClass::LinkLocal),
            ("fd00::1", IpClass::UniqueLocal),
            ("169.254.169.254", IpClass::Metadata),
            ("0.0.0.0", IpClass::Unspecified),
            ("224.0.0.1", IpClass::Multicast),
        ] {
            assert_eq!(
                policy.check(ip(address)),
                Err(Refused {
                    ip: ip(address),
                    class
                }),
                "{address}"
            );
        }
    }

    #[test]
    fn operators_allow_ranges_but_metadata_only_exactly() {
        let policy = TargetPolicy::new(&nets(&["10.0.0.0/8", "169.254.0.0/16"]));
        assert_eq!(policy.check(ip("10.1.2.3")), Ok(()));
        assert_eq!(policy.check(ip("169.254.1.1")), Ok(()));
        assert!(policy.check(ip("169.254.169.254")).is_err());
        assert!(policy.check(ip("192.168.0.1")).is_err());

        let exact = TargetPolicy::new(&nets(&["169.254.169.254/32"]));
        assert_eq!(exact.check(ip("169.254.169.254")), Ok(()));
        assert!(exact.check(ip("169.254.1.1")).is_err());
    }

    #[test]
    fn ip_literal_urls_are_checked_and_names_are_left_to_the_resolver() {
        let policy = TargetPolicy::new(&[]);
        let url = |text: &str| Url::parse(text).expect("a URL");
        assert!(policy
            .check_url(&url("http://127.0.0.1:8080/hook"))
            .is_err());
        assert!(policy.check_url(&url("http://[::1]/hook")).is_err());
        // The URL parser turns numeric hosts into addresses, so they cannot sneak past.
        assert!(policy.check_url(&url("http://2130706433/")).is_err());
        assert!(policy.check_url(&url("http://0x7f.1/")).is_err());
        assert_eq!(policy.check_url(&url("https://example.com/hook")), Ok(()));
        assert_eq!(policy.check_url(&url("https://8.8.8.8/hook")), Ok(()));
    }

    #[test]
    fn refusals_say_what_was_refused_and_how_to_allow_it() {
        let refused = TargetPolicy::new(&[])
            .check(ip("127.0.0.1"))
            .expect_err("loopback is refused");
        let message = refused.to_string();
        assert!(message.contains("target address 127.0.0.1 is not allowed (loopback)"));
        assert!(message.contains("SENDOUT_ALLOWED_TARGET_RANGES"));
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_forbidden_address_is_refused() {
        // `localhost` resolves from the hosts file: no packet leaves the machine.
        let names = Arc::new(ResolvedNames::default());
        let resolver = GuardedResolver::new(TargetPolicy::new(&[]), names.clone());
        let error = resolver
            .resolve_checked("localhost")
            .await
            .expect_err("localhost is loopback");
        assert!(error.downcast_ref::<Refused>().is_some(), "{error}");
        assert_eq!(
            names.address_of("localhost"),
            None,
            "a refused answer is not kept"
        );

        let allowed = GuardedResolver::new(
            TargetPolicy::new(&nets(&["127.0.0.0/8", "::1/128"])),
            names.clone(),
        );
        let addrs = allowed
            .resolve_checked("localhost")
            .await
            .expect("loopback allowed");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
        // Remembered for per-host fairness: the lowest address of the answer.
        let lowest = addrs.iter().map(|a| a.ip().to_canonical()).min();
        assert_eq!(names.address_of("localhost"), lowest);
    }
}
