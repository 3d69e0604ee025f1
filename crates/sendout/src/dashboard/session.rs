//! Dashboard sessions, kept in this process's memory, and the limit on failed sign-ins.
//!
//! Decisions (docs/OPERATIONS.md, "Dashboard"):
//! - a session is a random 256-bit token in an `HttpOnly`, `SameSite=Strict` cookie scoped to
//!   `/dashboard`; the server keeps only the token's SHA-256, with the session's CSRF token,
//!   who signed in, and when. Sessions end after [`IDLE_TIMEOUT`] without a request, after
//!   [`MAX_AGE`] in any case, on sign-out, and when the process restarts (memory only: a
//!   restart signs everyone out; several `serve` processes behind one address need sticky
//!   sessions);
//! - at most [`MAX_SESSIONS`] live at once; a new one beyond that evicts the oldest.
//!
//! Failed sign-ins are limited per client, with every API's failed keys
//! ([`crate::ops::throttle`]), so one client cannot hold off everyone else's sign-in.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sendout_store::hash_token;

use crate::ops::projects::random_token;

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(2 * 3600);
/// A session ends this long after sign-in, however busy.
pub const MAX_AGE: Duration = Duration::from_secs(12 * 3600);
/// The most sessions kept at once.
pub const MAX_SESSIONS: usize = 1000;

/// A message shown once on the next page (after a redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// `ok` or `error`: how it is shown.
    pub kind: &'static str,
    pub text: String,
}

impl Flash {
    /// A success message.
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            kind: "ok",
            text: text.into(),
        }
    }

    /// A failure message.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            kind: "error",
            text: text.into(),
        }
    }
}

#[derive(Debug)]
struct Session {
    csrf: String,
    who: String,
    created: Instant,
    last_seen: Instant,
    flash: Option<Flash>,
}

/// What a request learns about its session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The token hash, the session's key.
    pub key: String,
    /// The token every form of this session must carry.
    pub csrf: String,
    /// Who signed in, for the page header (`management key M-…` or `dashboard password`).
    pub who: String,
}

/// Every live session.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent across a panic elsewhere (every update is one insert/remove).
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sessions {
    /// Starts a session for `who`; returns the cookie token (shown to nobody else).
    pub fn create(&self, who: impl Into<String>, now: Instant) -> String {
        let token = random_token(43);
        let mut live = lock(&self.live);
        live.retain(|_, s| alive(s, now));
        if live.len() >= MAX_SESSIONS {
            let oldest = live
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                live.remove(&oldest);
            }
        }
        live.insert(
            hash_token(&token),
            Session {
                csrf: random_token(32),
                who: who.into(),
                created: now,
                last_seen: now,
                flash: None,
            },
        );
        token
    }

    /// The live session of a cookie token, marked as used now.
    pub fn get(&self, token: &str, now: Instant) -> Option<SessionInfo> {
        let key = hash_token(token);
        let mut live = lock(&self.live);
        let session = live.get_mut(&key)?;
        if !alive(session, now) {
            live.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(SessionInfo {
            csrf: session.csrf.clone(),
            who: session.who.clone(),
            key,
        })
    }

    /// Ends a session.
    pub fn remove(&self, key: &str) {
        lock(&self.live).remove(key);
    }

    /// Leaves a message for the session's next page.
    pub fn set_flash(&self, key: &str, flash: Flash) {
        if let Some(session) = lock(&self.live).get_mut(key) {
            session.flash = Some(flash);
        }
    }

    /// Takes the message left for this page, if any.
    pub fn take_flash(&self, key: &str) -> Option<Flash> {
        lock(&self.live).get_mut(key).and_then(|s| s.flash.take())
    }

    /// How many sessions are live (for tests and diagnostics).
    pub fn len(&self) -> usize {
        lock(&self.live).len()
    }

    /// Whether none is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn alive(session: &Session, now: Instant) -> bool {
    now.duration_since(session.last_seen) < IDLE_TIMEOUT
        && now.duration_since(session.created) < MAX_AGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_token_only() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let token = sessions.create("management key M-1", now);
        let info = sessions.get(&token, now).expect("live");
        assert_eq!(info.who, "management key M-1");
        assert_eq!(info.csrf.len(), 32);
        assert_ne!(info.key, token, "the server keeps only the hash");
        assert!(sessions.get("not-a-token", now).is_none());
        sessions.remove(&info.key);
        assert!(sessions.get(&token, now).is_none());
    }

    #[test]
    fn sessions_end_when_idle_or_too_old() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let idle = sessions.create("a", start);
        assert!(sessions.get(&idle, start + IDLE_TIMEOUT).is_none());

        let busy = sessions.create("b", start);
        let mut now = start;
        while now + IDLE_TIMEOUT / 2 < start + MAX_AGE {
            now += IDLE_TIMEOUT / 2;
            assert!(sessions.get(&busy, now).is_some());
        }
        assert!(sessions.get(&busy, start + MAX_AGE).is_none());
    }

    #[test]
    fn a_flash_is_shown_once() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let token = sessions.create("a", now);
        let key = sessions.get(&token, now).expect("live").key;
        sessions.set_flash(&key, Flash::ok("saved"));
        assert_eq!(sessions.take_flash(&key), Some(Flash::ok("saved")));
        assert_eq!(sessions.take_flash(&key), None);
    }

    #[test]
    fn the_oldest_session_makes_room_when_too_many_are_live() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let first = sessions.create("first", start);
        for i in 1..=MAX_SESSIONS {
            sessions.create("other", start + Duration::from_millis(i as u64));
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.get(&first, start).is_none());
    }
}
