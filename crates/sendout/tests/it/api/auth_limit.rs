//! The limit on failed authentication (issue 16 item 6, docs/SECURITY.md): a client that
//! failed `auth_failure_limit` times within `auth_failure_window`, on any API or the
//! dashboard's sign-in, is refused with 429 and `Retry-After`, right key or not, until its
//! window ends; every other client goes on as before, so nobody can lock everyone out.
//! Clients are told apart by their address: each one here sends from a loopback address of
//! its own (127.0.0.2, 127.0.0.3, …), or through a trusted proxy's `X-Forwarded-For`.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::dashboard::person::Person;
use crate::helpers::app::{TestApp, MANAGEMENT_ID, MANAGEMENT_TOKEN};

const LIMIT: u32 = 5;

fn address(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A client whose requests leave from `from`.
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(address(from))
        .build()
        .unwrap()
}

/// `GET /management/v1/projects` with this token (and any extra headers); the status, the
/// error key and the `Retry-After` header.
async fn management(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    extra: &[(&str, &str)],
) -> (u16, String, Option<u64>) {
    let mut request = client
        .get(format!("{}/management/v1/projects", app.base_url))
        .header("x-management-id", MANAGEMENT_ID)
        .header("x-management-token", token);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let text = response.text().await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let key = body["key"].as_str().unwrap_or_default().to_owned();
    (status, key, retry_after)
}

async fn limited_app(window: Duration, trusted_proxies: &str) -> TestApp {
    let trusted: Vec<ipnet::IpNet> = trusted_proxies
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    TestApp::spawn_with(|c| {
        c.auth_failure_limit = LIMIT;
        c.auth_failure_window = window;
        c.trusted_proxies = trusted;
    })
    .await
}

#[tokio::test]
async fn a_client_that_fails_too_often_is_refused_everywhere_while_others_go_on() {
    let app = limited_app(Duration::from_secs(600), "").await;
    let attacker = client_from("127.0.0.2");
    let other = client_from("127.0.0.3");

    for i in 0..LIMIT {
        let (status, key, _) = management(&app, &attacker, "wrong-token-guess", &[]).await;
        assert_eq!((status, key.as_str()), (401, "unauthorized"), "guess {i}");
    }
    let (status, key, retry_after) = management(&app, &attacker, "another-guess", &[]).await;
    assert_eq!(
        (status, key.as_str()),
        (429, "too_many_failed_authentications")
    );
    let wait = retry_after.expect("a Retry-After header");
    assert!((1..=600).contains(&wait), "{wait}");
    // The right key from the limited client is refused the same way: the answer tells no
    // guess from the right one.
    let (status, _, _) = management(&app, &attacker, MANAGEMENT_TOKEN, &[]).await;
    assert_eq!(status, 429);
    // The project API too, with a right app key.
    let ingest = attacker
        .post(format!("{}/v1/events", app.base_url))
        .header("x-app-id", &app.project.app_id)
        .header("x-app-token", &app.project.app_token)
        .header("content-type", "application/json")
        .body(json!({"type": "voucher.created", "data": {}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(ingest.status().as_u16(), 429);

    // Another client is not limited: its right key works, its wrong one is a plain 401.
    let (status, _, _) = management(&app, &other, MANAGEMENT_TOKEN, &[]).await;
    assert_eq!(status, 200);
    let (status, _, _) = management(&app, &other, "a-wrong-token", &[]).await;
    assert_eq!(status, 401);
    let ingest = app
        .project_api(
            Method::POST,
            "/v1/events",
            Some(&json!({"type": "voucher.created", "data": {}})),
        )
        .await;
    ingest.expect(202);

    // The dashboard's sign-in shares the count: the attacker cannot sign in, even rightly,
    // while someone else can.
    let mut limited = Person::at(&app, Some(address("127.0.0.2")));
    let page = limited.sign_in_with(&[
        ("management_id", MANAGEMENT_ID),
        ("management_token", MANAGEMENT_TOKEN),
    ]);
    let page = page.await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(
        page.body.contains("Too many failed sign-ins"),
        "{}",
        page.body
    );
    let mut person = Person::at(&app, Some(address("127.0.0.3")));
    person.sign_in().await;
}

#[tokio::test]
async fn failed_dashboard_sign_ins_count_toward_the_limit_and_the_window_ends_it() {
    let window = Duration::from_secs(2);
    let app = limited_app(window, "").await;
    let mut guesser = Person::at(&app, Some(address("127.0.0.4")));
    for i in 0..LIMIT {
        let page = guesser
            .sign_in_with(&[
                ("management_id", MANAGEMENT_ID),
                ("management_token", "not-the-token"),
            ])
            .await;
        assert_eq!(page.status, 401, "guess {i}: {}", page.body);
    }
    let page = guesser
        .sign_in_with(&[
            ("management_id", MANAGEMENT_ID),
            ("management_token", MANAGEMENT_TOKEN),
        ])
        .await;
    assert_eq!(page.status, 429, "{}", page.body);
    // The same client on the API: limited by its dashboard failures.
    let (status, _, _) = management(&app, &client_from("127.0.0.4"), MANAGEMENT_TOKEN, &[]).await;
    assert_eq!(status, 429);

    // Once the window that began with its first failure has passed, it may try again.
    tokio::time::sleep(window + Duration::from_millis(200)).await;
    guesser.sign_in().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client_and_elsewhere_it_is_ignored() {
    // 127.0.0.5 plays a reverse proxy the operator trusts; the addresses it forwards are
    // only header text here, never contacted.
    let app = limited_app(Duration::from_secs(600), "127.0.0.5/32").await;
    let proxy = client_from("127.0.0.5");
    let forwarded_for = |client: &'static str| [("x-forwarded-for", client)];

    for _ in 0..LIMIT {
        let answer = management(&app, &proxy, "guess", &forwarded_for("198.51.100.7")).await;
        assert_eq!(answer.0, 401);
    }
    let answer = management(
        &app,
        &proxy,
        MANAGEMENT_TOKEN,
        &forwarded_for("198.51.100.7"),
    )
    .await;
    assert_eq!(answer.0, 429, "the forwarded client is limited");
    // Another client behind the same proxy is not; nor is the proxy's own address.
    let answer = management(
        &app,
        &proxy,
        MANAGEMENT_TOKEN,
        &forwarded_for("198.51.100.8"),
    )
    .await;
    assert_eq!(answer.0, 200);
    let answer = management(&app, &proxy, MANAGEMENT_TOKEN, &[]).await;
    assert_eq!(answer.0, 200);

    // From an untrusted address the header is ignored: forging another client's address
    // neither escapes the limit nor puts it on someone else.
    let direct = client_from("127.0.0.6");
    for i in 0..LIMIT {
        let forged = format!("203.0.113.{i}");
        let answer = management(&app, &direct, "guess", &[("x-forwarded-for", &forged)]).await;
        assert_eq!(answer.0, 401);
    }
    let answer = management(
        &app,
        &direct,
        MANAGEMENT_TOKEN,
        &forwarded_for("203.0.113.99"),
    )
    .await;
    assert_eq!(answer.0, 429, "counted for its own address");
    let answer = management(
        &app,
        &proxy,
        MANAGEMENT_TOKEN,
        &forwarded_for("203.0.113.0"),
    )
    .await;
    assert_eq!(answer.0, 200, "the forged address was never blamed");
}
