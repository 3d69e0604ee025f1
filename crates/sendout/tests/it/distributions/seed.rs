//! The loyalty and referral campaign distributions of seeds/003 are ordinary distributions on
//! their triggers: each can be created, narrowed to its campaign, and delivered.

use serde_json::{json, Value};

use crate::distributions::{channel, create, distribution, emit, example};
use crate::helpers::app::TestApp;
use crate::helpers::receiver::Receiver;
use crate::helpers::DELIVERY;

/// One of the seed's campaign distributions: its trigger, a template on that trigger's data,
/// and the event data to emit (the catalog example, or a made-up one where there is none).
struct SeedDistribution {
    name: &'static str,
    trigger: &'static str,
    template: &'static str,
    data: Value,
}

fn seed_distributions() -> Vec<SeedDistribution> {
    let referred = json!({
        "customer": {"id": "cust_new", "name": "Nina New"},
        "referrer": {"id": "cust_old", "name": "Olga Old"},
        "campaign": {"id": "camp_referral"},
    });
    vec![
        SeedDistribution {
            name: "Send loyalty program code",
            trigger: "customer.publication.succeeded",
            template: r#"{"code": "{{voucher.code}}", "customer": "{{customer.name}}"}"#,
            data: example("customer.publication.succeeded"),
        },
        SeedDistribution {
            name: "Loyalty points gained",
            trigger: "customer.rewarded.loyalty_points",
            template: r#"{"customer": "{{customer.id}}", "card": "{{voucher.code}}"}"#,
            data: example("customer.rewarded.loyalty_points"),
        },
        SeedDistribution {
            name: "Reward redeemed",
            trigger: "customer.reward_redemptions.completed",
            template: r#"{"customer": "{{customer.id}}", "reward": {{reward}}}"#,
            data: example("customer.reward_redemptions.completed"),
        },
        SeedDistribution {
            name: "Send referral code to the referrer",
            trigger: "customer.publication.succeeded",
            template: r#"{"referral_code": "{{voucher.code}}", "to": "{{customer.id}}"}"#,
            data: example("customer.publication.succeeded"),
        },
        SeedDistribution {
            name: "Customer referred",
            trigger: "customer.referred",
            template: r#"{"referred": "{{customer.name}}", "by": "{{referrer.name}}"}"#,
            data: referred,
        },
    ]
}

#[tokio::test]
async fn each_loyalty_and_referral_distribution_of_the_seed_is_created_and_delivered() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let seeds = seed_distributions();
    for (i, seed) in seeds.iter().enumerate() {
        let campaign = seed.data["campaign"]["id"]
            .as_str()
            .expect("every seed event names its campaign")
            .to_owned();
        let path = format!("/seed-{i}");
        let mut body = distribution(
            seed.trigger,
            "SEND_PLAIN_MESSAGE",
            vec![channel(
                &format!("seed-{i}"),
                &receiver.url(&path),
                json!({"mode": "custom", "template": seed.template}),
            )],
        );
        body["name"] = json!(seed.name);
        // Each is narrowed to its own campaign, as a program's distributions are; the two
        // publication distributions get their own campaign ids so they stay apart.
        let campaign = if i == 3 {
            "camp_referral_program".to_owned()
        } else {
            campaign
        };
        body["trigger"]["condition"] = json!({"campaign_id": campaign});
        let created = create(&app, &body).await;
        assert_eq!(created["name"], seed.name);
    }

    for (i, seed) in seeds.iter().enumerate() {
        let mut data = seed.data.clone();
        if i == 3 {
            data["campaign"]["id"] = json!("camp_referral_program");
        }
        assert_eq!(emit(&app, seed.trigger, &data).await, 1, "{}", seed.name);
    }
    receiver.wait_for(seeds.len(), DELIVERY).await;
    for (i, seed) in seeds.iter().enumerate() {
        let got = receiver.received_on(&format!("/seed-{i}"));
        assert_eq!(got.len(), 1, "{}", seed.name);
        let body: Value = serde_json::from_slice(&got[0].body).expect("JSON");
        assert_eq!(body["type"], format!("seed-{i}"));
        assert_eq!(body["event"]["type"], seed.trigger);
        assert!(body["data"].is_object(), "{}: {body}", seed.name);
    }
    let referred = receiver.received_on("/seed-4");
    let referred: Value = serde_json::from_slice(&referred[0].body).expect("JSON");
    assert_eq!(
        referred["data"],
        json!({"referred": "Nina New", "by": "Olga Old"})
    );
    let redeemed = receiver.received_on("/seed-2");
    let redeemed: Value = serde_json::from_slice(&redeemed[0].body).expect("JSON");
    assert_eq!(
        redeemed["data"]["reward"],
        example("customer.reward_redemptions.completed")["reward"]
    );
}
