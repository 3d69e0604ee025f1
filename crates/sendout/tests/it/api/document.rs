//! What the OpenAPI document promises and the server does agree (scripts/openapi-conformance.sh
//! holds the whole document to the server; these are the decisions made for it): an empty
//! query parameter means "not given", a JSON body must be a JSON object where the document
//! says object, a bodiless request to a body route is 415, and a blank project description
//! on create is no description, as it is on update.

use reqwest::Method;
use serde_json::json;

use crate::api::errors::app_with_a_webhook;
use crate::helpers::app::TestApp;

#[tokio::test]
async fn an_empty_query_parameter_means_no_filter_or_the_default() {
    let app = app_with_a_webhook().await;
    let all = app.project_api(Method::GET, "/v1/event-types", None).await;
    let unfiltered = app
        .project_api(Method::GET, "/v1/event-types?channel=", None)
        .await;
    assert_eq!(unfiltered.expect(200)["total"], all.expect(200)["total"]);

    let every_filter_empty = "/v1/webhook-sendouts?status=&source_id=&type=&target_url=\
        &created_after=&created_before=&is_test=&limit=&starting_after_id=";
    let page = app.project_api(Method::GET, every_filter_empty, None).await;
    assert_eq!(page.expect(200)["total"], 1);

    // A value that is there is still checked.
    app.project_api(Method::GET, "/v1/webhook-sendouts?status=LOST", None)
        .await
        .expect_error(400, "invalid_query_params");
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused_and_changes_nothing() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let project = format!("/management/v1/projects/{}", app.project.id);
    for body in [
        json!([null, null]),
        json!({"webhooks_callout_notifications": [null]}),
    ] {
        app.management(Method::PUT, &project, Some(&body))
            .await
            .expect_error(400, "invalid_payload");
    }
    app.management(
        Method::POST,
        &app.webhooks_path(),
        Some(&json!(["https://x.example", ["*"]])),
    )
    .await
    .expect_error(400, "invalid_payload");
    assert_eq!(app.webhook_total().await, 0);
}

#[tokio::test]
async fn a_body_route_called_without_a_body_is_415_and_the_document_says_so() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let [id, token] = TestApp::management_key();
    app.raw(Method::POST, &app.webhooks_path(), &[id, token], None)
        .await
        .expect_error(415, "unsupported_media_type");
    assert_eq!(app.webhook_total().await, 0);

    let document = app.raw(Method::GET, "/openapi.json", &[], None).await;
    let document = document.expect(200);
    let answers =
        &document["paths"]["/management/v1/projects/{projectId}/webhooks"]["post"]["responses"];
    for status in [
        "400", "401", "404", "408", "413", "415", "422", "429", "503",
    ] {
        assert!(answers[status].is_object(), "{status} is documented");
    }
}

#[tokio::test]
async fn a_blank_description_on_create_is_no_description() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let created = app
        .management(
            Method::POST,
            "/management/v1/projects",
            Some(&json!({"name": "Blank", "description": "  "})),
        )
        .await;
    assert_eq!(created.expect(200)["description"], json!(null));
}
