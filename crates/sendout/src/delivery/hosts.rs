//! Per-host fairness for the worker: at most `per_host` attempts to one host at once, with a
//! queue per host, so that one slow host never holds up the claims of another.
//!
//! "Host" means the machine the target URL names: its host without the port, lowercase, and
//! an IP address in one spelling (an IPv4-mapped IPv6 address is its IPv4 address). Eight
//! ports of one machine are one host, so a tenant cannot multiply its share of the slots by
//! listening on more ports (issue 16 item 3). A name is keyed by the address it resolved to
//! when the client last connected to it ([`ResolvedNames`], filled by the client's own
//! resolver), so two names of one machine are one host too, from their first connection on.
//! The worker never resolves a name itself: it places claims one after another in its one
//! loop, and a target's slow resolver (the tenant's to choose) would hold up every placement.
//! Until a name's first connection it is a host of its own. What bounds a tenant whatever its
//! names is the per-project limit (`delivery_concurrency_per_project`, see [`super::worker`]):
//! however many hosts a project's targets name, its attempts together hold at most that many
//! of the worker's slots.
//!
//! Waiting claims hold a lease and a share of the worker's capacity, and the store cannot be
//! asked for "due send outs, except those of host X". So a host's queue only takes a claim
//! expected to start within `budget` (from the host's measured attempt durations; one round of
//! `per_host` claims while a host is not measured yet); a claim that would wait longer is
//! deferred (given back to the store, due again when the host should have room) instead of
//! piling up behind a slow host while other hosts' work waits. A fast host's queue can fill the
//! worker, as it drains quickly; a host timing out holds about `2 × per_host` claims. A queued
//! claim that waited past `budget` anyway (the estimate was wrong) is released rather than
//! started, so no attempt outlives its lease. Pure bookkeeping: no I/O, no clock of its own.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

/// A host whose attempts take at most this long on average is quick: the worker lends its
/// slots beyond a project's share (see [`super::worker`]), since they are free again soon.
pub const QUICK_HOST: Duration = Duration::from_millis(100);

/// The shortest deferral: long enough not to claim the same send out again at once.
const MIN_DEFER: Duration = Duration::from_millis(250);

/// The most names [`ResolvedNames`] remembers; past it, it starts again from empty (the
/// names in use are learned back at their next connection).
const MAX_RESOLVED_NAMES: usize = 10_000;

/// The fairness key of a target URL: the machine it names, whatever the port (see the module
/// docs); a name the client has resolved is keyed by its address.
pub fn host_key(target_url: &str, names: &ResolvedNames) -> String {
    match Url::parse(target_url).as_ref().map(Url::host) {
        Ok(Some(url::Host::Domain(name))) => match names.address_of(name) {
            Some(ip) => address_key(ip),
            None => name.to_owned(),
        },
        Ok(Some(url::Host::Ipv4(v4))) => address_key(IpAddr::V4(v4)),
        Ok(Some(url::Host::Ipv6(v6))) => address_key(IpAddr::V6(v6)),
        Ok(None) | Err(_) => target_url.to_owned(),
    }
}

/// An address in one spelling: an IPv4-mapped IPv6 address is its IPv4 address.
fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The address each target name resolved to at the client's last connection to it (the
/// lowest, in canonical form, when it resolved to several, so that names with the same
/// answer agree), shared by the client's resolver, which writes it, and the worker, which
/// reads it. Bounded by [`MAX_RESOLVED_NAMES`].
#[derive(Debug, Default)]
pub struct ResolvedNames {
    names: Mutex<HashMap<String, IpAddr>>,
}

impl ResolvedNames {
    /// Remembers what `name` resolved to (nothing for an empty answer).
    pub fn learn(&self, name: &str, addrs: &[SocketAddr]) {
        let Some(lowest) = addrs.iter().map(|a| a.ip().to_canonical()).min() else {
            return;
        };
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.len() >= MAX_RESOLVED_NAMES && !names.contains_key(name) {
            names.clear();
        }
        names.insert(name.to_ascii_lowercase(), lowest);
    }

    /// The address `name` resolved to last, if it was resolved.
    pub fn address_of(&self, name: &str) -> Option<IpAddr> {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names.get(name).copied()
    }
}

/// Where a claim (any `T`; the worker's are [`sendout_store::Claim`]s) goes.
#[derive(Debug)]
pub enum Placement<T> {
    /// Start the attempt now.
    Start(T),
    /// Queued behind the host's running attempts.
    Queued,
    /// The host is saturated: give the claim back, due again after this long.
    Defer(T, Duration),
}

/// What to do when an attempt of a host ended.
#[derive(Debug)]
pub struct Finished<T> {
    /// The next queued claim of that host, to start now.
    pub start: Option<T>,
    /// Queued claims that waited too long: release them without an attempt.
    pub stale: Vec<T>,
}

#[derive(Debug)]
struct Host<T> {
    running: usize,
    waiting: VecDeque<(T, Instant)>,
    /// Moving average of attempt durations, in milliseconds; unknown before the first.
    average_ms: Option<f64>,
}

/// The hosts with work in this worker.
#[derive(Debug)]
pub struct Hosts<T> {
    per_host: usize,
    budget: Duration,
    hosts: HashMap<String, Host<T>>,
    queued: usize,
}

impl<T> Hosts<T> {
    /// `per_host` attempts at once per host; a claim may wait at most `budget` for its host.
    pub fn new(per_host: usize, budget: Duration) -> Self {
        Self {
            per_host: per_host.max(1),
            budget,
            hosts: HashMap::new(),
            queued: 0,
        }
    }

    /// How many claims wait for their host.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Whether `key`'s host is measured and its attempts take at most [`QUICK_HOST`] on
    /// average (a host not measured yet, or no longer in this worker, is not quick).
    pub fn is_quick(&self, key: &str) -> bool {
        self.hosts
            .get(key)
            .and_then(|host| host.average_ms)
            .is_some_and(|ms| ms <= QUICK_HOST.as_secs_f64() * 1e3)
    }

    /// Places a new claim of `key`'s host.
    pub fn place(&mut self, key: &str, claim: T, now: Instant) -> Placement<T> {
        let host = self.hosts.entry(key.to_owned()).or_insert_with(|| Host {
            running: 0,
            waiting: VecDeque::new(),
            average_ms: None,
        });
        if host.running < self.per_host {
            host.running += 1;
            return Placement::Start(claim);
        }
        let position = host.waiting.len() + 1;
        let fits = match host.average_ms {
            // Not measured yet: one round of waiting claims, until the first replies tell
            // whether this host is fast (its queue may then grow) or slow.
            None => position <= self.per_host,
            Some(ms) => {
                let wait =
                    Duration::from_secs_f64(ms * position as f64 / self.per_host as f64 / 1e3);
                if wait > self.budget {
                    return Placement::Defer(
                        claim,
                        wait.clamp(MIN_DEFER, (self.budget * 4).max(MIN_DEFER)),
                    );
                }
                true
            }
        };
        if !fits {
            return Placement::Defer(claim, MIN_DEFER);
        }
        host.waiting.push_back((claim, now));
        self.queued += 1;
        Placement::Queued
    }

    /// Records the end of an attempt of `key`'s host that took `took`, and picks the next.
    pub fn finished(&mut self, key: &str, took: Duration, now: Instant) -> Finished<T> {
        let mut finished = Finished {
            start: None,
            stale: Vec::new(),
        };
        let Some(host) = self.hosts.get_mut(key) else {
            return finished;
        };
        let ms = took.as_secs_f64() * 1e3;
        host.average_ms = Some(match host.average_ms {
            Some(average) => average * 0.8 + ms * 0.2,
            None => ms,
        });
        host.running = host.running.saturating_sub(1);
        while let Some((claim, since)) = host.waiting.pop_front() {
            self.queued -= 1;
            if now.saturating_duration_since(since) > self.budget {
                finished.stale.push(claim);
            } else {
                host.running += 1;
                finished.start = Some(claim);
                break;
            }
        }
        if host.running == 0 && host.waiting.is_empty() {
            self.hosts.remove(key);
        }
        finished
    }

    /// Takes every queued claim out (shutdown: they are released, not attempted).
    pub fn drain(&mut self) -> Vec<T> {
        self.queued = 0;
        self.hosts
            .values_mut()
            .flat_map(|host| host.waiting.drain(..).map(|(claim, _)| claim))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_host_key_is_the_machine_whatever_the_port() {
        let names = ResolvedNames::default();
        let key = |url| host_key(url, &names);
        assert_eq!(key("https://Hooks.Example.com/a?b"), "hooks.example.com");
        assert_eq!(key("http://127.0.0.1:8080/x"), "127.0.0.1");
        assert_eq!(key("http://127.0.0.1:8081/y"), "127.0.0.1");
        assert_eq!(key("http://[::1]:9/x"), "[::1]");
        assert_eq!(key("http://[::ffff:127.0.0.1]:9/x"), "127.0.0.1");
    }

    #[test]
    fn a_resolved_name_is_keyed_by_its_address() {
        let names = ResolvedNames::default();
        let addr = |text: &str| text.parse::<SocketAddr>().expect("an address");
        names.learn("hooks.example.com", &[addr("203.0.113.9:0")]);
        // Several addresses: the lowest, in one spelling, whatever the order of the answer.
        names.learn(
            "other.example.net",
            &[addr("[2001:db8::1]:0"), addr("[::ffff:203.0.113.9]:0")],
        );
        let key = |url| host_key(url, &names);
        assert_eq!(key("https://Hooks.Example.com:8443/a"), "203.0.113.9");
        assert_eq!(key("https://other.example.net/b"), "203.0.113.9");
        assert_eq!(key("https://203.0.113.9/c"), "203.0.113.9");
        assert_eq!(
            key("https://unresolved.example.org/d"),
            "unresolved.example.org"
        );
        // A new answer replaces the old one.
        names.learn("hooks.example.com", &[addr("198.51.100.4:0")]);
        assert_eq!(key("https://hooks.example.com/a"), "198.51.100.4");
    }

    #[test]
    fn the_resolved_names_are_bounded() {
        let names = ResolvedNames::default();
        let answer = ["192.0.2.1:0".parse::<SocketAddr>().expect("an address")];
        for i in 0..=MAX_RESOLVED_NAMES {
            names.learn(&format!("n{i}.example.com"), &answer);
        }
        let held = names.names.lock().expect("not poisoned").len();
        assert!(held <= MAX_RESOLVED_NAMES, "{held} names held");
        assert!(names
            .address_of(&format!("n{MAX_RESOLVED_NAMES}.example.com"))
            .is_some());
    }

    #[test]
    fn a_busy_host_queues_its_own_claims_without_holding_up_another() {
        let now = Instant::now();
        let mut hosts = Hosts::new(2, 10 * SECOND);
        assert!(matches!(
            hosts.place("slow:80", 1, now),
            Placement::Start(1)
        ));
        assert!(matches!(
            hosts.place("slow:80", 2, now),
            Placement::Start(2)
        ));
        assert!(matches!(hosts.place("slow:80", 3, now), Placement::Queued));
        assert!(matches!(
            hosts.place("fast:80", 4, now),
            Placement::Start(4)
        ));
        assert_eq!(hosts.queued(), 1);

        let done = hosts.finished("slow:80", SECOND, now);
        assert_eq!(done.start, Some(3));
        assert!(done.stale.is_empty());
        assert_eq!(hosts.queued(), 0);
    }

    #[test]
    fn a_host_is_quick_once_measured_so() {
        let now = Instant::now();
        let mut hosts = Hosts::new(4, 10 * SECOND);
        assert!(!hosts.is_quick("h"), "an unknown host is not quick");
        assert!(matches!(hosts.place("h", 1, now), Placement::Start(1)));
        assert!(matches!(hosts.place("h", 2, now), Placement::Start(2)));
        assert!(!hosts.is_quick("h"), "an unmeasured host is not quick");
        let _ = hosts.finished("h", Duration::from_millis(5), now);
        assert!(hosts.is_quick("h"));
        // Slow attempts bring the average past the bound.
        assert!(matches!(hosts.place("h", 3, now), Placement::Start(3)));
        let _ = hosts.finished("h", 3 * SECOND, now);
        assert!(!hosts.is_quick("h"));
    }

    /// A lease no longer than the delivery timeout leaves no budget; deferring must still
    /// work rather than panic in `clamp` (which once stopped the worker for good).
    #[test]
    fn a_zero_budget_defers_instead_of_panicking() {
        let now = Instant::now();
        let mut hosts = Hosts::new(1, Duration::ZERO);
        assert!(matches!(
            hosts.place("slow:80", 1, now),
            Placement::Start(1)
        ));
        let _ = hosts.finished("slow:80", 6 * SECOND, now);
        let _ = hosts.place("slow:80", 2, now);
        let deferred = (3..6).any(|claim| {
            matches!(hosts.place("slow:80", claim, now), Placement::Defer(_, wait) if wait >= MIN_DEFER)
        });
        assert!(deferred);
    }

    #[test]
    fn a_claim_that_would_wait_past_the_budget_is_deferred() {
        let now = Instant::now();
        let mut hosts = Hosts::new(1, 10 * SECOND);
        assert!(matches!(
            hosts.place("slow:80", 1, now),
            Placement::Start(1)
        ));
        assert!(matches!(hosts.place("slow:80", 2, now), Placement::Queued));
        // Each attempt of this host takes 6 s: the third claim would wait about 12 s.
        let done = hosts.finished("slow:80", 6 * SECOND, now);
        assert_eq!(done.start, Some(2));
        assert!(matches!(hosts.place("slow:80", 3, now), Placement::Queued));
        match hosts.place("slow:80", 4, now) {
            Placement::Defer(4, after) => assert!(after >= 10 * SECOND),
            other => panic!("expected a deferral, got {other:?}"),
        }
    }

    #[test]
    fn an_unmeasured_host_queues_one_round_then_defers_briefly() {
        let now = Instant::now();
        let mut hosts = Hosts::new(2, 10 * SECOND);
        for claim in [1, 2] {
            assert!(matches!(
                hosts.place("new:80", claim, now),
                Placement::Start(_)
            ));
        }
        for claim in [3, 4] {
            assert!(matches!(
                hosts.place("new:80", claim, now),
                Placement::Queued
            ));
        }
        assert!(matches!(
            hosts.place("new:80", 5, now),
            Placement::Defer(5, MIN_DEFER)
        ));
    }

    #[test]
    fn claims_queued_too_long_are_released_and_drain_empties_the_queues() {
        let now = Instant::now();
        let mut hosts = Hosts::new(1, 10 * SECOND);
        assert!(matches!(hosts.place("h:80", 1, now), Placement::Start(1)));
        assert!(matches!(hosts.place("h:80", 2, now), Placement::Queued));
        assert_eq!(hosts.finished("h:80", SECOND, now).start, Some(2));
        assert!(matches!(hosts.place("h:80", 3, now), Placement::Queued));
        assert!(matches!(
            hosts.place("h:80", 4, now + 9 * SECOND),
            Placement::Queued
        ));
        let done = hosts.finished("h:80", SECOND, now + 11 * SECOND);
        assert_eq!(done.stale, vec![3]);
        assert_eq!(done.start, Some(4));

        assert!(matches!(hosts.place("h:80", 5, now), Placement::Queued));
        assert_eq!(hosts.drain(), vec![5]);
        assert_eq!(hosts.queued(), 0);
    }
}
