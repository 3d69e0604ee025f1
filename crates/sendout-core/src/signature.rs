//! Signatures on every delivery, and the verifiers receivers (and `sendout listen`) use
//! (PRODUCT §3; vectors in `reference/signatures/`).
//!
//! Two schemes, one secret:
//! - **Voucherify**: `x-voucherify-signature` is the lowercase hex HMAC-SHA256 of the exact
//!   body, keyed with the project's `webhook_token` as UTF-8 bytes;
//! - **Standard Webhooks v1**: `webhook-signature` is `v1,<base64 HMAC-SHA256>` of
//!   `{webhook-id}.{webhook-timestamp}.{body}`. Its secret is `whsec_` + base64(token bytes),
//!   so the key bytes are again the token's bytes and one project secret verifies both ways.
//!
//! During secret rotation the `webhook-signature` header carries one signature per valid key,
//! space-separated; a verifier accepts the message if any `v1` signature matches. Asymmetric
//! `v1a` (Ed25519) signatures are neither made nor checked: they are skipped like any unknown
//! version, since ed25519 is not a dependency.
//!
//! Every comparison of a received signature with an expected one is constant-time.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far `webhook-timestamp` may be from the receiver's clock, either way.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// The prefix of a Standard Webhooks symmetric secret.
const WHSEC_PREFIX: &str = "whsec_";

/// Decodes secrets written with or without padding, and with non-zero trailing bits, as the
/// official Standard Webhooks libraries accept them.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn hmac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC hashes keys longer than a block and pads shorter ones: every length is valid.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The `x-voucherify-signature` header value for a body.
pub fn voucherify_signature(secret: &str, body: &[u8]) -> String {
    hex::encode(hmac(secret.as_bytes(), &[body]).finalize().into_bytes())
}

/// Whether `header` is the Voucherify signature of `body` under `secret` (hex of either case;
/// surrounding whitespace ignored).
pub fn verify_voucherify(secret: &str, body: &[u8], header: &str) -> bool {
    match hex::decode(header.trim()) {
        Ok(received) => hmac(secret.as_bytes(), &[body])
            .verify_slice(&received)
            .is_ok(),
        Err(_) => false,
    }
}

/// A Standard Webhooks signing key. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct StandardSecret(Vec<u8>);

/// Why a text is not a Standard Webhooks secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Nothing after the prefix.
    #[error("the webhook secret is empty: expected `whsec_` followed by base64")]
    Empty,
    /// The part after `whsec_` is not base64.
    #[error("the webhook secret is not `whsec_` followed by standard base64")]
    NotBase64,
}

impl StandardSecret {
    /// The secret of a project: its key bytes are the `webhook_token`'s UTF-8 bytes, the same
    /// key the Voucherify signature uses.
    pub fn from_webhook_token(token: &str) -> Self {
        Self(token.as_bytes().to_vec())
    }

    /// Parses `whsec_<base64>`. The prefix may be left out and the padding too, as the
    /// official libraries allow.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.trim();
        let encoded = encoded.strip_prefix(WHSEC_PREFIX).unwrap_or(encoded);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = LENIENT_BASE64
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(key))
    }

    /// The secret as receivers configure it: `whsec_` + base64 of the key bytes.
    pub fn to_whsec(&self) -> String {
        format!("{WHSEC_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The key bytes, for [`sign_v1`] and [`signature_header`].
    pub fn key(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for StandardSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StandardSecret(<redacted>)")
    }
}

fn v1_mac(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let timestamp = timestamp.to_string();
    hmac(
        key,
        &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    )
}

/// One Standard Webhooks signature: `v1,` + base64 of the HMAC-SHA256 of
/// `{msg_id}.{timestamp}.{body}`.
pub fn sign_v1(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = v1_mac(key, msg_id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(mac))
}

/// The `webhook-signature` header: one `v1` signature per key, space-separated, so that
/// during a secret rotation receivers holding either the old or the new secret accept it.
pub fn signature_header(keys: &[&[u8]], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| sign_v1(key, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a Standard Webhooks message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `webhook-timestamp` is not an integer.
    #[error("webhook-timestamp `{0}` is not a whole number of Unix seconds")]
    BadTimestamp(String),
    /// The message was signed too long ago (a possible replay).
    #[error("webhook-timestamp is {age_secs} s in the past, more than the 300 s tolerance")]
    TooOld { age_secs: i64 },
    /// The message claims to be signed in the future.
    #[error("webhook-timestamp is {ahead_secs} s in the future, more than the 300 s tolerance")]
    TooNew { ahead_secs: i64 },
    /// The header is empty or an entry is not `<version>,<signature>`.
    #[error("webhook-signature is malformed: expected space-separated `v1,<base64>` entries")]
    MalformedHeader,
    /// Only versions this verifier does not check (such as `v1a`) were present.
    #[error("webhook-signature has no v1 signature; only v1 (HMAC-SHA256) is supported")]
    NoSupportedSignature,
    /// No `v1` signature matched the secret.
    #[error("no webhook-signature matches the secret")]
    NoMatchingSignature,
}

/// Verifies a Standard Webhooks message received at `now_secs` (Unix seconds).
///
/// The timestamp must be within [`TIMESTAMP_TOLERANCE_SECS`] of `now_secs` either way. The
/// message is accepted if any `v1` entry of the header matches; other versions are skipped.
pub fn verify_standard(
    secret: &StandardSecret,
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    let timestamp: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp(timestamp_header.chars().take(40).collect()))?;
    let age_secs = now_secs.saturating_sub(timestamp);
    if age_secs > TIMESTAMP_TOLERANCE_SECS {
        return Err(VerifyError::TooOld { age_secs });
    }
    if age_secs < -TIMESTAMP_TOLERANCE_SECS {
        return Err(VerifyError::TooNew {
            ahead_secs: age_secs.saturating_neg(),
        });
    }

    let mut entries = signature_header.split_whitespace().peekable();
    if entries.peek().is_none() {
        return Err(VerifyError::MalformedHeader);
    }
    let expected = v1_mac(secret.key(), msg_id, timestamp, body)
        .finalize()
        .into_bytes();
    let mut saw_v1 = false;
    let mut matched = false;
    for entry in entries {
        let (version, signature) = entry.split_once(',').ok_or(VerifyError::MalformedHeader)?;
        if version != "v1" {
            continue;
        }
        saw_v1 = true;
        // An undecodable signature simply does not match; keep looking at the others.
        if let Ok(received) = STANDARD.decode(signature) {
            // Not short-circuiting keeps the time independent of which entry matched.
            matched |= bool::from(received.as_slice().ct_eq(expected.as_slice()));
        }
    }
    match (matched, saw_v1) {
        (true, _) => Ok(()),
        (false, true) => Err(VerifyError::NoMatchingSignature),
        (false, false) => Err(VerifyError::NoSupportedSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "a-project-webhook-token";
    const BODY: &[u8] = br#"{"id":"whs_1","type":"voucher.published"}"#;

    #[test]
    fn one_project_secret_verifies_both_ways() {
        let voucherify = voucherify_signature(TOKEN, BODY);
        assert!(verify_voucherify(TOKEN, BODY, &voucherify));
        assert!(!verify_voucherify("another-token", BODY, &voucherify));

        // The sender signs with the token; the receiver configures the whsec_ form.
        let sender = StandardSecret::from_webhook_token(TOKEN);
        let header = sign_v1(sender.key(), "whs_1", 1_700_000_000, BODY);
        let receiver = StandardSecret::parse(&sender.to_whsec()).expect("valid secret");
        assert_eq!(receiver, sender);
        assert_eq!(
            verify_standard(
                &receiver,
                "whs_1",
                "1700000000",
                &header,
                BODY,
                1_700_000_010
            ),
            Ok(())
        );
        assert_eq!(
            sender.to_whsec(),
            format!("whsec_{}", STANDARD.encode(TOKEN))
        );
    }

    #[test]
    fn during_rotation_either_secret_verifies() {
        let (old, new) = (
            StandardSecret::from_webhook_token("old-token"),
            StandardSecret::from_webhook_token("new-token"),
        );
        let header = signature_header(&[old.key(), new.key()], "whs_1", 1_700_000_000, BODY);
        assert_eq!(header.split(' ').count(), 2);
        for secret in [&old, &new] {
            assert_eq!(
                verify_standard(secret, "whs_1", "1700000000", &header, BODY, 1_700_000_000),
                Ok(())
            );
        }
        let stranger = StandardSecret::from_webhook_token("stranger");
        assert_eq!(
            verify_standard(
                &stranger,
                "whs_1",
                "1700000000",
                &header,
                BODY,
                1_700_000_000
            ),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn tampering_with_id_timestamp_or_body_is_detected() {
        let secret = StandardSecret::from_webhook_token(TOKEN);
        let header = sign_v1(secret.key(), "whs_1", 1_700_000_000, BODY);
        let check = |id: &str, ts: &str, body: &[u8]| {
            verify_standard(&secret, id, ts, &header, body, 1_700_000_000)
        };
        assert_eq!(
            check("whs_2", "1700000000", BODY),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            check("whs_1", "1700000001", BODY),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            check("whs_1", "1700000000", b"{}"),
            Err(VerifyError::NoMatchingSignature)
        );
        assert!(matches!(
            check("whs_1", "soon", BODY),
            Err(VerifyError::BadTimestamp(_))
        ));
    }

    #[test]
    fn malformed_headers_and_secrets_get_clear_errors() {
        let secret = StandardSecret::from_webhook_token(TOKEN);
        for header in ["", "   ", "v1", "v1 v1,abc"] {
            assert_eq!(
                verify_standard(&secret, "m", "0", header, BODY, 0),
                Err(VerifyError::MalformedHeader),
                "{header:?}"
            );
        }
        assert_eq!(StandardSecret::parse("whsec_"), Err(SecretError::Empty));
        assert_eq!(
            StandardSecret::parse("whsec_!!!"),
            Err(SecretError::NotBase64)
        );
        assert_eq!(format!("{secret:?}"), "StandardSecret(<redacted>)");
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let secret = StandardSecret::from_webhook_token(TOKEN);
        let min = i64::MIN.to_string();
        let max = i64::MAX.to_string();
        assert!(matches!(
            verify_standard(&secret, "m", &min, "v1,x", BODY, i64::MAX),
            Err(VerifyError::TooOld { .. })
        ));
        assert!(matches!(
            verify_standard(&secret, "m", &max, "v1,x", BODY, i64::MIN),
            Err(VerifyError::TooNew { .. })
        ));
    }
}
