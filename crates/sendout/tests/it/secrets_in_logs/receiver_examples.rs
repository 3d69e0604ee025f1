//! The signature checks `docs/SECURITY.md` gives receivers, run as written (the first
//! ```python and ```js blocks) with `python3` and `node` against a real delivery: both
//! schemes verify with the `webhook_token` (Standard Webhooks with its `whsec_` form too), and
//! fail on a body changed by one byte or with another secret.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::json;

use crate::helpers::app::TestApp;
use crate::helpers::receiver::Receiver;

/// The first fenced block of `language` in the document.
fn snippet(document: &str, language: &str) -> String {
    let fence = format!("```{language}\n");
    let start = document
        .find(&fence)
        .unwrap_or_else(|| panic!("SECURITY.md has no {language} example"))
        + fence.len();
    let end = document[start..].find("```").expect("the block ends") + start;
    document[start..end].to_owned()
}

/// Runs `program` on `script` with `args`; returns its stdout, trimmed.
fn run(program: &str, script: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

const PYTHON_CHECK: &str = r#"
import json, sys
token, whsec, body_file, headers_file = sys.argv[1:5]
body = open(body_file, "rb").read()
headers = json.load(open(headers_file))
print(
    verify_voucherify(token, body, headers["x-voucherify-signature"]),
    verify_standard(token, headers, body),
    verify_standard(whsec, headers, body),
)
"#;

const NODE_CHECK: &str = r#"
const fs = require("node:fs");
const [token, whsec, bodyFile, headersFile] = process.argv.slice(2);
const body = fs.readFileSync(bodyFile);
const headers = JSON.parse(fs.readFileSync(headersFile, "utf8"));
console.log(
  verifyVoucherify(token, body, headers["x-voucherify-signature"]),
  verifyStandard(token, headers, body),
  verifyStandard(whsec, headers, body),
);
"#;

#[tokio::test]
async fn the_signature_examples_of_security_md_verify_a_real_delivery() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    app.create_webhook(json!({"target_url": receiver.url("/hook"), "events": ["*"]}))
        .await;
    let event = json!({"type": "voucher.published", "data": {"voucher": {"code": "DOC-1", "amount": 1.10, "note": "zażółć \"quoted\""}}});
    app.ingest(&event).await.expect(202);
    let delivery = receiver
        .wait_for(1, Duration::from_secs(10))
        .await
        .remove(0);

    let dir = tempfile::tempdir().unwrap();
    let headers: serde_json::Map<String, serde_json::Value> = [
        "x-voucherify-signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    ]
    .iter()
    .map(|name| ((*name).to_owned(), json!(delivery.header(name).unwrap())))
    .collect();
    let headers_file = dir.path().join("headers.json");
    std::fs::write(&headers_file, serde_json::to_vec(&headers).unwrap()).unwrap();
    let body_file = dir.path().join("body");
    std::fs::write(&body_file, &delivery.body).unwrap();
    let mut tampered = delivery.body.to_vec();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    let tampered_file = dir.path().join("tampered");
    std::fs::write(&tampered_file, tampered).unwrap();

    let document = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/SECURITY.md"),
    )
    .unwrap();
    let token = app.project.webhook_token.clone();
    let whsec = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(token.as_bytes())
    );
    let other_whsec = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode("another")
    );
    for (program, language, check, yes, no) in [
        (
            "python3",
            "python",
            PYTHON_CHECK,
            "True True True",
            "False False False",
        ),
        (
            "node",
            "js",
            NODE_CHECK,
            "true true true",
            "false false false",
        ),
    ] {
        let script = dir.path().join(format!("verify.{language}"));
        std::fs::write(
            &script,
            format!("{}\n{check}", snippet(&document, language)),
        )
        .unwrap();
        let (body, changed) = (body_file.to_str().unwrap(), tampered_file.to_str().unwrap());
        let headers = headers_file.to_str().unwrap();
        assert_eq!(
            run(program, &script, &[&token, &whsec, body, headers]),
            yes,
            "{program}"
        );
        let tampered = run(program, &script, &[&token, &whsec, changed, headers]);
        assert_eq!(tampered, no, "{program}, a changed body");
        let wrong = run(program, &script, &["another", &other_whsec, body, headers]);
        assert_eq!(wrong, no, "{program}, another secret");
    }
}
