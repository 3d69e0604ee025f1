"""Schemathesis hooks of the OpenAPI conformance run (scripts/openapi-conformance.sh).

A JSON Schema cannot say that each name of a webhook's (or a distribution channel's)
`public_headers` must be one of its `headers`; the document says it in words, and the server
answers 400 naming the field. So that requests the generator means as valid are valid, this
hook drops, from positive cases only, the public header names that are not among the headers.
Negative cases are left exactly as generated.

Likewise a project's `operational_webhook_url` whose host is an address literal that the
target rules refuse (only 127.0.0.0/8 is allowed in the run) is answered 400; positive cases
get the receiver's URL instead.
"""

import ipaddress
import re

import schemathesis

_LITERAL = re.compile(r"^\s*https?://(\d+\.\d+\.\d+\.\d+)(?=[:/?]|\s*$)", re.IGNORECASE)


def _safe_operational_url(target):
    if not isinstance(target, dict) or not isinstance(target.get("operational_webhook_url"), str):
        return
    found = _LITERAL.match(target["operational_webhook_url"])
    if found is None:
        return
    try:
        loopback = ipaddress.ip_address(found.group(1)) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        loopback = False
    if not loopback:
        target["operational_webhook_url"] = "http://127.0.0.1:9000/operational"


def _keep_known_public_headers(target):
    if not isinstance(target, dict) or not isinstance(target.get("public_headers"), list):
        return
    headers = target.get("headers")
    names = {n.lower() for n in headers} if isinstance(headers, dict) else set()
    target["public_headers"] = [
        n for n in target["public_headers"] if isinstance(n, str) and n.lower() in names
    ]


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    body = case.body
    if isinstance(body, dict):
        _keep_known_public_headers(body)
        _safe_operational_url(body)
        channels = body.get("channels")
        for channel in channels if isinstance(channels, list) else [body.get("channel")]:
            _keep_known_public_headers(channel)
    return case
