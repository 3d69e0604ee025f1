#!/usr/bin/env python3
"""Drives sendout's management API with Voucherify's official Python SDK, unchanged.

Every management call sendout supports goes through the SDK's typed `ManagementApi` methods;
each answer is parsed by the SDK's pydantic models (which refuse a wrong type or an event name
outside the spec's enum) and then checked against what was asked. The first failure ends the
run with exit status 1 and a message naming the step and the cause.

Run by crates/sendout/tests/it/voucherify_clients.rs against a real sendout; by hand:

    scripts/setup/compat.sh
    SENDOUT_URL=http://127.0.0.1:8080 SENDOUT_MANAGEMENT_ID=… SENDOUT_MANAGEMENT_TOKEN=… \\
        target/compat-venv/bin/python tests/compat/voucherify_management.py
"""

import datetime
import importlib.metadata
import json
import os
import sys

import pydantic
import voucherify
from voucherify import models as m
from voucherify.exceptions import ApiException

# Names in the spelling of the spec's enum: the only spelling the SDK lets a client send.
MISSPELLED = ["campaign.vouchers.aded", "voucher.loyalty_card.points_aded"]


class Failure(Exception):
    """A check that did not hold."""


def check(condition, what):
    if not condition:
        raise Failure(what)


def expect_equal(actual, expected, what):
    check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def expect_type(value, cls, what):
    check(isinstance(value, cls), f"{what}: expected a {cls.__name__}, got {type(value).__name__}")


def expect_status(call, status, what):
    """Runs `call`, which must raise the SDK's ApiException with `status`; returns its body."""
    try:
        call()
    except ApiException as error:
        expect_equal(error.status, status, f"{what}: status")
        body = json.loads(error.body or "null")
        expect_equal(body.get("code") if isinstance(body, dict) else None, status, f"{what}: code")
        return body
    raise Failure(f"{what}: expected a {status}, the call succeeded")


def expect_answer(info, status, what):
    """Checks an `ApiResponse` of a `*_with_http_info` call: status and content type."""
    expect_equal(info.status_code, status, f"{what}: status")
    if status != 204:
        content_type = (info.headers or {}).get("content-type", "")
        check(content_type.startswith("application/json"), f"{what}: content type {content_type!r}")


class Run:
    """The steps, in order; `step` names the one running, for the failure message."""

    def __init__(self, api, rejecting_api):
        self.api = api
        self.rejecting_api = rejecting_api
        self.step = "start"

    def ok(self, message):
        print(f"ok: {self.step}: {message}", flush=True)

    def run(self):
        project = self.projects()
        self.webhooks(project)
        self.deletion(project)

    def projects(self):
        api = self.api
        self.step = "create_project"
        request = m.ManagementProjectsCreateRequestBody(
            name="SDK compat",
            description="made by the Python SDK",
            timezone="Europe/Warsaw",
            currency="EUR",
            case_sensitive_codes=True,
            webhooks_callout_notifications=m.ManagementProjectsCreateRequestBodyWebhooksCalloutNotifications(
                webhooks=m.ManagementProjectsCreateRequestBodyWebhooksCalloutNotificationsWebhooks(
                    email=True, emails=["ops@example.com"], in_app=True
                ),
                distributions=m.ManagementProjectsCreateRequestBodyWebhooksCalloutNotificationsDistributions(
                    email=False, emails=[], in_app=False
                ),
            ),
        )
        info = api.create_project_with_http_info(request)
        expect_answer(info, 200, "create_project")
        created = info.data
        expect_type(created, m.ManagementProjectsCreateResponseBody, "create_project")
        check(created.id and created.id.startswith("proj_"), f"project id {created.id!r}")
        expect_equal(created.name, "SDK compat", "name")
        expect_equal(created.description, "made by the Python SDK", "description")
        expect_equal(created.timezone, "Europe/Warsaw", "timezone")
        expect_equal(created.webhook_version, "v2024-01-01", "webhook_version")
        check(created.webhook_token, "create_project shows the webhook_token")
        notices = created.webhooks_callout_notifications
        check(notices is not None, "create_project shows webhooks_callout_notifications")
        expect_equal(notices.webhooks.email, True, "webhooks email")
        expect_equal(notices.webhooks.emails, ["ops@example.com"], "webhooks emails")
        expect_equal(notices.distributions.in_app, False, "distributions in_app")
        key = created.server_side_key
        check(key is not None and key.app_id and key.app_token, f"server_side_key {key!r}")
        self.ok(created.id)

        self.step = "list_projects"
        listed = api.list_projects()
        expect_type(listed, m.ManagementProjectsListResponseBody, "list_projects")
        expect_equal(listed.object, "list", "object")
        expect_equal(listed.data_ref, "data", "data_ref")
        expect_equal(listed.total, len(listed.data), "total")
        for item in listed.data:
            expect_type(item, m.ManagementProject, "list_projects item")
        mine = [p for p in listed.data if p.id == created.id]
        expect_equal(len(mine), 1, "the new project in the list")
        expect_equal(mine[0].webhook_token, created.webhook_token, "listed webhook_token")
        self.ok(f"{listed.total} projects")

        self.step = "get_project"
        read = api.get_project(created.id)
        expect_type(read, m.ManagementProjectsGetResponseBody, "get_project")
        for field in ["id", "name", "description", "timezone", "webhook_version", "webhook_token"]:
            expect_equal(getattr(read, field), getattr(created, field), field)
        self.ok(read.name)

        self.step = "update_project"
        updated = api.update_project(
            created.id,
            m.ManagementProjectsUpdateRequestBody(name="SDK compat renamed", timezone="Etc/UTC"),
        )
        expect_type(updated, m.ManagementProjectsUpdateResponseBody, "update_project")
        expect_equal(updated.name, "SDK compat renamed", "name")
        expect_equal(updated.timezone, "Etc/UTC", "timezone")
        expect_equal(updated.description, created.description, "description kept")
        expect_equal(
            updated.webhooks_callout_notifications.webhooks.emails,
            ["ops@example.com"],
            "callout notifications kept",
        )
        noticed = api.update_project(
            created.id,
            m.ManagementProjectsUpdateRequestBody(
                webhooks_callout_notifications=m.ManagementProjectsUpdateRequestBodyWebhooksCalloutNotifications(
                    distributions=m.ManagementProjectsUpdateRequestBodyWebhooksCalloutNotificationsDistributions(
                        email=True, emails=["crm@example.com"], in_app=True
                    )
                )
            ),
        )
        read_back = api.get_project(created.id).webhooks_callout_notifications
        expect_equal(read_back.distributions.emails, ["crm@example.com"], "distributions emails")
        expect_equal(read_back.webhooks.emails, ["ops@example.com"], "webhooks part kept")
        expect_equal(noticed.name, "SDK compat renamed", "name kept")
        cleared = api.update_project(
            created.id, m.ManagementProjectsUpdateRequestBody(description=None)
        )
        expect_equal(cleared.description, None, "description cleared by null")
        expect_equal(cleared.name, "SDK compat renamed", "name kept")
        self.ok(updated.name)
        return created

    def webhooks(self, project):
        api = self.api
        self.step = "create_webhook"
        events = ["voucher.published", *MISSPELLED]
        request = m.ManagementProjectsWebhooksCreateRequestBody(
            target_url="https://example.com/sdk/hooks", events=events, active=True
        )
        info = api.create_webhook_with_http_info(project.id, request)
        expect_answer(info, 200, "create_webhook")
        webhook = info.data
        expect_type(webhook, m.ManagementProjectsWebhooksCreateResponseBody, "create_webhook")
        check(webhook.id and webhook.id.startswith("wh_"), f"webhook id {webhook.id!r}")
        expect_equal(webhook.object, "webhook", "object")
        expect_type(webhook.created_at, datetime.datetime, "created_at")
        check(webhook.created_at.tzinfo is not None, "created_at has a time zone")
        expect_equal(webhook.target_url, "https://example.com/sdk/hooks", "target_url")
        expect_equal(webhook.events, events, "events, in the spec's spelling")
        expect_equal(webhook.active, True, "active")
        self.ok(webhook.id)

        self.step = "create_webhook for every event"
        # The SDK checks names against its enum before sending, and `*` is not in it:
        # pydantic's unvalidated constructor sends it all the same.
        every = api.create_webhook(
            project.id,
            m.ManagementProjectsWebhooksCreateRequestBody.model_construct(
                target_url="https://example.com/sdk/all", events=["*"], active=True
            ),
        )
        expect_type(every, m.ManagementProjectsWebhooksCreateResponseBody, "create_webhook")
        check("*" not in every.events, "`*` reads as the spec's names")
        expect_equal(len(every.events), 60, "every event of the spec")
        expect_equal(len(set(every.events)), 60, "distinct names")
        check(set(MISSPELLED) <= set(every.events), "the spec's spellings")
        self.ok(f"{every.id} with {len(every.events)} events")

        self.step = "list_webhooks"
        listed = api.list_webhooks(project.id)
        expect_type(listed, m.ManagementProjectsWebhooksListResponseBody, "list_webhooks")
        expect_equal(listed.object, "list", "object")
        expect_equal(listed.data_ref, "data", "data_ref")
        expect_equal(listed.total, 2, "total")
        for item in listed.data:
            expect_type(item, m.ManagementProjectsWebhook, "list_webhooks item")
        expect_equal({w.id for w in listed.data}, {webhook.id, every.id}, "listed ids")
        self.ok(f"{listed.total} webhooks")

        self.step = "get_webhook"
        read = api.get_webhook(project.id, webhook.id)
        expect_type(read, m.ManagementProjectsWebhooksGetResponseBody, "get_webhook")
        for field in ["id", "object", "created_at", "target_url", "events", "active"]:
            expect_equal(getattr(read, field), getattr(webhook, field), field)
        self.ok(read.id)

        self.step = "update_webhook"
        replaced = api.update_webhook(
            project.id,
            webhook.id,
            m.ManagementProjectsWebhooksUpdateRequestBody(
                target_url="https://example.com/sdk/v2",
                events=["redemption.succeeded"],
                active=False,
            ),
        )
        expect_type(replaced, m.ManagementProjectsWebhooksUpdateResponseBody, "update_webhook")
        expect_equal(replaced.events, ["redemption.succeeded"], "events replaced")
        expect_equal(replaced.target_url, "https://example.com/sdk/v2", "target_url")
        expect_equal(replaced.active, False, "active toggled off")
        expect_equal(replaced.created_at, webhook.created_at, "created_at kept")
        enabled = api.update_webhook(
            project.id,
            webhook.id,
            m.ManagementProjectsWebhooksUpdateRequestBody(
                target_url="https://example.com/sdk/v2",
                events=["voucher.gift.balance_aded", "redemption.succeeded"],
                active=True,
            ),
        )
        expect_equal(
            enabled.events, ["voucher.gift.balance_aded", "redemption.succeeded"], "events"
        )
        expect_equal(enabled.active, True, "active toggled on")
        expect_equal(api.get_webhook(project.id, webhook.id).events, enabled.events, "stored")
        self.ok("events replaced, active toggled")

        self.step = "update_webhook for every event, put back as read"
        info = api.update_webhook_with_http_info(
            project.id,
            every.id,
            m.ManagementProjectsWebhooksUpdateRequestBody(
                target_url=every.target_url, events=every.events, active=False
            ),
        )
        expect_answer(info, 200, "update_webhook")
        expect_equal(info.data.events, every.events, "events")
        expect_equal(info.data.active, False, "active")
        expect_equal(json.loads(info.raw_data)["all_events"], True, "still every event")
        self.ok(every.id)

        self.step = "delete_webhook"
        info = api.delete_webhook_with_http_info(project.id, webhook.id)
        expect_answer(info, 204, "delete_webhook")
        expect_equal(info.data, None, "no body")
        body = expect_status(lambda: api.get_webhook(project.id, webhook.id), 404, "get deleted")
        expect_equal(body.get("key"), "not_found", "key")
        expect_equal(api.list_webhooks(project.id).total, 1, "webhooks left")
        self.ok(webhook.id)

    def deletion(self, project):
        api = self.api
        self.step = "a wrong management token"
        expect_status(lambda: self.rejecting_api.get_project(project.id), 401, "wrong token")
        self.ok("401")

        self.step = "delete_project"
        info = api.delete_project_with_http_info(project.id)
        expect_answer(info, 204, "delete_project")
        expect_status(lambda: api.get_project(project.id), 404, "get deleted")
        check(
            all(p.id != project.id for p in api.list_projects().data), "gone from the list"
        )
        self.ok(project.id)


def client(url, management_id, management_token):
    configuration = voucherify.Configuration(
        host=url,
        api_key={"X-Management-Id": management_id, "X-Management-Token": management_token},
    )
    return voucherify.ManagementApi(voucherify.ApiClient(configuration))


def main():
    try:
        url = os.environ["SENDOUT_URL"].rstrip("/")
        management_id = os.environ["SENDOUT_MANAGEMENT_ID"]
        management_token = os.environ["SENDOUT_MANAGEMENT_TOKEN"]
    except KeyError as missing:
        print(f"error: set {missing.args[0]}", file=sys.stderr)
        return 2
    version = importlib.metadata.version("voucherify")
    print(f"voucherify {version} (Python SDK) against {url}", flush=True)
    run = Run(
        client(url, management_id, management_token),
        client(url, management_id, management_token + "-wrong"),
    )
    try:
        run.run()
    except pydantic.ValidationError as error:
        cause = f"the SDK refused sendout's answer (pydantic validation):\n{error}"
    except ApiException as error:
        cause = f"sendout answered {error.status} {error.reason}: {error.body}"
    except Failure as error:
        cause = str(error)
    except Exception as error:  # a connection error, a bug: still one clear line
        cause = f"{type(error).__name__}: {error}"
    else:
        print("all management calls passed")
        return 0
    print(f"FAILED at {run.step}: {cause}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
