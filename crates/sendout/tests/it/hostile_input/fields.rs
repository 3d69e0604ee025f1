//! Hostile values in fields, headers and paths: binary and huge header values, unknown
//! fields, invalid target URLs, line breaks in custom headers, odd ids. Each refused in the
//! error shape, naming the field and never echoing a header's value, with the store unchanged.

use reqwest::Method;
use serde_json::{json, Value};

use crate::hostile_input::{details, raw_http, Fixture};

/// The body of `path` (a distribution's create, or a preview) with one channel to `url`
/// with `headers`.
fn distribution(path: &str, url: &str, headers: Value) -> Vec<u8> {
    let channel = json!({"event_name": "Order-paid", "url": url, "headers": headers});
    let trigger = json!({"event": "customer.order.paid"});
    let body = if path.ends_with("/preview") {
        json!({"trigger": trigger, "channel": channel})
    } else {
        json!({"name": "Hostile", "trigger": trigger, "action": "SEND_PLAIN_MESSAGE", "channels": [channel]})
    };
    serde_json::to_vec(&body).unwrap()
}

#[tokio::test]
async fn huge_or_binary_header_values_are_refused_and_change_nothing() {
    let fixture = Fixture::new().await;
    let app = &fixture.app;
    let before = fixture.rows().await;
    let event = br#"{"type":"voucher.created","data":{}}"#;

    // A key that is not text, or far longer than any key: the same 401 as a wrong key.
    let binary = format!(
        "POST /v1/events HTTP/1.1\r\nhost: s\r\nx-app-id: {}\r\nx-app-token: ",
        app.project.app_id
    );
    let mut head = binary.into_bytes();
    head.extend_from_slice(
        b"\xff\xfe\x80secret\r\ncontent-type: application/json\r\ncontent-length: 36",
    );
    let answer = raw_http::send(&app.base_url, &head, event).await;
    assert_eq!(
        (answer.status, answer.json["key"].as_str()),
        (401, Some("unauthorized"))
    );

    let long = "t".repeat(100 * 1024);
    let headers = [
        ("x-app-id", app.project.app_id.as_str()),
        ("x-app-token", long.as_str()),
        ("content-type", "application/json"),
    ];
    app.raw(Method::POST, "/v1/events", &headers, Some(event.to_vec()))
        .await
        .expect_error(401, "unauthorized");

    // A megabyte of header: refused by the HTTP layer before routing (431, no body).
    let huge = format!(
        "GET /v1/webhook-sendouts HTTP/1.1\r\nhost: s\r\nx-app-id: {}\r\nx-padding: {}",
        app.project.app_id,
        "p".repeat(1024 * 1024)
    );
    let answer = raw_http::send(&app.base_url, huge.as_bytes(), b"").await;
    assert_eq!(answer.status, 431, "{}", answer.head);

    // A custom header value longer than 1 KiB, or 21 custom headers.
    let body = json!({"target_url": "https://x.example", "events": ["*"], "headers": {"x-big": "v".repeat(1025)}});
    let error = app
        .management(Method::POST, &app.webhooks_path(), Some(&body))
        .await;
    assert!(details(error.expect_error(400, "invalid_payload")).contains("x-big"));
    let many: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    let body = json!({"target_url": "https://x.example", "events": ["*"], "headers": many});
    app.management(Method::POST, &app.webhooks_path(), Some(&body))
        .await
        .expect_error(400, "invalid_payload");
    assert_eq!(fixture.rows().await, before);
}

#[tokio::test]
async fn unknown_fields_are_refused_where_a_typo_would_go_unnoticed() {
    let fixture = Fixture::new().await;
    let app = &fixture.app;
    let before = fixture.rows().await;
    let cases = [
        (
            Method::POST,
            app.webhooks_path(),
            json!({"target_url": "https://x.example", "event": ["*"], "events": ["*"]}),
            "event",
        ),
        (
            Method::PUT,
            fixture.webhook_path(),
            json!({"target_url": "https://x.example", "events": ["*"], "activ": false}),
            "activ",
        ),
        (
            Method::POST,
            fixture.test_path(),
            json!({"target_url": "https://x.example", "type": "voucher.created"}),
            "type",
        ),
        (
            Method::POST,
            "/v1/webhook-sendouts/retry".into(),
            json!({"source_id": fixture.webhook, "from": "2024-01-01T00:00:00.000Z"}),
            "from",
        ),
        (
            Method::POST,
            "/v1/events".into(),
            json!({"events": [{"type": "voucher.created", "data": {}}], "dry_run": true}),
            "batch",
        ),
    ];
    for (method, path, body, field) in cases {
        let answer = fixture
            .send_bytes(method, &path, serde_json::to_vec(&body).unwrap())
            .await;
        let error = answer.expect_error(400, "invalid_payload");
        assert!(details(error).contains(field), "{path}: {error}");
    }
    assert_eq!(fixture.rows().await, before);

    // Voucherify's own project fields are accepted and ignored (its clients send them).
    let body = json!({"name": "Compatible", "currency": "PLN", "cluster_id": "eu1"});
    let created = app
        .management(Method::POST, "/management/v1/projects", Some(&body))
        .await;
    assert!(created.expect(200).get("currency").is_none());
}

#[tokio::test]
async fn invalid_target_urls_are_refused_on_create_update_and_test_and_change_nothing() {
    let fixture = Fixture::new().await;
    let app = &fixture.app;
    let before = fixture.rows().await;
    let long = format!("https://x.example/{}", "a".repeat(2100));
    for url in [
        "",
        "x.example/hook",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://x.example/hook",
        "http:/x.example/hook",
        "http:\\\\x.example\\hook",
        "https://user:password@x.example/hook",
        "https://x.example/hook#fragment",
        "http://x.example:0/hook",
        "http://x.example:99999/hook",
        "http://[::1/hook",
        "http://exa mple.com/hook",
        "http://x.example/hook\r\nX-Injected: 1",
        "https://",
        &long,
    ] {
        for (method, path, body) in [
            (
                Method::POST,
                app.webhooks_path(),
                json!({"target_url": url, "events": ["*"]}),
            ),
            (
                Method::PUT,
                fixture.webhook_path(),
                json!({"target_url": url, "events": ["*"]}),
            ),
            (
                Method::POST,
                fixture.test_path(),
                json!({"target_url": url}),
            ),
        ] {
            let answer = app.management(method, &path, Some(&body)).await;
            let error = answer.expect_error(400, "invalid_payload");
            assert!(details(error).starts_with("target_url"), "{url}: {error}");
        }
        for path in ["/v1/distributions", "/v1/distributions/preview"] {
            let body = distribution(path, url, json!({}));
            let answer = fixture.send_bytes(Method::POST, path, body).await;
            let error = answer.expect_error(400, "invalid_payload");
            // `channels[0].url` on create, `channel.url` on a preview.
            assert!(details(error).contains("channel"), "{url}: {error}");
            assert!(details(error).contains(".url: "), "{url}: {error}");
        }
    }
    assert_eq!(fixture.rows().await, before);
}

#[tokio::test]
async fn line_breaks_in_custom_headers_are_refused_and_never_echoed() {
    let fixture = Fixture::new().await;
    let app = &fixture.app;
    let before = fixture.rows().await;
    let injected = "X-Injected: evil";
    let bad_headers = [
        json!({"x-a": format!("value\r\n{injected}")}),
        json!({"x-a": format!("value\n{injected}")}),
        json!({"x-a": format!("value\r{injected}")}),
        json!({"x-a": "nul\u{0}byte"}),
        json!({"x-a": "zażółć"}),
        json!({"x-a\r\nx-injected": "evil"}),
        json!({"x a": "v"}),
        json!({"": "v"}),
        json!({"x-a": ""}),
        json!({"x-a": 5}),
    ];
    for headers in bad_headers {
        let url = "https://x.example";
        for (method, path, body) in [
            (
                Method::POST,
                app.webhooks_path(),
                json!({"target_url": url, "events": ["*"], "headers": headers}),
            ),
            (
                Method::PUT,
                fixture.webhook_path(),
                json!({"target_url": url, "events": ["*"], "headers": headers}),
            ),
            (
                Method::POST,
                fixture.test_path(),
                json!({"target_url": url, "headers": headers}),
            ),
        ] {
            let answer = app.management(method, &path, Some(&body)).await;
            let error = answer.expect_error(400, "invalid_payload");
            assert!(details(error).contains("headers"), "{headers}: {error}");
            assert!(
                !answer.text.contains("evil"),
                "{headers}: the value was echoed: {error}"
            );
        }
        for path in ["/v1/distributions", "/v1/distributions/preview"] {
            let body = distribution(path, url, headers.clone());
            let answer = fixture.send_bytes(Method::POST, path, body).await;
            let error = answer.expect_error(400, "invalid_payload");
            assert!(details(error).contains("headers"), "{headers}: {error}");
            assert!(!answer.text.contains("evil"), "{headers}: echoed: {error}");
        }
    }
    assert_eq!(fixture.rows().await, before);
}

#[tokio::test]
async fn odd_ids_in_paths_are_404s_in_the_error_shape() {
    let fixture = Fixture::new().await;
    let app = &fixture.app;
    let long = "w".repeat(10_000);
    for id in [
        "wh_",
        "%00",
        "..%2F..%2Fetc",
        "wh_%0d%0aX-Injected:%20evil",
        &long,
    ] {
        let path = format!("{}/{id}", app.webhooks_path());
        app.management(Method::GET, &path, None)
            .await
            .expect_error(404, "not_found");
        app.project_api(Method::GET, &format!("/v1/webhook-sendouts/{id}"), None)
            .await
            .expect_error(404, "not_found");
    }
    let project = format!("/management/v1/projects/{}", "p".repeat(10_000));
    app.management(Method::GET, &project, None)
        .await
        .expect_error(404, "not_found");
    for query in [
        "limit=99999999999999999999",
        "status=%3Cscript%3E",
        "created_after=yesterday",
        "starting_after_id=wh_x",
        "is_test=maybe",
    ] {
        app.project_api(Method::GET, &format!("/v1/webhook-sendouts?{query}"), None)
            .await
            .expect_error(400, "invalid_query_params");
    }
}
