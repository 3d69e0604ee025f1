"""Creates, through sendout's own API, what the OpenAPI conformance run needs so that path
parameters resolve to real objects, and writes schemathesis' configuration naming them.

Run by scripts/openapi-conformance.sh against a fresh server:

    python seed.py BASE_URL RECEIVER_URL CONFIG_OUT

The management key comes from SENDOUT_MANAGEMENT_ID / SENDOUT_MANAGEMENT_TOKEN. It makes:
- a project (its app key authenticates the project API), a webhook for every event pointing
  at the loopback receiver, a live distribution, and a few events, hence send outs;
- a second webhook and distribution, which the run may change or delete.
"""

import json
import os
import sys
import urllib.error
import urllib.request


def call(base, method, path, headers, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    for name, value in headers.items():
        request.add_header(name, value)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        sys.exit(f"seed: {method} {path} answered {error.code}: {error.read().decode()}")
    return json.loads(text) if text else None


def toml_string(value):
    return json.dumps(value)


def main():
    base, receiver, config_out = sys.argv[1:4]
    management = {
        "X-Management-Id": os.environ["SENDOUT_MANAGEMENT_ID"],
        "X-Management-Token": os.environ["SENDOUT_MANAGEMENT_TOKEN"],
    }

    def project():
        return call(base, "POST", "/management/v1/projects", management,
                    {"name": "Conformance", "timezone": "Europe/Warsaw"})

    def webhook(project_id):
        return call(base, "POST", f"/management/v1/projects/{project_id}/webhooks", management,
                    {"target_url": receiver, "events": ["*"], "active": True})["id"]

    main_project = project()
    project_id = main_project["id"]
    app = {
        "X-App-Id": main_project["server_side_key"]["app_id"],
        "X-App-Token": main_project["server_side_key"]["app_token"],
    }
    webhook_id, _ = webhook(project_id), webhook(project_id)

    def distribution():
        return call(base, "POST", "/v1/distributions", app, {
            "name": "Order paid",
            "trigger": {"event": "customer.order.paid"},
            "action": "SEND_PLAIN_MESSAGE",
            "channels": [{"event_name": "Order-paid", "url": receiver,
                          "payload": {"mode": "full"}}],
        })["id"]

    distribution_id, _ = distribution(), distribution()
    for event_type in ["voucher.published", "customer.order.paid", "redemption.succeeded"]:
        call(base, "POST", "/v1/events", app, {"type": event_type, "data": {}})
    send_outs = call(base, "GET", "/v1/webhook-sendouts?limit=1", app)["data"]
    if not send_outs:
        sys.exit("seed: ingest made no send out")
    send_out_id = send_outs[0]["id"]

    def parameters(**values):
        return ", ".join(f'"path.{k}" = {toml_string(v)}' for k, v in values.items())

    known = parameters(projectId=project_id, webhookId=webhook_id,
                       distributionId=distribution_id, sendOutId=send_out_id,
                       name="voucher.published")
    # Every operation but DELETE works on the seeded objects. DELETEs of webhooks and
    # distributions get generated ids (404) and, in the stateful phase, the ids of objects
    # the run found or created.
    config = f"""# Written by tests/openapi/seed.py for scripts/openapi-conformance.sh.
base-url = {toml_string(base)}

[auth.openapi.management_id]
api_key = {toml_string(management["X-Management-Id"])}
[auth.openapi.management_token]
api_key = {toml_string(management["X-Management-Token"])}
[auth.openapi.app_id]
api_key = {toml_string(app["X-App-Id"])}
[auth.openapi.app_token]
api_key = {toml_string(app["X-App-Token"])}

[[operations]]
include-method-regex = "^(GET|PUT|POST)$"
parameters = {{ {known} }}

# DELETE of a project is pointed at a well-formed id of no project, and left out of the
# stateful phase: there it could take the seeded project (listed by GET) and its key away
# from every other operation.
[[operations]]
include-name = "DELETE /management/v1/projects/{{projectId}}"
parameters = {{ "path.projectId" = "proj_01m8xvyegbws9atvd0xb6rhtm5" }}
phases.stateful.enabled = false

# A test of a webhook without `event_type` sends the webhook's first event; when that type
# has no example (a webhook the run created for such types), the test needs `data` and is
# answered 422 test_data_required without it. The document says so; the request alone
# cannot show it.
[[operations]]
include-name = "POST /management/v1/projects/{{projectId}}/webhooks/{{webhookId}}/test"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404", "422", "429"]

# A distribution's trigger must support its action, a condition may name only keys its
# trigger carries, a payload's mode decides which of `attributes` and `template` it takes,
# and a template must compile against the trigger's keys: rules across fields that a JSON
# Schema cannot state. The document states each in words and the server answers 400 or 422
# naming the field; schema-valid requests that break one of them are expected to get those.
[[operations]]
include-path-regex = "^/v1/distributions(/preview|/[^/]+)?$"
include-method-regex = "^(PUT|POST)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "422", "429"]
"""
    with open(config_out, "w", encoding="utf-8") as out:
        out.write(config)


if __name__ == "__main__":
    main()
