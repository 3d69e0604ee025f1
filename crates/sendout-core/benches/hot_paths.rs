//! Criterion micro-benchmarks of the pure functions every delivery runs through: building the
//! envelope (once per send out, at ingest), both signatures (once per attempt), rendering a
//! distribution's payload template (once per channel send out) and resolving a path in the
//! catalog (when a template or attribute selection is saved).
//!
//! The inputs are the catalog's own examples (`voucher.published`,
//! `customer.redemption.succeeded`, `customer.order.paid`) and the order confirmation template
//! of the payload designer's examples, so the figures are for payloads of the real size.
//! `cargo bench -p sendout-core` runs them; `docs/PERFORMANCE.md` puts them beside the
//! end-to-end figures of `sendout bench`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sendout_core::catalog::catalog;
use sendout_core::envelope::{self, EventRef, SourceRef};
use sendout_core::ids::{EventId, GroupId, ProjectId, SendOutId, WebhookId};
use sendout_core::signature::{signature_header, voucherify_signature, StandardSecret};
use sendout_core::template::Template;
use sendout_core::time::Timestamp;
use serde_json::Value;

/// The order confirmation template of the payload designer's examples.
const ORDER_TEMPLATE: &str = r#"{
  "order": {
    "orderId": "{{order.id}}",
    "total": {{order.total_amount}},
    "currency": "USD",
    "message": "Thank you for your order, {{customer.name}}!"
  }
}"#;

/// A signing secret of the length sendout generates.
const SECRET: &str = "Yq3rTj0c9BvLkP2sWm8ZxN4aGe7UhD5fRi1oKt6Q";

/// The catalog's example data of `name`.
fn example(name: &str) -> Value {
    catalog()
        .get(name)
        .and_then(|t| t.example_data())
        .cloned()
        .unwrap_or_else(|| panic!("the catalog has an example of {name}"))
}

/// A complete envelope around the example of `name`, as a send out's body.
fn body_of(name: &str) -> String {
    let data = envelope::compact(&example(name));
    let source = envelope::compact(&serde_json::json!({
        "channel": "API",
        "api_key": {"name": "Server-side key", "app_id": "5f3a9c1e-2b4d-4e6f-8a0b-1c2d3e4f5a6b"},
    }));
    let webhook = WebhookId::new();
    let event_id = EventId::new(name);
    let group = GroupId::new();
    envelope::build(
        &SendOutId::new(),
        &ProjectId::new(),
        Timestamp::now(),
        name,
        &data,
        &SourceRef::webhook(&webhook, "https://hooks.example.com/voucherify"),
        &EventRef {
            id: &event_id,
            event_type: name,
            created_at: Timestamp::now(),
            entity_id: Some("v_5Fj9kQ2r"),
            group_id: &group,
            event_source: &source,
        },
    )
}

fn envelopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    for name in ["voucher.published", "customer.redemption.succeeded"] {
        let data = envelope::compact(&example(name));
        let event_source = envelope::compact(&serde_json::json!({"channel": "API"}));
        let webhook = WebhookId::new();
        let (send_out, project, event_id, group_id) = (
            SendOutId::new(),
            ProjectId::new(),
            EventId::new(name),
            GroupId::new(),
        );
        let source = SourceRef::webhook(&webhook, "https://hooks.example.com/voucherify");
        let event = EventRef {
            id: &event_id,
            event_type: name,
            created_at: Timestamp::now(),
            entity_id: Some("v_5Fj9kQ2r"),
            group_id: &group_id,
            event_source: &event_source,
        };
        group.throughput(Throughput::Bytes(data.get().len() as u64));
        group.bench_function(format!("build {name}"), |b| {
            b.iter(|| {
                envelope::build(
                    black_box(&send_out),
                    &project,
                    Timestamp::from_millis(1_704_107_471_111),
                    name,
                    black_box(&data),
                    &source,
                    &event,
                )
            })
        });
    }
    group.bench_function("compact voucher.published data", |b| {
        let data = example("voucher.published");
        b.iter(|| envelope::compact(black_box(&data)))
    });
    group.finish();
}

fn signatures(c: &mut Criterion) {
    let mut group = c.benchmark_group("signature");
    for name in ["voucher.published", "customer.redemption.succeeded"] {
        let body = body_of(name);
        let id = SendOutId::new();
        let key = StandardSecret::from_webhook_token(SECRET);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("x-voucherify-signature {name}"), |b| {
            b.iter(|| voucherify_signature(black_box(SECRET), black_box(body.as_bytes())))
        });
        group.bench_function(format!("webhook-signature {name}"), |b| {
            b.iter(|| {
                signature_header(
                    &[key.key()],
                    black_box(id.as_str()),
                    1_704_107_471,
                    black_box(body.as_bytes()),
                )
            })
        });
    }
    group.finish();
}

fn templates(c: &mut Criterion) {
    let mut group = c.benchmark_group("template");
    let template = Template::parse(ORDER_TEMPLATE).expect("the example template parses");
    let data = example("customer.order.paid");
    group.bench_function("parse order confirmation", |b| {
        b.iter(|| Template::parse(black_box(ORDER_TEMPLATE)))
    });
    group.bench_function("render order confirmation to text", |b| {
        b.iter(|| template.render_to_string(black_box(&data)))
    });
    group.bench_function("render order confirmation to a value", |b| {
        b.iter(|| template.render(black_box(&data)))
    });
    group.finish();
}

fn catalog_paths(c: &mut Criterion) {
    let mut group = c.benchmark_group("catalog");
    let paid = catalog()
        .get("customer.order.paid")
        .expect("the catalog has customer.order.paid");
    group.bench_function("look up an event type", |b| {
        b.iter(|| catalog().get(black_box("customer.redemption.succeeded")))
    });
    group.bench_function("resolve order.total_amount", |b| {
        b.iter(|| paid.resolve_path(black_box("order.total_amount")))
    });
    group.bench_function("resolve order.items[0].product.name", |b| {
        b.iter(|| paid.resolve_path(black_box("order.items[0].product.name")))
    });
    group.finish();
}

criterion_group!(hot_paths, envelopes, signatures, templates, catalog_paths);
criterion_main!(hot_paths);
