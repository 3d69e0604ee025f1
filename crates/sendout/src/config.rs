//! Configuration: the documented defaults embedded in the binary (`config.default.toml`),
//! then a config file, then `SENDOUT_*` environment variables, then the command line's flags
//! (only `--database-url`), each layer overriding the one before. Values are parsed once here into typed fields, so the rest of the program never
//! sees a string it must interpret. Secrets are wrapped in [`Secret`], whose `Debug` redacts.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::Figment;
use ipnet::IpNet;
use sendout_core::distribution::{Limits as DistributionLimits, MAX_CHANNELS};
use sendout_core::retry::RetryPolicy;
use sendout_core::template::MAX_TEMPLATE_BYTES;
use sendout_store::fanout::Limits as FanOutLimits;
use serde::{Deserialize, Deserializer};

mod notices;
mod operational;
pub use notices::{Notices, Smtp};
pub use operational::{safe_target, Operational, OperatorEndpoint};

/// The defaults, also shown by `sendout config --defaults`.
pub const DEFAULTS: &str = include_str!("../config.default.toml");

/// A value that must never appear in logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(empty)")
        } else {
            f.write_str("Secret([redacted])")
        }
    }
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// The embedded store: a SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (contains credentials; never logged).
    Postgres(Secret),
}

/// The whole configuration, typed.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// How long a connection may take to send a request's head (see [`crate::listener`]).
    pub http_header_timeout: Duration,
    /// Most connections the API's listener holds open at once.
    pub http_max_connections: usize,
    /// How long one request may take from its head to its answer, its body's arrival
    /// included.
    pub http_request_timeout: Duration,
    pub database: Database,
    /// Most pooled connections to PostgreSQL per process.
    pub database_pool_size: u32,
    pub management_id: Option<String>,
    pub management_token: Option<Secret>,
    pub allowed_target_ranges: Vec<IpNet>,
    pub retry: RetryPolicy,
    pub delivery_timeout: Duration,
    pub delivery_concurrency: usize,
    pub delivery_concurrency_per_host: usize,
    /// Most attempts one project may have in flight (or waiting for their host) in one
    /// process; `None`: three quarters of `delivery_concurrency`
    /// ([`Config::delivery_concurrency_per_project`]).
    pub delivery_concurrency_per_project: Option<usize>,
    pub lease: Duration,
    pub secret_rotation_grace: Duration,
    pub retention: Duration,
    /// How long an ingest's idempotency keys hold (docs/API.md).
    pub idempotency_ttl: Duration,
    pub max_body_bytes: usize,
    /// Quotas per project and the bounds of templates and fan-out.
    pub limits: Limits,
    /// Free space the embedded store keeps for deliveries: ingest answers 503 below it.
    pub min_free_disk_bytes: u64,
    pub workers: bool,
    pub dashboard_password: Option<Secret>,
    /// Failed authentications allowed per client per [`Self::auth_failure_window`].
    pub auth_failure_limit: u32,
    pub auth_failure_window: Duration,
    /// How long a checked app key's project is remembered (zero: looked up every request).
    pub app_key_cache: Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    /// Callout notices: email over SMTP, links, the outbox's limits.
    pub notices: Notices,
    /// Operational webhooks: the operator's endpoint, their retries, the coalescing window.
    pub operational: Operational,
}

/// What one project may hold and one request may cause (docs/OPERATIONS.md, "Limits"): set
/// so that a real merchant never meets them, while one tenant cannot make the store and the
/// workers do a thousand times the work of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `max_webhooks_per_project`.
    pub webhooks_per_project: usize,
    /// `max_distributions_per_project`.
    pub distributions_per_project: usize,
    /// `max_channels_per_distribution`, `max_template_bytes`, `max_template_placeholders`:
    /// checked when a distribution is saved or previewed.
    pub distribution: DistributionLimits,
    /// `max_send_outs_per_event`, `max_send_outs_per_request`, `max_rendered_payload_bytes`:
    /// checked at ingest (and the last one in preview).
    pub fan_out: FanOutLimits,
}

/// The shortest `management_token` accepted from the configuration.
pub const MIN_MANAGEMENT_TOKEN_CHARS: usize = 24;
/// The shortest `dashboard_password` accepted.
pub const MIN_DASHBOARD_PASSWORD_CHARS: usize = 12;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Read(String),
    #[error("configuration key `{key}` ({env}): {message}")]
    Invalid {
        key: &'static str,
        env: &'static str,
        message: String,
    },
}

/// Values given on the command line: the last layer, over the environment.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--database-url`: the `database_url` key.
    pub database_url: Option<String>,
}

impl Flags {
    fn over(&self, mut figment: Figment) -> Figment {
        if let Some(url) = &self.database_url {
            figment = figment.merge(("database_url", url.as_str()));
        }
        figment
    }
}

/// The layered values as text, before parsing.
#[derive(Debug, Deserialize)]
struct Raw {
    listen: String,
    http_header_timeout: String,
    #[serde(deserialize_with = "lenient")]
    http_max_connections: usize,
    http_request_timeout: String,
    data_dir: String,
    database_url: String,
    #[serde(deserialize_with = "lenient")]
    database_pool_size: u32,
    management_id: String,
    management_token: String,
    allowed_target_ranges: String,
    retry_schedule: String,
    #[serde(deserialize_with = "lenient")]
    retry_jitter: f64,
    retry_after_cap: String,
    delivery_timeout: String,
    #[serde(deserialize_with = "lenient")]
    delivery_concurrency: usize,
    #[serde(deserialize_with = "lenient")]
    delivery_concurrency_per_host: usize,
    #[serde(deserialize_with = "lenient")]
    delivery_concurrency_per_project: usize,
    lease: String,
    secret_rotation_grace: String,
    retention: String,
    idempotency_ttl: String,
    #[serde(deserialize_with = "lenient")]
    max_body_bytes: usize,
    #[serde(deserialize_with = "lenient")]
    max_webhooks_per_project: usize,
    #[serde(deserialize_with = "lenient")]
    max_distributions_per_project: usize,
    #[serde(deserialize_with = "lenient")]
    max_channels_per_distribution: usize,
    #[serde(deserialize_with = "lenient")]
    max_template_bytes: usize,
    #[serde(deserialize_with = "lenient")]
    max_template_placeholders: usize,
    #[serde(deserialize_with = "lenient")]
    max_send_outs_per_event: usize,
    #[serde(deserialize_with = "lenient")]
    max_send_outs_per_request: usize,
    #[serde(deserialize_with = "lenient")]
    max_rendered_payload_bytes: usize,
    #[serde(deserialize_with = "lenient")]
    min_free_disk_bytes: u64,
    #[serde(deserialize_with = "lenient")]
    workers: bool,
    dashboard_password: String,
    #[serde(deserialize_with = "lenient")]
    auth_failure_limit: u32,
    auth_failure_window: String,
    app_key_cache: String,
    trusted_proxies: String,
    log_format: String,
    smtp_url: String,
    smtp_from: String,
    public_url: String,
    #[serde(deserialize_with = "lenient")]
    notice_failing_share: f64,
    #[serde(deserialize_with = "lenient")]
    notice_mail_on_enable: bool,
    #[serde(deserialize_with = "lenient")]
    notice_mail_attempts: u32,
    notice_mail_lease: String,
    notice_mail_retry: String,
    notice_interval: String,
    operational_webhook_url: String,
    operational_webhook_secret: String,
    operational_retry_schedule: String,
    operational_exhausted_window: String,
}

/// Accepts a value either in its own type (from TOML) or as text (from the environment).
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        Native(T),
        Text(String),
    }
    match Either::<T>::deserialize(deserializer)? {
        Either::Native(value) => Ok(value),
        Either::Text(text) => text
            .trim()
            .parse()
            .map_err(|e| serde::de::Error::custom(format!("`{text}`: {e}"))),
    }
}

fn invalid(key: &'static str, env: &'static str, message: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        key,
        env,
        message: message.to_string(),
    }
}

fn duration(key: &'static str, env: &'static str, text: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text.trim()).map_err(|e| invalid(key, env, format!("`{text}`: {e}")))
}

/// A duration that must not be zero (a zero timeout would refuse everything).
fn positive_duration(
    key: &'static str,
    env: &'static str,
    text: &str,
) -> Result<Duration, ConfigError> {
    let value = duration(key, env, text)?;
    if value.is_zero() {
        return Err(invalid(key, env, "must be longer than zero"));
    }
    Ok(value)
}

/// Comma-separated CIDR ranges (a bare address is its own range).
fn ranges(key: &'static str, env: &'static str, text: &str) -> Result<Vec<IpNet>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        key,
                        env,
                        format!("`{s}` is not a CIDR range such as 127.0.0.0/8"),
                    )
                })
        })
        .collect()
}

/// A secret given in the configuration, refused when shorter than `min` characters.
fn secret(
    key: &'static str,
    env: &'static str,
    text: String,
    min: usize,
) -> Result<Option<Secret>, ConfigError> {
    match non_empty(text) {
        Some(value) if value.chars().count() < min => Err(invalid(
            key,
            env,
            format!(
                "is {} characters long; use at least {min} (a random one: `openssl rand -hex 24`)",
                value.chars().count()
            ),
        )),
        value => Ok(value.map(Secret::new)),
    }
}

fn non_empty(text: String) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// The limits, each at least 1, and those the template language caps no larger than its cap.
fn limits(raw: &Raw) -> Result<Limits, ConfigError> {
    let checked = |value: usize, key: &'static str, env: &'static str, most: usize| {
        if value == 0 || value > most {
            let most = if most == usize::MAX {
                String::new()
            } else {
                format!(" and at most {most}")
            };
            return Err(invalid(key, env, format!("must be at least 1{most}")));
        }
        Ok(value)
    };
    let any = usize::MAX;
    Ok(Limits {
        webhooks_per_project: checked(
            raw.max_webhooks_per_project,
            "max_webhooks_per_project",
            "SENDOUT_MAX_WEBHOOKS_PER_PROJECT",
            any,
        )?,
        distributions_per_project: checked(
            raw.max_distributions_per_project,
            "max_distributions_per_project",
            "SENDOUT_MAX_DISTRIBUTIONS_PER_PROJECT",
            any,
        )?,
        distribution: DistributionLimits {
            channels: checked(
                raw.max_channels_per_distribution,
                "max_channels_per_distribution",
                "SENDOUT_MAX_CHANNELS_PER_DISTRIBUTION",
                MAX_CHANNELS,
            )?,
            template_bytes: checked(
                raw.max_template_bytes,
                "max_template_bytes",
                "SENDOUT_MAX_TEMPLATE_BYTES",
                MAX_TEMPLATE_BYTES,
            )?,
            placeholders: checked(
                raw.max_template_placeholders,
                "max_template_placeholders",
                "SENDOUT_MAX_TEMPLATE_PLACEHOLDERS",
                any,
            )?,
        },
        fan_out: FanOutLimits {
            send_outs_per_event: checked(
                raw.max_send_outs_per_event,
                "max_send_outs_per_event",
                "SENDOUT_MAX_SEND_OUTS_PER_EVENT",
                any,
            )?,
            send_outs_per_request: checked(
                raw.max_send_outs_per_request,
                "max_send_outs_per_request",
                "SENDOUT_MAX_SEND_OUTS_PER_REQUEST",
                any,
            )?,
            rendered_payload_bytes: checked(
                raw.max_rendered_payload_bytes,
                "max_rendered_payload_bytes",
                "SENDOUT_MAX_RENDERED_PAYLOAD_BYTES",
                any,
            )?,
        },
    })
}

impl Config {
    /// Loads defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, &Flags::default())
    }

    /// Loads defaults, then `file` (if given), then the environment, then `flags`.
    pub fn load_with(file: Option<&Path>, flags: &Flags) -> Result<Self, ConfigError> {
        Self::from_figment(flags.over(Self::figment(file)))
    }

    /// The layers, exposed so tests can add their own on top.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // Environment values stay text: figment's own `Env` would turn `8080` into a number
        // and `[::1]:8080` into an array, breaking string keys.
        for (key, value) in std::env::vars() {
            if let Some(key) = key.strip_prefix("SENDOUT_").filter(|k| *k != "CONFIG") {
                figment = figment.merge((key.to_ascii_lowercase(), value));
            }
        }
        figment
    }

    /// Parses the merged layers.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let raw: Raw = figment
            .extract()
            .map_err(|e| ConfigError::Read(e.to_string()))?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<Self, ConfigError> {
        let limits = limits(&raw)?;
        let listen =
            raw.listen.trim().parse().map_err(|e| {
                invalid("listen", "SENDOUT_LISTEN", format!("`{}`: {e}", raw.listen))
            })?;
        let http_header_timeout = positive_duration(
            "http_header_timeout",
            "SENDOUT_HTTP_HEADER_TIMEOUT",
            &raw.http_header_timeout,
        )?;
        let http_request_timeout = positive_duration(
            "http_request_timeout",
            "SENDOUT_HTTP_REQUEST_TIMEOUT",
            &raw.http_request_timeout,
        )?;
        if raw.http_max_connections == 0 {
            return Err(invalid(
                "http_max_connections",
                "SENDOUT_HTTP_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        let database = match non_empty(raw.database_url) {
            None => Database::Sqlite(PathBuf::from(raw.data_dir.trim()).join("sendout.db")),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Database::Postgres(Secret::new(url))
            }
            Some(url) => match url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
            {
                Some(path) if !path.is_empty() => {
                    let path = path.split('?').next().unwrap_or(path);
                    Database::Sqlite(PathBuf::from(path))
                }
                _ => {
                    return Err(invalid(
                        "database_url",
                        "SENDOUT_DATABASE_URL or --database-url",
                        "must be sqlite://PATH or postgres://…",
                    ))
                }
            },
        };
        if raw.database_pool_size == 0 {
            return Err(invalid(
                "database_pool_size",
                "SENDOUT_DATABASE_POOL_SIZE",
                "must be at least 1",
            ));
        }
        let allowed_target_ranges = ranges(
            "allowed_target_ranges",
            "SENDOUT_ALLOWED_TARGET_RANGES",
            &raw.allowed_target_ranges,
        )?;
        let retry = match raw.retry_schedule.trim() {
            "voucherify" | "" => RetryPolicy::voucherify(),
            text => RetryPolicy::parse_schedule(text)
                .map_err(|e| invalid("retry_schedule", "SENDOUT_RETRY_SCHEDULE", e))?,
        };
        let retry = retry
            .with_jitter(raw.retry_jitter)
            .map_err(|e| invalid("retry_jitter", "SENDOUT_RETRY_JITTER", e))?
            .with_retry_after_cap(duration(
                "retry_after_cap",
                "SENDOUT_RETRY_AFTER_CAP",
                &raw.retry_after_cap,
            )?);
        let delivery_timeout = positive_duration(
            "delivery_timeout",
            "SENDOUT_DELIVERY_TIMEOUT",
            &raw.delivery_timeout,
        )?;
        if raw.delivery_concurrency == 0 || raw.delivery_concurrency_per_host == 0 {
            return Err(invalid(
                "delivery_concurrency",
                "SENDOUT_DELIVERY_CONCURRENCY",
                "must be at least 1",
            ));
        }
        // A claim must outlive its attempt and its wait for a busy host (the worker gives
        // that wait at most the attempt's timeout); a shorter lease would let another worker
        // take the send out while it is still being sent.
        let lease = duration("lease", "SENDOUT_LEASE", &raw.lease)?;
        if lease < delivery_timeout.saturating_mul(2) {
            return Err(invalid(
                "lease",
                "SENDOUT_LEASE",
                format!(
                    "must be at least twice delivery_timeout ({}s): an attempt and its wait for \
                     a busy host must fit in it",
                    delivery_timeout.as_secs_f64()
                ),
            ));
        }
        let idempotency_ttl = duration(
            "idempotency_ttl",
            "SENDOUT_IDEMPOTENCY_TTL",
            &raw.idempotency_ttl,
        )?;
        if idempotency_ttl.is_zero() {
            return Err(invalid(
                "idempotency_ttl",
                "SENDOUT_IDEMPOTENCY_TTL",
                "must be longer than zero",
            ));
        }
        let log_format = match raw.log_format.trim() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "log_format",
                    "SENDOUT_LOG_FORMAT",
                    format!("`{other}`: expected pretty or json"),
                ))
            }
        };
        let management_id = non_empty(raw.management_id);
        let management_token = secret(
            "management_token",
            "SENDOUT_MANAGEMENT_TOKEN",
            raw.management_token,
            MIN_MANAGEMENT_TOKEN_CHARS,
        )?;
        let dashboard_password = secret(
            "dashboard_password",
            "SENDOUT_DASHBOARD_PASSWORD",
            raw.dashboard_password,
            MIN_DASHBOARD_PASSWORD_CHARS,
        )?;
        if raw.auth_failure_limit == 0 {
            return Err(invalid(
                "auth_failure_limit",
                "SENDOUT_AUTH_FAILURE_LIMIT",
                "must be at least 1",
            ));
        }
        let auth_failure_window = duration(
            "auth_failure_window",
            "SENDOUT_AUTH_FAILURE_WINDOW",
            &raw.auth_failure_window,
        )?;
        let app_key_cache = duration("app_key_cache", "SENDOUT_APP_KEY_CACHE", &raw.app_key_cache)?;
        let trusted_proxies = ranges(
            "trusted_proxies",
            "SENDOUT_TRUSTED_PROXIES",
            &raw.trusted_proxies,
        )?;
        if management_id.is_some() != management_token.is_some() {
            return Err(invalid(
                "management_token",
                "SENDOUT_MANAGEMENT_TOKEN",
                "set both SENDOUT_MANAGEMENT_ID and SENDOUT_MANAGEMENT_TOKEN, or neither",
            ));
        }
        let notices = notices::parse(
            notices::RawNotices {
                smtp_url: &raw.smtp_url,
                smtp_from: &raw.smtp_from,
                public_url: &raw.public_url,
                failing_share: raw.notice_failing_share,
                mail_on_enable: raw.notice_mail_on_enable,
                mail_attempts: raw.notice_mail_attempts,
                mail_lease: &raw.notice_mail_lease,
                mail_retry: &raw.notice_mail_retry,
                interval: &raw.notice_interval,
            },
            listen,
            retry.max_retries(),
        )?;
        let operational = operational::parse(
            operational::RawOperational {
                url: &raw.operational_webhook_url,
                secret: &raw.operational_webhook_secret,
                retry_schedule: &raw.operational_retry_schedule,
                retry_jitter: raw.retry_jitter,
                exhausted_window: &raw.operational_exhausted_window,
            },
            &allowed_target_ranges,
        )?;
        Ok(Self {
            listen,
            http_header_timeout,
            http_max_connections: raw.http_max_connections,
            http_request_timeout,
            database,
            database_pool_size: raw.database_pool_size,
            management_id,
            management_token,
            allowed_target_ranges,
            retry,
            delivery_timeout,
            delivery_concurrency: raw.delivery_concurrency,
            delivery_concurrency_per_host: raw.delivery_concurrency_per_host,
            delivery_concurrency_per_project: (raw.delivery_concurrency_per_project > 0)
                .then_some(raw.delivery_concurrency_per_project),
            lease,
            secret_rotation_grace: duration(
                "secret_rotation_grace",
                "SENDOUT_SECRET_ROTATION_GRACE",
                &raw.secret_rotation_grace,
            )?,
            retention: duration("retention", "SENDOUT_RETENTION", &raw.retention)?,
            idempotency_ttl,
            max_body_bytes: raw.max_body_bytes,
            limits,
            min_free_disk_bytes: raw.min_free_disk_bytes,
            workers: raw.workers,
            dashboard_password,
            auth_failure_limit: raw.auth_failure_limit,
            auth_failure_window,
            app_key_cache,
            trusted_proxies,
            log_format,
            notices,
            operational,
        })
    }

    /// Most attempts one project may hold in one process: the setting, or three quarters of
    /// `delivery_concurrency` (rounded up), at most `delivery_concurrency`. The rest of the
    /// slots stay for the other projects, whatever one project's receivers do.
    pub fn delivery_concurrency_per_project(&self) -> usize {
        let all = self.delivery_concurrency.max(1);
        self.delivery_concurrency_per_project
            .unwrap_or_else(|| (all * 3).div_ceil(4))
            .clamp(1, all)
    }

    /// The defaults alone (what tests start from).
    pub fn defaults() -> Self {
        Self::from_figment(Figment::from(Toml::string(DEFAULTS)))
            .expect("the embedded defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        for (key, value) in pairs {
            figment = figment.merge((*key, *value));
        }
        Config::from_figment(figment)
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let config = Config::defaults();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database,
            Database::Sqlite(PathBuf::from("./sendout-data/sendout.db"))
        );
        assert_eq!(config.delivery_timeout, Duration::from_secs(10));
        assert_eq!(
            config.retry.schedule(),
            RetryPolicy::voucherify().schedule()
        );
        assert!(config.allowed_target_ranges.is_empty());
        assert!(config.management_id.is_none());
        assert_eq!(config.database_pool_size, 10);
        assert_eq!(config.idempotency_ttl, Duration::from_secs(24 * 3600));
        let limits = config.limits;
        assert_eq!(limits.webhooks_per_project, 100);
        assert_eq!(limits.distributions_per_project, 100);
        assert_eq!(limits.distribution, DistributionLimits::default());
        assert_eq!(limits.fan_out, FanOutLimits::default());
        assert_eq!(config.http_header_timeout, Duration::from_secs(10));
        assert_eq!(config.http_max_connections, 512);
        assert_eq!(config.http_request_timeout, Duration::from_secs(30));
        let notices = &config.notices;
        assert!(notices.smtp.is_none(), "email is off by default");
        assert_eq!(notices.public_url, "http://127.0.0.1:8080");
        assert_eq!(notices.failing_attempts, Some(7));
        assert!(notices.mail_on_enable);
        assert_eq!(notices.mail_attempts, 8);
        assert_eq!(notices.mail_lease, Duration::from_secs(60));
        assert_eq!(notices.mail_retry, Duration::from_secs(30));
        assert_eq!(notices.interval, Duration::from_secs(5));
    }

    #[test]
    fn values_in_the_product_contract_forms_are_accepted() {
        let config = with(&[
            ("allowed_target_ranges", "127.0.0.0/8, ::1/128,10.1.2.3"),
            ("retry_schedule", "50ms,100ms"),
            ("delivery_timeout", "2s"),
            ("database_url", "sqlite:///tmp/x/sendout.db?mode=rwc"),
        ])
        .expect("valid");
        assert_eq!(config.allowed_target_ranges.len(), 3);
        assert_eq!(
            config.retry.schedule(),
            [Duration::from_millis(50), Duration::from_millis(100)]
        );
        assert_eq!(config.delivery_timeout, Duration::from_secs(2));
        assert_eq!(
            config.database,
            Database::Sqlite(PathBuf::from("/tmp/x/sendout.db"))
        );
        let pg = with(&[("database_url", "postgres://u:p@127.0.0.1/db")]).expect("valid");
        assert!(matches!(pg.database, Database::Postgres(_)));
        assert!(!format!("{pg:?}").contains("u:p@"), "the URL is a secret");
    }

    #[test]
    fn bad_values_name_their_key_and_variable() {
        for (key, value, env) in [
            ("listen", "not an address", "SENDOUT_LISTEN"),
            (
                "allowed_target_ranges",
                "10.0.0.0/99",
                "SENDOUT_ALLOWED_TARGET_RANGES",
            ),
            ("retry_schedule", "1 fortnight", "SENDOUT_RETRY_SCHEDULE"),
            ("delivery_timeout", "0s", "SENDOUT_DELIVERY_TIMEOUT"),
            ("lease", "19s", "SENDOUT_LEASE"),
            ("database_url", "mysql://x", "SENDOUT_DATABASE_URL"),
            ("database_pool_size", "0", "SENDOUT_DATABASE_POOL_SIZE"),
            ("idempotency_ttl", "0s", "SENDOUT_IDEMPOTENCY_TTL"),
            ("http_header_timeout", "0s", "SENDOUT_HTTP_HEADER_TIMEOUT"),
            ("http_header_timeout", "soon", "SENDOUT_HTTP_HEADER_TIMEOUT"),
            ("http_max_connections", "0", "SENDOUT_HTTP_MAX_CONNECTIONS"),
            ("http_request_timeout", "0s", "SENDOUT_HTTP_REQUEST_TIMEOUT"),
            ("management_id", "only-the-id", "SENDOUT_MANAGEMENT_TOKEN"),
            (
                "max_webhooks_per_project",
                "0",
                "SENDOUT_MAX_WEBHOOKS_PER_PROJECT",
            ),
            (
                "max_channels_per_distribution",
                "11",
                "SENDOUT_MAX_CHANNELS_PER_DISTRIBUTION",
            ),
            ("max_template_bytes", "65537", "SENDOUT_MAX_TEMPLATE_BYTES"),
            (
                "max_rendered_payload_bytes",
                "0",
                "SENDOUT_MAX_RENDERED_PAYLOAD_BYTES",
            ),
        ] {
            let error = with(&[(key, value)]).expect_err(key).to_string();
            assert!(error.contains(env), "{key}: {error}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = with(&[
            ("management_id", "M-1"),
            ("management_token", "super-secret-token-0123456789"),
            ("dashboard_password", "hunter2-hunter2"),
        ])
        .expect("valid");
        let debug = format!("{config:?}");
        assert!(!debug.contains("super-secret-token"));
        assert!(!debug.contains("hunter2"));
    }

    /// A short management token or dashboard password is refused at start, naming the key
    /// and the minimum; one character below the minimum is enough to refuse.
    #[test]
    fn weak_keys_and_passwords_are_refused_at_start() {
        let short_token = "t".repeat(MIN_MANAGEMENT_TOKEN_CHARS - 1);
        for (pairs, key) in [
            (
                vec![("management_id", "M-1"), ("management_token", "a")],
                "management_token",
            ),
            (
                vec![
                    ("management_id", "M-1"),
                    ("management_token", short_token.as_str()),
                ],
                "management_token",
            ),
            (vec![("dashboard_password", "x")], "dashboard_password"),
            (
                vec![("dashboard_password", "eleven-char")],
                "dashboard_password",
            ),
        ] {
            let error = with(&pairs).expect_err("refused").to_string();
            assert!(error.contains(key), "{error}");
            assert!(error.contains("at least"), "{error}");
        }
        let long_token = "t".repeat(MIN_MANAGEMENT_TOKEN_CHARS);
        let config = with(&[
            ("management_id", "M-1"),
            ("management_token", long_token.as_str()),
            ("dashboard_password", "twelve-chars"),
        ])
        .expect("long enough");
        assert!(config.dashboard_password.is_some());
    }

    #[test]
    fn the_authentication_limit_and_trusted_proxies_are_read_and_checked() {
        let config = Config::defaults();
        assert_eq!(config.auth_failure_limit, 20);
        assert_eq!(config.auth_failure_window, Duration::from_secs(60));
        assert!(config.trusted_proxies.is_empty());
        let set = with(&[
            ("auth_failure_limit", "5"),
            ("auth_failure_window", "10s"),
            ("trusted_proxies", "127.0.0.1, ::1/128"),
        ])
        .expect("valid");
        assert_eq!(set.auth_failure_limit, 5);
        assert_eq!(set.trusted_proxies.len(), 2);
        for (key, value) in [
            ("auth_failure_limit", "0"),
            ("auth_failure_window", "soon"),
            ("trusted_proxies", "the proxy"),
        ] {
            let error = with(&[(key, value)]).expect_err("refused").to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    /// The environment names of PRODUCT §5.5 are part of the contract. nextest runs each test
    /// in its own process, and no other test reads these variables.
    #[test]
    fn environment_variables_override_file_and_defaults() {
        let dir = std::env::temp_dir().join(format!("sendout-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("sendout.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:7000\"\ndelivery_timeout = \"3s\"\n",
        )
        .expect("write config");
        std::env::set_var("SENDOUT_DELIVERY_TIMEOUT", "4s");
        std::env::set_var("SENDOUT_DATA_DIR", "/var/lib/sendout");
        std::env::set_var("SENDOUT_RETRY_SCHEDULE", "1m,1m,2m");
        let config = Config::load(Some(&file)).expect("valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        // Text that looks like a number, a bool or an array stays what the key expects.
        std::env::set_var("SENDOUT_LISTEN", "[::1]:8081");
        std::env::set_var("SENDOUT_MANAGEMENT_ID", "12345");
        std::env::set_var("SENDOUT_MANAGEMENT_TOKEN", "678901234567890123456789");
        std::env::set_var("SENDOUT_WORKERS", "false");
        std::env::set_var("SENDOUT_DELIVERY_CONCURRENCY", "7");
        std::env::set_var("SENDOUT_MIN_FREE_DISK_BYTES", "1048576");
        std::env::set_var("SENDOUT_AUTH_FAILURE_LIMIT", "3");
        let overridden = Config::load(Some(&file));
        for key in [
            "DELIVERY_TIMEOUT",
            "DATA_DIR",
            "RETRY_SCHEDULE",
            "LISTEN",
            "MANAGEMENT_ID",
            "MANAGEMENT_TOKEN",
            "WORKERS",
            "DELIVERY_CONCURRENCY",
            "MIN_FREE_DISK_BYTES",
            "AUTH_FAILURE_LIMIT",
        ] {
            std::env::remove_var(format!("SENDOUT_{key}"));
        }
        let overridden = overridden.expect("valid");
        assert_eq!(overridden.listen.to_string(), "[::1]:8081");
        assert_eq!(overridden.management_id.as_deref(), Some("12345"));
        assert!(!overridden.workers);
        assert_eq!(overridden.delivery_concurrency, 7);
        assert_eq!(overridden.min_free_disk_bytes, 1_048_576);
        assert_eq!(overridden.auth_failure_limit, 3);
        assert_eq!(config.delivery_timeout, Duration::from_secs(4));
        assert_eq!(
            config.database,
            Database::Sqlite(PathBuf::from("/var/lib/sendout/sendout.db"))
        );
        assert_eq!(config.retry.schedule().len(), 3);
    }

    /// `--database-url` is the last layer: it beats `SENDOUT_DATABASE_URL`, which beats the file.
    #[test]
    fn the_database_url_flag_beats_the_environment_and_the_file() {
        let dir = std::env::temp_dir().join(format!("sendout-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("sendout.toml");
        std::fs::write(&file, "database_url = \"sqlite:///from/file.db\"\n").expect("write");
        let from_file = Config::load(Some(&file)).expect("valid");
        std::env::set_var("SENDOUT_DATABASE_URL", "sqlite:///from/env.db");
        let from_env = Config::load(Some(&file));
        let flags = Flags {
            database_url: Some("postgres://u:p@127.0.0.1/from_flag".to_owned()),
        };
        let from_flag = Config::load_with(Some(&file), &flags);
        let bad = Config::load_with(
            Some(&file),
            &Flags {
                database_url: Some("mysql://x".to_owned()),
            },
        );
        std::env::remove_var("SENDOUT_DATABASE_URL");
        assert_eq!(
            from_file.database,
            Database::Sqlite(PathBuf::from("/from/file.db"))
        );
        assert_eq!(
            from_env.expect("valid").database,
            Database::Sqlite(PathBuf::from("/from/env.db"))
        );
        match from_flag.expect("valid").database {
            Database::Postgres(url) => {
                assert_eq!(url.expose(), "postgres://u:p@127.0.0.1/from_flag");
            }
            other => panic!("the flag lost to {other:?}"),
        }
        let error = bad.expect_err("a bad flag is refused").to_string();
        assert!(error.contains("--database-url"), "{error}");
    }
}
