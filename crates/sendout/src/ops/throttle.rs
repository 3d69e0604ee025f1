//! The limit on failed authentication, per client: after `auth_failure_limit` failed keys,
//! passwords or sign-ins from one client within `auth_failure_window`, that client's requests
//! are refused (API `429` with `Retry-After`, dashboard sign-in likewise) until the window
//! that started with its first failure has passed.
//!
//! Decisions (docs/SECURITY.md, docs/OPERATIONS.md "Authentication limits"):
//! - a client is its address as the socket shows it, or, when that address is one of the
//!   operator's `trusted_proxies`, the nearest address in `X-Forwarded-For` that is not a
//!   trusted proxy; an IPv6 client is its `/64` (one host usually holds a whole `/64`), and an
//!   IPv4-mapped IPv6 address is the IPv4 address;
//! - one client's failures never limit another client, so nobody can lock everyone out; a
//!   client that is limited is refused even with a right key, so the limit cannot be used to
//!   learn which guess was right;
//! - a success does not clear the count: a holder of one project's key must not be able to
//!   interleave right answers with guesses at the management key;
//! - at most [`MAX_TRACKED`] clients are remembered; when that many are, expired ones are
//!   forgotten first and then the one whose window started earliest, so memory stays bounded
//!   however many addresses an attacker uses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ipnet::IpNet;

/// The most clients whose failures are remembered at once.
pub const MAX_TRACKED: usize = 100_000;

/// Who is asking, as far as the limit is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    /// An IPv4 address, or the `/64` an IPv6 address is in.
    Addr(IpAddr),
    /// The address is not known (a request that did not come over a socket, as in some
    /// tests): such requests share one count.
    Unknown,
}

impl Client {
    /// The client of a request that came from `peer` (if known) with these forwarding
    /// headers, trusting `X-Forwarded-For` only from `trusted` proxies.
    pub fn of(peer: Option<SocketAddr>, forwarded_for: &[&str], trusted: &[IpNet]) -> Self {
        let Some(peer) = peer else {
            return Self::Unknown;
        };
        let mut client = canonical(peer.ip());
        if is_trusted(client, trusted) {
            // The nearest hop that is not one of ours; entries are appended by each proxy,
            // so read from the right.
            let hops = forwarded_for
                .iter()
                .rev()
                .flat_map(|value| value.rsplit(','))
                .map(str::trim);
            for hop in hops {
                match hop.parse::<IpAddr>() {
                    Ok(addr) => {
                        client = canonical(addr);
                        if !is_trusted(client, trusted) {
                            break;
                        }
                    }
                    // A hop we cannot read: the last trusted proxy is who we know.
                    Err(_) => break,
                }
            }
        }
        Self::Addr(prefix(client))
    }
}

fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn is_trusted(addr: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&addr))
}

fn prefix(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

/// The failed authentications of the last window, per client.
#[derive(Debug)]
pub struct AuthThrottle {
    limit: u32,
    window: Duration,
    clients: Mutex<HashMap<Client, Failures>>,
    /// How many clients are remembered, read without the lock: while none is, a request
    /// costs one atomic load.
    tracked: AtomicUsize,
}

impl AuthThrottle {
    /// At most `limit` failures per client per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            clients: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Client, Failures>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether no client's failures are remembered, so that [`Self::check`] passes
    /// everyone: callers may skip working out who the client is.
    pub fn is_idle(&self) -> bool {
        self.tracked.load(Ordering::Relaxed) == 0
    }

    /// `Err(wait)` while `client` has used up its failures; `wait` is when it may try again.
    pub fn check(&self, client: Client, now: Instant) -> Result<(), Duration> {
        if self.is_idle() {
            return Ok(());
        }
        match self.lock().get(&client) {
            Some(f) if f.count >= self.limit => {
                let waited = now.saturating_duration_since(f.since);
                match self.window.checked_sub(waited) {
                    Some(wait) if !wait.is_zero() => Err(wait),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication of `client`.
    pub fn record_failure(&self, client: Client, now: Instant) {
        let mut clients = self.lock();
        let window = self.window;
        let expired = |f: &Failures| now.saturating_duration_since(f.since) >= window;
        if !clients.contains_key(&client) && clients.len() >= MAX_TRACKED {
            clients.retain(|_, f| !expired(f));
            if clients.len() >= MAX_TRACKED {
                let oldest = clients.iter().min_by_key(|(_, f)| f.since).map(|(c, _)| *c);
                if let Some(oldest) = oldest {
                    clients.remove(&oldest);
                }
            }
        }
        let entry = clients.entry(client).or_insert(Failures {
            count: 0,
            since: now,
        });
        if expired(entry) {
            *entry = Failures {
                count: 0,
                since: now,
            };
        }
        entry.count = entry.count.saturating_add(1);
        self.tracked.store(clients.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> Client {
        Client::Addr(text.parse().expect("address"))
    }

    #[test]
    fn a_client_is_refused_after_its_failures_until_its_window_passes() {
        let throttle = AuthThrottle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        let attacker = v4("127.0.0.2");
        for i in 0..3 {
            assert!(throttle.check(attacker, start).is_ok(), "failure {i}");
            throttle.record_failure(attacker, start);
        }
        let wait = throttle.check(attacker, start).expect_err("limited");
        assert_eq!(wait, Duration::from_secs(60));
        let later = start + Duration::from_secs(45);
        assert_eq!(
            throttle.check(attacker, later).expect_err("still limited"),
            Duration::from_secs(15)
        );
        assert!(throttle
            .check(attacker, start + Duration::from_secs(60))
            .is_ok());
        // A new window starts with the next failure.
        throttle.record_failure(attacker, start + Duration::from_secs(61));
        assert!(throttle
            .check(attacker, start + Duration::from_secs(61))
            .is_ok());
    }

    #[test]
    fn one_clients_failures_never_limit_another() {
        let throttle = AuthThrottle::new(2, Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..10 {
            throttle.record_failure(v4("127.0.0.2"), now);
        }
        assert!(throttle.check(v4("127.0.0.2"), now).is_err());
        assert!(throttle.check(v4("127.0.0.3"), now).is_ok());
        assert!(throttle.check(Client::Unknown, now).is_ok());
    }

    #[test]
    fn memory_stays_bounded_however_many_clients_fail() {
        let throttle = AuthThrottle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 10) {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            throttle.record_failure(Client::Addr(addr), now);
        }
        assert_eq!(throttle.lock().len(), MAX_TRACKED);
        // The newest is remembered.
        let newest = IpAddr::V4(std::net::Ipv4Addr::from(
            0x0a00_0000 + MAX_TRACKED as u32 + 9,
        ));
        assert!(throttle.check(Client::Addr(newest), now).is_err());
    }

    #[test]
    fn clients_are_addresses_v6_by_slash_64_and_proxies_only_when_trusted() {
        let peer = |text: &str| Some(text.parse::<SocketAddr>().expect("socket address"));
        let proxies: Vec<IpNet> = vec!["127.0.0.1/32".parse().expect("net")];
        assert_eq!(Client::of(None, &[], &proxies), Client::Unknown);
        assert_eq!(Client::of(peer("127.0.0.9:1"), &[], &[]), v4("127.0.0.9"));
        assert_eq!(
            Client::of(peer("[::ffff:127.0.0.9]:1"), &[], &[]),
            v4("127.0.0.9")
        );
        assert_eq!(
            Client::of(peer("[2001:db8:1:2:3:4:5:6]:1"), &[], &[]),
            Client::Addr("2001:db8:1:2::".parse().expect("v6"))
        );
        // An untrusted peer's header is ignored.
        assert_eq!(
            Client::of(peer("127.0.0.9:1"), &["192.0.2.1"], &proxies),
            v4("127.0.0.9")
        );
        // A trusted proxy's: the nearest untrusted hop, read from the right.
        assert_eq!(
            Client::of(peer("127.0.0.1:1"), &["192.0.2.7, 192.0.2.1"], &proxies),
            v4("192.0.2.1")
        );
        let chain: Vec<IpNet> = vec![
            "127.0.0.1/32".parse().expect("net"),
            "10.0.0.0/8".parse().expect("net"),
        ];
        assert_eq!(
            Client::of(
                peer("127.0.0.1:1"),
                &["192.0.2.7", "192.0.2.1, 10.1.1.1"],
                &chain
            ),
            v4("192.0.2.1")
        );
        // Garbage stops the walk at the last proxy we know.
        assert_eq!(
            Client::of(peer("127.0.0.1:1"), &["not an address"], &proxies),
            v4("127.0.0.1")
        );
    }
}
