//! Every vector in `shared/reference/signatures/` is a test: the Voucherify signature vectors
//! and the Standard Webhooks vectors, negative cases and secret parsing edge cases included.
//! The files are read at test time, so a vector added there is checked without a code change.

use sendout_core::signature::{
    sign_v1, verify_standard, verify_voucherify, voucherify_signature, SecretError, StandardSecret,
    VerifyError, TIMESTAMP_TOLERANCE_SECS,
};
use serde_json::Value;

fn vectors(file: &str) -> Value {
    let path = format!(
        "{}/../../../shared/reference/signatures/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {value}"))
}

fn timestamp_of(vector: &Value) -> i64 {
    vector["timestamp"].as_i64().expect("timestamp")
}

#[test]
fn voucherify_vectors_sign_and_verify_as_documented() {
    let file = vectors("voucherify-signature-vectors.json");
    let all = file["vectors"].as_array().expect("vectors");
    assert!(all.len() >= 5);
    for vector in all {
        let (key, message) = (text(vector, "key"), text(vector, "message").as_bytes());
        let expected = text(vector, "expected_hex");
        let valid = vector["valid"].as_bool().expect("valid");
        assert_eq!(
            voucherify_signature(key, message) == expected,
            valid,
            "{vector}"
        );
        assert_eq!(verify_voucherify(key, message, expected), valid, "{vector}");
    }
}

#[test]
fn standard_webhooks_vectors_sign_and_verify() {
    let file = vectors("standard-webhooks-vectors.json");
    let mut checked = 0;
    for vector in file["vectors"].as_array().expect("vectors") {
        let expected = text(vector, "expected_signature");
        let (msg_id, payload) = (text(vector, "msg_id"), text(vector, "payload").as_bytes());
        let timestamp = timestamp_of(vector);
        let secret = StandardSecret::parse(text(vector, "secret"));
        let verdict = |secret: &StandardSecret, now: i64| {
            verify_standard(
                secret,
                msg_id,
                &timestamp.to_string(),
                expected,
                payload,
                now,
            )
        };
        if expected.starts_with("v1a,") {
            // Ed25519 is not implemented: a v1a-only header is reported as unsupported.
            let any_secret = StandardSecret::from_webhook_token("irrelevant");
            assert_eq!(
                verdict(&any_secret, timestamp),
                Err(VerifyError::NoSupportedSignature),
                "{}",
                vector["name"]
            );
            continue;
        }
        let secret = secret.unwrap_or_else(|e| panic!("{}: {e}", vector["name"]));
        if let Some(len) = vector["secret_bytes_len"].as_u64() {
            assert_eq!(secret.key().len() as u64, len);
        }
        assert_eq!(sign_v1(secret.key(), msg_id, timestamp, payload), expected);
        assert_eq!(verdict(&secret, timestamp), Ok(()), "{}", vector["name"]);
        // The libraries accept the secret without its prefix, too.
        let bare = text(vector, "secret").trim_start_matches("whsec_");
        let bare = StandardSecret::parse(bare).expect("unprefixed secret");
        assert_eq!(verdict(&bare, timestamp), Ok(()));
        checked += 1;
    }
    assert!(checked >= 2, "every v1 vector is checked");
}

#[test]
fn standard_webhooks_negative_cases_fail() {
    let file = vectors("standard-webhooks-vectors.json");
    let common = &file["vectors"][0];
    let secret = StandardSecret::parse(text(common, "secret")).expect("secret");
    let (msg_id, payload) = (text(common, "msg_id"), text(common, "payload").as_bytes());
    let timestamp = timestamp_of(common);
    let valid = text(common, "expected_signature");
    let verify_at = |signature: &str, now: i64| {
        verify_standard(
            &secret,
            msg_id,
            &timestamp.to_string(),
            signature,
            payload,
            now,
        )
    };

    for case in file["negative_cases"].as_array().expect("negative cases") {
        let desc = text(case, "desc");
        if let Some(signature) = case["signature"].as_str() {
            assert_eq!(
                verify_at(signature, timestamp),
                Err(VerifyError::NoMatchingSignature),
                "{desc}"
            );
        } else if let Some(bad_secret) = case["secret"].as_str() {
            assert_eq!(
                StandardSecret::parse(bad_secret),
                Err(SecretError::Empty),
                "{desc}"
            );
        } else if let Some(template) = case["signature_header_template"].as_str() {
            let header = template.replace("<valid>", valid);
            assert_eq!(verify_at(&header, timestamp), Ok(()), "{desc}");
            let without_valid = template.replace("<valid>", "");
            assert_eq!(
                verify_at(&without_valid, timestamp),
                Err(VerifyError::NoMatchingSignature),
                "{desc}"
            );
        } else {
            assert!(desc.contains("timestamp"), "an unhandled case: {desc}");
            let limit = TIMESTAMP_TOLERANCE_SECS;
            assert_eq!(verify_at(valid, timestamp + limit), Ok(()));
            assert_eq!(verify_at(valid, timestamp - limit), Ok(()));
            assert_eq!(
                verify_at(valid, timestamp + limit + 1),
                Err(VerifyError::TooOld {
                    age_secs: limit + 1
                })
            );
            assert_eq!(
                verify_at(valid, timestamp - limit - 1),
                Err(VerifyError::TooNew {
                    ahead_secs: limit + 1
                })
            );
        }
    }
}

#[test]
fn unpadded_secrets_are_accepted_like_the_official_libraries_do() {
    let file = vectors("standard-webhooks-vectors.json");
    for case in file["secret_parsing_edge_cases"]
        .as_array()
        .expect("edge cases")
    {
        for secret in case["secrets"].as_array().expect("secrets") {
            let secret = secret.as_str().expect("a string");
            for form in [secret.to_owned(), format!("whsec_{secret}")] {
                let parsed = StandardSecret::parse(&form);
                assert!(parsed.is_ok(), "{form}: {parsed:?}");
            }
        }
    }
}
