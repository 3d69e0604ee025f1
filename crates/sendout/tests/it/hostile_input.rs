//! Hostile input (PRODUCT §8 "bad input gets a clear error and changes nothing"): oversized
//! and endless bodies, deep nesting, bytes that are not UTF-8, huge or binary header values,
//! unknown fields, invalid URLs, line breaks in header values, odd ids. Each is refused in
//! the error shape with the right status, and the store is row for row what it was before
//! (every table of the SQLite file compared). `api/errors.rs` covers malformed JSON, unknown
//! types, the event fields one by one and one oversized ingest; this file covers the rest.
//!
//! Field by field (headers, unknown fields, URLs, line breaks, ids): `hostile_input/fields.rs`.
//! The fuzz targets' checks (`fuzz/src/lib.rs`) run here over the committed corpus, and the
//! ingest parser is property-tested (`hostile_input/properties.rs`).
#![allow(clippy::unwrap_used)]

use crate::helpers;
mod fields;
#[path = "../../../../fuzz/src/lib.rs"]
mod fuzz_checks;
mod properties;
mod raw_http;
use crate::helpers::snapshot;

use std::path::PathBuf;

use helpers::app::TestApp;
use reqwest::Method;
use sendout::config::Database;
use serde_json::{json, Value};

/// The body limit of these tests.
pub const LIMIT: usize = 256 * 1024;

/// An app holding a webhook and an event with its send out, and where its store lives.
#[derive(Debug)]
pub struct Fixture {
    pub app: TestApp,
    pub db: PathBuf,
    pub webhook: String,
}

impl Fixture {
    pub async fn new() -> Self {
        let app = TestApp::spawn_with(|c| {
            c.workers = false;
            c.max_body_bytes = LIMIT;
        })
        .await;
        let webhook = app
            .create_webhook(json!({
                "target_url": "http://127.0.0.1:9/hook",
                "events": ["*"],
                "headers": {"x-api-key": "kept-as-it-was"}
            }))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.ingest(&json!({"type": "voucher.created", "data": {"voucher": {"code": "C"}}}))
            .await
            .expect(202);
        let Database::Sqlite(db) = app.config.database.clone() else {
            panic!("the tests run on SQLite");
        };
        Self { app, db, webhook }
    }

    pub fn webhook_path(&self) -> String {
        format!("{}/{}", self.app.webhooks_path(), self.webhook)
    }

    pub fn test_path(&self) -> String {
        format!("{}/test", self.app.webhooks_path())
    }

    pub fn project_path(&self) -> String {
        format!("/management/v1/projects/{}", self.app.project.id)
    }

    /// Sends raw bytes as JSON with the management key (`management`) or the app key.
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> helpers::app::ApiResponse {
        let json = ("content-type", "application/json");
        let headers = if path.starts_with("/management") {
            let [id, token] = TestApp::management_key();
            vec![id, token, json]
        } else {
            vec![
                ("x-app-id", self.app.project.app_id.as_str()),
                ("x-app-token", self.app.project.app_token.as_str()),
                json,
            ]
        };
        self.app.raw(method, path, &headers, Some(body)).await
    }

    /// Every route that takes a body, with the method it takes.
    pub fn routes_with_bodies(&self) -> Vec<(Method, String)> {
        vec![
            (Method::POST, "/management/v1/projects".to_owned()),
            (Method::PUT, self.project_path()),
            (Method::POST, self.app.webhooks_path()),
            (Method::PUT, self.webhook_path()),
            (Method::POST, self.test_path()),
            (Method::POST, format!("{}/test", self.webhook_path())),
            (Method::POST, "/v1/events".to_owned()),
            (Method::POST, "/v1/webhook-sendouts/retry".to_owned()),
            (Method::POST, "/v1/distributions".to_owned()),
            (
                Method::PUT,
                "/v1/distributions/distr_01hzx3r8k2m4n6p8q0s2t4v6w8".to_owned(),
            ),
            (Method::POST, "/v1/distributions/preview".to_owned()),
        ]
    }

    pub async fn rows(&self) -> Vec<String> {
        snapshot::rows(&self.db).await
    }
}

pub fn details(body: &Value) -> String {
    body["details"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_oversized_body_is_a_413_on_every_route_that_takes_one_and_changes_nothing() {
    let fixture = Fixture::new().await;
    let before = fixture.rows().await;
    let big = json!({"type": "voucher.created", "name": "x".repeat(2 * LIMIT), "data": {}});
    let bytes = serde_json::to_vec(&big).unwrap();

    for (method, path) in fixture.routes_with_bodies() {
        let answer = fixture
            .send_bytes(method.clone(), &path, bytes.clone())
            .await;
        answer.expect_error(413, "payload_too_large");
    }
    assert_eq!(fixture.rows().await, before);
}

#[tokio::test]
async fn a_chunked_body_with_no_length_is_cut_at_the_limit_too() {
    let fixture = Fixture::new().await;
    let before = fixture.rows().await;
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: sendout\r\nx-app-id: {}\r\nx-app-token: {}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked",
        fixture.app.project.app_id, fixture.app.project.app_token
    );
    // 4 MiB of a JSON string that never closes, in 64 KiB chunks.
    let mut body = raw_http::chunked(b"{\"type\":\"voucher.created\",\"data\":{\"s\":\"", 1);
    body.truncate(body.len() - 5);
    body.extend(raw_http::chunked(&vec![b'a'; 64 * 1024], 64));

    let answer = raw_http::send(&fixture.app.base_url, head.as_bytes(), &body).await;

    assert_eq!(answer.status, 413, "{}", answer.head);
    assert_eq!(answer.json["key"], "payload_too_large");
    assert_eq!(fixture.rows().await, before);
}

#[tokio::test]
async fn deep_nesting_is_a_clear_400_and_changes_nothing() {
    let fixture = Fixture::new().await;
    let before = fixture.rows().await;
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    // Ingest keeps JSON text as received, so it counts the depth itself; typed bodies are
    // refused by the JSON parser (a type mismatch, or its recursion limit).
    let ingest = |body: String| ("/v1/events".to_owned(), body);
    let event = |data: String| format!(r#"{{"type":"voucher.created","data":{data}}}"#);
    for (path, body) in [
        ingest(deep(100_000)),
        ingest(event(format!(r#"{{"x":{}}}"#, deep(30_000)))),
        ingest(event(format!(r#"{{"x":{}}}"#, deep(63)))),
        ingest(format!(
            r#"{{"events":[{{"type":"voucher.created","data":{{}},"event_source":{{"a":{}}}}}]}}"#,
            deep(30_000)
        )),
    ] {
        let answer = fixture
            .send_bytes(Method::POST, &path, body.into_bytes())
            .await;
        let error = answer.expect_error(400, "invalid_payload");
        assert!(
            details(error).contains("nested deeper than 64 levels"),
            "{error}"
        );
    }
    for (path, body) in [
        (
            fixture.app.webhooks_path(),
            format!(
                r#"{{"target_url":"https://x.example","events":{}}}"#,
                deep(30_000)
            ),
        ),
        (
            fixture.test_path(),
            format!(
                r#"{{"target_url":"https://x.example","headers":{{"x-a":{}}}}}"#,
                deep(30_000)
            ),
        ),
        (
            "/management/v1/projects".to_owned(),
            format!(r#"{{"name":{}}}"#, deep(100_000)),
        ),
    ] {
        let answer = fixture
            .send_bytes(Method::POST, &path, body.into_bytes())
            .await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.text);
        let key = answer.json["key"].as_str().unwrap_or_default();
        assert!(
            ["invalid_json", "invalid_payload"].contains(&key),
            "{path}: {}",
            answer.text
        );
    }
    assert_eq!(fixture.rows().await, before);
}

#[tokio::test]
async fn nesting_up_to_the_limit_is_accepted_and_kept() {
    let fixture = Fixture::new().await;
    let deep = format!("{}{}", "[".repeat(62), "]".repeat(62));
    let body = format!(r#"{{"type":"voucher.created","data":{{"x":{deep}}}}}"#);
    let answer = fixture
        .send_bytes(Method::POST, "/v1/events", body.into_bytes())
        .await;
    answer.expect(202);
}

#[tokio::test]
async fn bytes_that_are_not_utf_8_are_a_400_and_change_nothing() {
    let fixture = Fixture::new().await;
    let before = fixture.rows().await;
    let cases: [(String, &[u8]); 4] = [
        (
            "/v1/events".into(),
            b"{\"type\":\"voucher.created\",\"data\":{\"name\":\"\xff\xfe\"}}",
        ),
        (
            "/v1/events".into(),
            b"{\"type\":\"voucher.created\",\"data\":{\"\xc0\xaf\":1}}",
        ),
        (
            fixture.app.webhooks_path(),
            b"{\"target_url\":\"https://x.example/\xed\xa0\x80\",\"events\":[\"*\"]}",
        ),
        (
            "/management/v1/projects".into(),
            b"{\"name\":\"\xf8\x88\x80\x80\x80\"}",
        ),
    ];
    for (path, body) in cases {
        let answer = fixture.send_bytes(Method::POST, &path, body.to_vec()).await;
        let error = answer.expect_error(400, "invalid_json");
        assert!(
            details(error).contains("unicode") || details(error).contains("UTF-8"),
            "{path}: {error}"
        );
    }
    assert_eq!(fixture.rows().await, before);
}

/// Text JSON's grammar allows but strict readers (serde_json, which fans events out to
/// distributions, and many receivers') cannot read: refused, naming the problem.
#[tokio::test]
async fn half_surrogate_pairs_and_numbers_beyond_a_double_are_refused_and_change_nothing() {
    let fixture = Fixture::new().await;
    let before = fixture.rows().await;
    for (data, problem) in [
        (r#"{"name":"\ud800"}"#, "surrogate"),
        (r#"{"\udfff":1}"#, "surrogate"),
        (r#"{"a":["\ud83e"]}"#, "surrogate"),
        (r#"{"amount":1e400}"#, "too large for a double"),
        (
            r#"{"a":[-66666666666666666666E66610]}"#,
            "too large for a double",
        ),
    ] {
        let body = format!(r#"{{"type":"voucher.created","data":{data}}}"#);
        let answer = fixture
            .send_bytes(Method::POST, "/v1/events", body.into_bytes())
            .await;
        let error = answer.expect_error(400, "invalid_payload");
        assert!(details(error).contains(problem), "{data}: {error}");
    }
    assert_eq!(fixture.rows().await, before);
}

#[tokio::test]
async fn whole_escapes_and_numbers_of_any_spelling_are_kept_as_sent() {
    let fixture = Fixture::new().await;
    let data = r#"{"name":"\ud83e\udd80 caf\u00e9 \\ud800","n":[1.10,1e-400,12345678901234567890123,1E+308]}"#;
    let body = format!(r#"{{"type":"voucher.created","data":{data}}}"#);
    let answer = fixture
        .send_bytes(Method::POST, "/v1/events", body.into_bytes())
        .await;
    answer.expect(202);
    let stored = fixture.rows().await;
    assert!(
        stored.iter().any(|row| row.contains(data)),
        "the text is kept as sent"
    );
}

#[test]
fn the_fuzz_corpus_passes_the_fuzz_checks() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    type Check = fn(&[u8]);
    let targets: [(&str, Check); 3] = [
        ("template", fuzz_checks::template),
        ("ingest_body", fuzz_checks::ingest_body),
        ("management_body", fuzz_checks::management_body),
    ];
    for (target, check) in targets {
        let dir = corpus.join(target);
        let mut inputs = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            check(&std::fs::read(&path).unwrap());
            inputs += 1;
        }
        assert!(inputs >= 5, "{target}: only {inputs} corpus inputs");
    }
}
