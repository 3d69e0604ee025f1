//! Distributions delivering: channels with their own event names, headers and designed bodies,
//! raw payloads, conditions, statuses, and the pause after the last retry.

use reqwest::Method;
use sendout::delivery::{worker, Deliverer};
use sendout_core::ids::{DistributionId, ProjectId};
use sendout_core::signature::verify_voucherify;
use sendout_store::prelude::*;
use sendout_store::sqlite::SqliteStore;
use sendout_store::{SendOutFilter, SendOutStatus};
use serde_json::{json, Value};

use crate::distributions::{
    channel, create, distribution, emit, example, id, simple, ORDER_CONFIRMATION,
};
use crate::helpers::app::TestApp;
use crate::helpers::receiver::{Behaviour, Receiver, Reply};
use crate::helpers::DELIVERY;

/// One worker step run beside the app, on the same database: the app under test runs without
/// workers, so the test decides when attempts happen and knows when they are written.
async fn worker_step(app: &TestApp) -> usize {
    let path = app.dir.path().join("sendout.db");
    let store = SqliteStore::open(&path.to_string_lossy())
        .await
        .expect("the app's store opens a second time");
    let deliverer = Deliverer::new(&app.config).expect("the HTTP client");
    let done = worker::deliver_due(&store, &deliverer, &app.config, 100)
        .await
        .expect("a worker step");
    store.close().await;
    done.len()
}

async fn distribution_now(app: &TestApp, id: &str) -> Value {
    app.project_api(Method::GET, &format!("/v1/distributions/{id}"), None)
        .await
        .expect(200)
        .clone()
}

#[tokio::test]
async fn an_order_paid_event_reaches_both_channels_with_their_own_names_headers_and_bodies() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let mut crm = channel(
        "Order-paid",
        &receiver.url("/crm"),
        json!({"mode": "custom", "template": ORDER_CONFIRMATION}),
    );
    crm["headers"] = json!({"x-crm-key": "abc"});
    let mut warehouse = channel(
        "order.paid.warehouse",
        &receiver.url("/warehouse"),
        json!({"mode": "attributes", "attributes": [
            {"path": "order.id", "key": "shipment.order"},
            {"path": "customer.source_id", "key": "shipment.customer"}]}),
    );
    warehouse["headers"] = json!({"x-warehouse": "w1"});
    let made = create(
        &app,
        &distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            vec![crm, warehouse],
        ),
    )
    .await;
    let data = example("customer.order.paid");
    assert_eq!(emit(&app, "customer.order.paid", &data).await, 2);

    receiver.wait_for(2, DELIVERY).await;
    let to_crm = receiver
        .received_on("/crm")
        .pop()
        .expect("the CRM channel got it");
    let to_warehouse = receiver
        .received_on("/warehouse")
        .pop()
        .expect("the warehouse channel got it");
    assert_eq!(to_crm.header("x-crm-key"), Some("abc"));
    assert_eq!(to_crm.header("x-warehouse"), None);
    assert_eq!(to_warehouse.header("x-warehouse"), Some("w1"));
    for got in [&to_crm, &to_warehouse] {
        let signature = got.header("x-voucherify-signature").expect("signed");
        assert!(verify_voucherify(
            &app.project.webhook_token,
            &got.body,
            signature
        ));
    }

    let crm_body: Value = serde_json::from_slice(&to_crm.body).unwrap();
    assert_eq!(crm_body["type"], "Order-paid");
    assert_eq!(crm_body["source"]["id"], made["id"]);
    assert_eq!(crm_body["source"]["object"], "distribution");
    assert_eq!(crm_body["source"]["target_url"], receiver.url("/crm"));
    assert_eq!(crm_body["event"]["type"], "customer.order.paid");
    assert_eq!(to_crm.header("webhook-id"), crm_body["id"].as_str());
    assert_eq!(
        crm_body["data"]["order"],
        json!({"orderId": data["order"]["id"], "total": data["order"]["total_amount"],
               "currency": "USD",
               "message": format!("Thank you for your order, {}!", data["customer"]["name"].as_str().unwrap())})
    );
    let warehouse_body: Value = serde_json::from_slice(&to_warehouse.body).unwrap();
    assert_eq!(warehouse_body["type"], "order.paid.warehouse");
    assert_eq!(
        warehouse_body["data"],
        json!({"shipment": {"order": data["order"]["id"], "customer": data["customer"]["source_id"]}})
    );
    assert_eq!(warehouse_body["event"]["id"], crm_body["event"]["id"]);

    let audit = app.send_outs(&format!("?source_id={}", id(&made))).await;
    assert_eq!(audit["total"], 2);
}

#[tokio::test]
async fn an_event_name_in_any_script_is_kept_and_delivered_as_the_envelopes_type_exactly() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let name = "Zamówienie opłacone — 注文 🎉";
    let made = create(
        &app,
        &distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            vec![channel(
                name,
                &receiver.url("/crm"),
                json!({"mode": "full"}),
            )],
        ),
    )
    .await;
    assert_eq!(made["channels"][0]["event_name"], name);
    let read = distribution_now(&app, &id(&made)).await;
    assert_eq!(read["channels"][0]["event_name"], name);

    assert_eq!(
        emit(&app, "customer.order.paid", &example("customer.order.paid")).await,
        1
    );
    receiver.wait_for(1, DELIVERY).await;
    let got = receiver.received_on("/crm").pop().expect("delivered");
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["type"], name);
    let text = std::str::from_utf8(&got.body).unwrap();
    assert!(
        text.contains(&format!("\"type\":\"{name}\"")),
        "sent as UTF-8 text, not escaped: {text}"
    );
    let audit = app.send_outs(&format!("?source_id={}", id(&made))).await;
    assert_eq!(audit["data"][0]["type"], name);
}

#[tokio::test]
async fn an_event_name_with_a_control_character_or_only_spaces_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    for (name, why) in [
        ("Order\npaid", "U+000A is a control character"),
        ("Order\u{202e}paid", "U+202E is a bidirectional control"),
        ("   ", "it is only spaces"),
        ("", "it is empty"),
    ] {
        let body = distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            vec![channel(
                name,
                "https://crm.example/h",
                json!({"mode": "full"}),
            )],
        );
        let refused = app
            .project_api(Method::POST, "/v1/distributions", Some(&body))
            .await;
        let message = refused.expect_error(400, "invalid_payload")["message"]
            .as_str()
            .unwrap()
            .to_owned();
        let details = refused.expect_error(400, "invalid_payload")["details"].to_string();
        assert!(
            format!("{message} {details}").contains("channels[0].event_name")
                && format!("{message} {details}").contains(why),
            "{name:?}: {message} {details}"
        );
    }
    let list = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(list.expect(200)["total"], 0, "nothing was stored");
}

#[tokio::test]
async fn a_raw_payload_is_the_whole_body_exactly_as_previewed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let payload = json!({"mode": "custom", "raw": true,
        "template": "{\"To\": \"{{customer.email}}\", \"Subject\": \"Thank you for your order, {{customer.name}}\"}"});
    let raw = channel("Order-mail", &receiver.url("/mail"), payload);
    create(
        &app,
        &distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            vec![raw.clone()],
        ),
    )
    .await;
    let data = json!({"customer": {"name": "John Smith", "email": "john.smith@example.com"},
                      "order": {"id": "ord_1"}});
    let preview = app
        .project_api(
            Method::POST,
            "/v1/distributions/preview",
            Some(
                &json!({"trigger": {"event": "customer.order.paid"}, "channel": raw, "data": data}),
            ),
        )
        .await;
    let previewed = preview.expect(200)["body"].as_str().unwrap().to_owned();

    emit(&app, "customer.order.paid", &data).await;
    let got = receiver.wait_for(1, DELIVERY).await.pop().unwrap();
    assert_eq!(got.body_text(), previewed);
    assert_eq!(
        previewed,
        r#"{"To":"john.smith@example.com","Subject":"Thank you for your order, John Smith"}"#
    );
}

#[tokio::test]
async fn paused_and_draft_distributions_make_no_send_outs_while_live_ones_do() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let receiver = Receiver::start().await;
    let mut draft = simple("customer.order.paid", &receiver.url("/draft"));
    draft["status"] = json!("DRAFT");
    let draft = create(&app, &draft).await;
    let paused = create(
        &app,
        &simple("customer.order.paid", &receiver.url("/paused")),
    )
    .await;
    app.project_api(
        Method::POST,
        &format!("/v1/distributions/{}/pause", id(&paused)),
        None,
    )
    .await
    .expect(200);
    let live = create(&app, &simple("customer.order.paid", &receiver.url("/live"))).await;

    assert_eq!(
        emit(&app, "customer.order.paid", &example("customer.order.paid")).await,
        1
    );
    assert_eq!(worker_step(&app).await, 1);
    assert_eq!(receiver.received_on("/live").len(), 1);
    assert_eq!(
        receiver.count(),
        1,
        "nothing went to the draft or the paused one"
    );
    for quiet in [&draft, &paused] {
        let audit = app.send_outs(&format!("?source_id={}", id(quiet))).await;
        assert_eq!(audit["total"], 0);
    }
    let audit = app.send_outs(&format!("?source_id={}", id(&live))).await;
    assert_eq!(audit["data"][0]["status"], "SUCCEEDED");
}

#[tokio::test]
async fn pausing_stops_send_outs_already_made_and_they_fail_with_the_reason() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let receiver = Receiver::start().await;
    let made = create(&app, &simple("customer.order.paid", &receiver.url("/hook"))).await;
    assert_eq!(
        emit(
            &app,
            "customer.order.paid",
            &json!({"order": {"id": "ord_1"}})
        )
        .await,
        1
    );
    app.project_api(
        Method::POST,
        &format!("/v1/distributions/{}/pause", id(&made)),
        None,
    )
    .await
    .expect(200);

    assert_eq!(worker_step(&app).await, 1);
    assert_eq!(receiver.count(), 0);
    let audit = app.send_outs(&format!("?source_id={}", id(&made))).await;
    let send_out = &audit["data"][0];
    assert_eq!(send_out["status"], "FAILED");
    assert!(send_out["failure_reason"]
        .as_str()
        .unwrap()
        .contains("distribution is not live"));
}

#[tokio::test]
async fn a_send_out_made_without_a_body_fails_again_at_once_when_bulk_retried() {
    let app = TestApp::spawn_with(|c| {
        c.workers = false;
        c.limits.fan_out.rendered_payload_bytes = 50;
    })
    .await;
    let receiver = Receiver::start().await;
    let made = create(&app, &simple("customer.order.paid", &receiver.url("/hook"))).await;
    let data = json!({"order": {"id": "x".repeat(100)}});
    assert_eq!(emit(&app, "customer.order.paid", &data).await, 1);
    assert_eq!(worker_step(&app).await, 0, "nothing of it is due");

    let requeued = app
        .project_api(
            Method::POST,
            "/v1/webhook-sendouts/retry",
            Some(&json!({"source_id": id(&made)})),
        )
        .await;
    assert_eq!(requeued.expect(200)["requeued"], 1);
    assert_eq!(worker_step(&app).await, 1);
    assert_eq!(receiver.count(), 0, "no request was made");
    let audit = app.send_outs(&format!("?source_id={}", id(&made))).await;
    let send_out = &audit["data"][0];
    assert_eq!(send_out["status"], "FAILED");
    assert_eq!(send_out["attempt_count"], 0);
    let reason = send_out["failure_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("max_rendered_payload_bytes"), "{reason}");
}

#[tokio::test]
async fn exhausting_the_retries_pauses_the_distribution_and_setting_it_live_resumes() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::status(500)));
    let made = create(
        &app,
        &simple("customer.rewarded.loyalty_points", &receiver.url("/hook")),
    )
    .await;
    let data = example("customer.rewarded.loyalty_points");
    assert_eq!(
        emit(&app, "customer.rewarded.loyalty_points", &data).await,
        1
    );
    // The first attempt and the two retries of the test schedule.
    receiver.wait_for(3, DELIVERY).await;
    // A graceful restart lets the last attempt finish and be written.
    let app = app.restart(|_| {}).await;

    let paused = distribution_now(&app, &id(&made)).await;
    assert_eq!(paused["status"], "PAUSED");
    let reason = paused["paused_reason"].as_str().expect("a reason");
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    assert!(paused["paused_at"].is_string());
    assert_eq!(receiver.count(), 3);
    let audit = app.send_outs(&format!("?source_id={}", id(&made))).await;
    assert_eq!(audit["data"][0]["status"], "FAILED");
    assert_eq!(
        emit(&app, "customer.rewarded.loyalty_points", &data).await,
        0
    );

    receiver.set_default(Behaviour::always(Reply::ok()));
    let live = app
        .project_api(
            Method::POST,
            &format!("/v1/distributions/{}/live", id(&made)),
            None,
        )
        .await;
    let live = live.expect(200);
    assert_eq!(
        (&live["status"], &live["paused_reason"]),
        (&json!("LIVE"), &Value::Null)
    );
    assert_eq!(
        emit(&app, "customer.rewarded.loyalty_points", &data).await,
        1
    );
    let got = receiver.wait_for(4, DELIVERY).await;
    let last: Value = serde_json::from_slice(&got[3].body).unwrap();
    assert_eq!(last["source"]["id"], made["id"]);
}

#[tokio::test]
async fn a_condition_lets_through_only_the_events_it_names() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let receiver = Receiver::start().await;
    let mut segment = simple("customer.segment.entered", &receiver.url("/vip"));
    segment["trigger"]["condition"] = json!({"segment_id": "seg_vip"});
    create(&app, &segment).await;
    let mut campaign = simple(
        "customer.voucher.loyalty_card.points_added",
        &receiver.url("/loyal"),
    );
    campaign["trigger"]["condition"] = json!({"campaign_id": "camp_loyal"});
    create(&app, &campaign).await;

    let mut entered = example("customer.segment.entered");
    entered["segment"]["id"] = json!("seg_other");
    assert_eq!(emit(&app, "customer.segment.entered", &entered).await, 0);
    entered["segment"]["id"] = json!("seg_vip");
    assert_eq!(emit(&app, "customer.segment.entered", &entered).await, 1);

    let mut points = example("customer.voucher.loyalty_card.points_added");
    points["campaign"] = json!({"id": "camp_other"});
    assert_eq!(
        emit(&app, "customer.voucher.loyalty_card.points_added", &points).await,
        0
    );
    points["campaign"] = json!({"id": "camp_loyal"});
    assert_eq!(
        emit(&app, "customer.voucher.loyalty_card.points_added", &points).await,
        1
    );

    assert_eq!(worker_step(&app).await, 2);
    let vip = receiver.received_on("/vip");
    let vip: Value = serde_json::from_slice(&vip[0].body).unwrap();
    assert_eq!(vip["data"]["segment"]["id"], "seg_vip");
    let loyal = receiver.received_on("/loyal");
    let loyal: Value = serde_json::from_slice(&loyal[0].body).unwrap();
    assert_eq!(loyal["data"]["campaign"]["id"], "camp_loyal");
    let all = app.send_outs("").await;
    assert!(all["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == json!(SendOutStatus::Succeeded.as_str())));
}

/// A distribution's send outs are claimed like any other: this reads them from the store the
/// app uses, to check the audit log keeps each channel's index.
#[tokio::test]
async fn the_audit_log_keeps_the_channel_of_each_send_out() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let receiver = Receiver::start().await;
    let channels = vec![
        channel("First", &receiver.url("/a"), json!({"mode": "full"})),
        channel("Second", &receiver.url("/b"), json!({"mode": "full"})),
    ];
    let made = create(
        &app,
        &distribution("customer.order.created", "SEND_AND_PUBLISH_CODES", channels),
    )
    .await;
    emit(
        &app,
        "customer.order.created",
        &example("customer.order.created"),
    )
    .await;
    let path = app.dir.path().join("sendout.db");
    let store = SqliteStore::open(&path.to_string_lossy()).await.unwrap();
    let project = store
        .project_by_app_id(&app.project.app_id)
        .await
        .unwrap()
        .unwrap();
    let filter = SendOutFilter {
        source_id: Some(id(&made)),
        ..SendOutFilter::default()
    };
    let page = store
        .list_send_outs(&project.id, &filter, None, 10)
        .await
        .unwrap();
    let mut seen: Vec<(Option<u32>, String)> = page
        .items
        .iter()
        .map(|s| (s.channel, s.envelope_type.clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (Some(0), "First".to_owned()),
            (Some(1), "Second".to_owned())
        ]
    );
    store.close().await;
}

/// A distribution stored before keys followed the action (here: a plain-message one whose
/// template names the voucher only code-publishing distributions get) still loads, is shown
/// and delivers as it did, the value there when the event carries it; only saving it again
/// applies the rule.
#[tokio::test]
async fn a_stored_distribution_using_a_key_its_action_does_not_get_still_loads_and_delivers() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let receiver = Receiver::start().await;
    let template = json!({"mode": "custom",
        "template": "{\"code\": \"{{voucher.code}}\", \"order\": \"{{order.id}}\"}"});
    let made = create(
        &app,
        &distribution(
            "customer.order.paid",
            "SEND_AND_PUBLISH_CODES",
            vec![channel("Order-paid", &receiver.url("/crm"), template)],
        ),
    )
    .await;
    let distribution_id = id(&made);

    // Written as an older sendout could have: the same spec with a plain-message action.
    let path = app.dir.path().join("sendout.db");
    let store = SqliteStore::open(&path.to_string_lossy())
        .await
        .expect("the app's store opens a second time");
    let project = ProjectId::parse(&app.project.id).expect("a project id");
    let stored_id = DistributionId::parse(&distribution_id).expect("a distribution id");
    let stored = store
        .get_distribution(&project, &stored_id)
        .await
        .expect("stored");
    let mut spec = serde_json::to_value(&stored.spec).expect("a spec serializes");
    spec["action"] = json!("SEND_PLAIN_MESSAGE");
    let spec = serde_json::from_value(spec).expect("a stored spec reads back");
    store
        .update_distribution(&project, &stored_id, spec, None)
        .await
        .expect("updated");
    store.close().await;
    let app = app.restart(|c| c.workers = true).await;

    let shown = distribution_now(&app, &distribution_id).await;
    assert_eq!(shown["action"], "SEND_PLAIN_MESSAGE");
    let mut data = example("customer.order.paid");
    data["voucher"] = json!({"code": "AUTUMN-7"});
    assert_eq!(emit(&app, "customer.order.paid", &data).await, 1);
    let got = receiver.wait_for(1, DELIVERY).await;
    let body: Value = serde_json::from_slice(&got[0].body).expect("a JSON body");
    assert_eq!(body["data"]["code"], "AUTUMN-7");

    // Saving it again as it is applies the rule.
    let again = app
        .project_api(
            Method::PUT,
            &format!("/v1/distributions/{distribution_id}"),
            Some(&shown),
        )
        .await;
    again.expect_error(422, "key_not_for_action");
}
