//! Signing in and out over plain HTTP: redirects, cookie attributes, the failure limit, the
//! dashboard password, and the sign-in form's own token.

use reqwest::header::LOCATION;
use reqwest::Method;
use sendout::config::Secret;

use crate::dashboard::person::{settings_path, Person};
use crate::helpers::app::{TestApp, MANAGEMENT_ID, MANAGEMENT_TOKEN};

#[tokio::test]
async fn a_page_without_a_session_sends_the_person_to_sign_in_and_back() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    let page = person.get(&settings_path(&app)).await;
    assert_eq!(page.status, 303);
    let location = page.header(LOCATION.as_str()).to_owned();
    assert!(
        location.starts_with("/dashboard/login?next=%2Fdashboard%2Fprojects%2F"),
        "{location}"
    );

    let form = person.get(&location).await;
    let next = format!("name=\"next\" value=\"{}\"", settings_path(&app));
    assert!(
        form.body.contains(&next),
        "the form keeps where to go back to"
    );
    let csrf = form.csrf();
    let signed_in = person
        .post(
            "/dashboard/login",
            &[
                ("csrf", &csrf),
                ("next", &settings_path(&app)),
                ("management_id", MANAGEMENT_ID),
                ("management_token", MANAGEMENT_TOKEN),
            ],
        )
        .await;
    assert_eq!(signed_in.header("location"), settings_path(&app));
    assert_eq!(person.get(&settings_path(&app)).await.status, 200);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_strict_and_secure_behind_https() {
    let app = TestApp::spawn().await;
    let page = Person::new(&app).sign_in().await;
    let cookie = page
        .set_cookie("sendout_session")
        .expect("a session cookie");
    assert!(
        cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        cookie.contains("; Path=/dashboard") && !cookie.contains("Secure"),
        "{cookie}"
    );

    let mut behind_proxy = Person::new(&app);
    let form = behind_proxy
        .request(
            Method::GET,
            "/dashboard/login",
            None,
            &[("x-forwarded-proto", "https")],
        )
        .await;
    let csrf = form.csrf();
    let page = behind_proxy
        .request(
            Method::POST,
            "/dashboard/login",
            Some(&[
                ("csrf", &csrf),
                ("management_id", MANAGEMENT_ID),
                ("management_token", MANAGEMENT_TOKEN),
            ]),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    let cookie = page
        .set_cookie("sendout_session")
        .expect("a session cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

/// Wrong credentials start no session; the limit on repeated failures, per client and shared
/// with the APIs, is api::auth_limit's.
#[tokio::test]
async fn wrong_credentials_are_refused_without_a_session() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    for _ in 0..3 {
        let page = person
            .sign_in_with(&[
                ("management_id", MANAGEMENT_ID),
                ("management_token", "wrong"),
            ])
            .await;
        assert_eq!(page.status, 401);
        assert!(page.body.contains("Those credentials are not valid."));
        assert!(page.set_cookie("sendout_session").is_none());
    }
    person.sign_in().await;
}

#[tokio::test]
async fn the_dashboard_password_signs_in_only_when_the_operator_set_one() {
    let without = TestApp::spawn().await;
    let mut person = Person::new(&without);
    assert!(!person
        .get("/dashboard/login")
        .await
        .body
        .contains("name=\"password\""));
    assert_eq!(person.sign_in_with(&[("password", "")]).await.status, 401);

    let app =
        TestApp::spawn_with(|c| c.dashboard_password = Some(Secret::new("correct horse"))).await;
    let mut person = Person::new(&app);
    assert!(person
        .get("/dashboard/login")
        .await
        .body
        .contains("name=\"password\""));
    assert_eq!(
        person
            .sign_in_with(&[("password", "wrong horse")])
            .await
            .status,
        401
    );
    assert_eq!(
        person
            .sign_in_with(&[("password", "correct horse")])
            .await
            .status,
        303
    );
    let settings = person.get(&settings_path(&app)).await;
    assert!(settings.body.contains("Signed in with dashboard password"));
}

#[tokio::test]
async fn a_sign_in_without_its_form_token_is_refused() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    let page = person
        .post(
            "/dashboard/login",
            &[
                ("csrf", "forged"),
                ("management_id", MANAGEMENT_ID),
                ("management_token", MANAGEMENT_TOKEN),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    assert!(page.set_cookie("sendout_session").is_none());
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let session = person
        .cookies
        .iter()
        .find(|(n, _)| n == "sendout_session")
        .cloned()
        .unwrap();
    let token = person.get(&settings_path(&app)).await.csrf();
    let out = person.post("/dashboard/logout", &[("csrf", &token)]).await;
    assert_eq!(out.header("location"), "/dashboard/login?signed_out=1");
    assert!(out
        .set_cookie("sendout_session")
        .unwrap()
        .contains("Max-Age=0"));

    // The old cookie, sent again, opens nothing.
    person.cookies.push(session);
    assert_eq!(person.get(&settings_path(&app)).await.status, 303);
}
