//! In-app notices in a real browser: the header's unread count, the Notices page, marking
//! read one and all (CSRF-checked forms), and a disabled webhook enabled again with what
//! failed retried in one step.

use crate::dashboard::browser;
use crate::dashboard::webhooks::disabled_by_gone;

#[tokio::test]
async fn notices_show_unread_in_the_header_are_marked_read_and_a_webhook_recovers_in_one_step() {
    let (app, id) = disabled_by_gone().await;
    let project = app.project.id.clone();
    let hook = id.clone();
    browser::session(&app, "notices", |b| async move {
        b.sign_in().await;
        assert_eq!(b.text("#unread-count").await, "1");
        b.click("#notices-tab").await;
        let notice = b.text("li[data-kind='webhook.disabled']").await;
        assert!(notice.contains("Webhook disabled"), "{notice}");
        assert!(notice.contains(&hook) && notice.contains("410"), "{notice}");
        assert!(b.text("#email-off").await.contains("Email is off"));
        b.click("li[data-kind='webhook.disabled'] form button")
            .await;
        b.text_with("#flash", "1 notice marked read").await;
        assert!(!b.exists("#unread-count").await, "nothing is unread");
        assert!(!b.exists("#mark-all-read").await);

        b.goto(&format!(
            "/dashboard/projects/{project}/webhooks/{hook}/edit"
        ))
        .await;
        b.click("#recover").await;
        let flash = b.text_with("#flash", "enabled again").await;
        assert!(flash.contains("1 failed send out"), "{flash}");
        // The recovery is a notice too, cleared with the rest.
        assert_eq!(b.text("#unread-count").await, "1");
        b.click("#notices-tab").await;
        b.ready("li[data-kind='webhook.enabled']").await;
        b.click("#mark-all-read").await;
        b.text_with("#flash", "1 notice marked read").await;
        assert!(!b.exists("#unread-count").await);
    })
    .await;
    let path = format!("{}/{id}", app.webhooks_path());
    let now = app.management(reqwest::Method::GET, &path, None).await;
    assert_eq!(now.expect(200)["active"], true);
    let due = app.send_outs("?status=RETRYING").await["total"].clone();
    let pending = app.send_outs("?status=PENDING").await["total"].clone();
    assert_eq!(
        due.as_u64().unwrap_or(0) + pending.as_u64().unwrap_or(0),
        1,
        "the failed send out is due again"
    );
}
