//! The pure domain of sendout: everything that decides *what* is sent, with no I/O, no async
//! and no SQL, so that every rule can be tested as a plain function.
//!
//! - [`ids`]: typed, time-ordered identifiers;
//! - [`catalog`]: the event catalog (types, groups, data keys, examples, distribution matrix);
//! - [`distribution`]: distributions' rules (trigger, action, condition, channels) and the
//!   body of a channel's send out;
//! - [`envelope`]: the exact body a receiver gets;
//! - [`field`]: where in an input a value was refused ([`field::FieldError`]);
//! - [`signature`]: Voucherify and Standard Webhooks signatures and their verifiers;
//! - [`retry`]: when the next attempt of a failed send out happens;
//! - [`template`]: the payload designer of distribution channels (full, attributes, custom
//!   JSON templates with `{{path}}` placeholders);
//! - [`operational`]: operational webhooks' event types and bodies;
//! - [`input`]: typed input values (target URLs, custom headers, event type names);
//! - [`time`]: the timestamp format of the API and the envelope.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod distribution;
pub mod envelope;
pub mod field;
pub mod ids;
pub mod input;
pub mod operational;
pub mod retry;
pub mod signature;
pub mod template;
pub mod time;
