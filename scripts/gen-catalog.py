#!/usr/bin/env python3
"""Generate sendout's event catalog from the Voucherify documents.

Usage (from the repository root):

    python3 scripts/gen-catalog.py            # (re)write the catalog
    python3 scripts/gen-catalog.py --check    # exit 1 if the committed catalog is stale
    python3 scripts/gen-catalog.py --shared /path/to/shared

Output: crates/sendout-core/src/catalog/catalog.json (compiled into sendout-core with
`include_str!`). Only the Python 3.11 standard library is used, and the output is a pure
function of the inputs, so `--check` can run in CI.

Inputs (under the shared directory, `../shared` relative to the repository root by default):

- seeds/000_*, seeds/001_*: the project-settings webhook events and their groups. The seeds
  are prose, so the lists below (PROJECT_SETTINGS) are read off them by hand: titles as the
  seeds write them, event names from the seeds' tables and text (e.g. "Customer confirmed" is
  `customer.confirmed`, "Earning rule assigned" is `campaign.earning_rule.assigned`).
  `customer.consents.given`/`revoked` come from seed 001; `customer.updated`, absent from the
  seeds, is added by the current spec (PRODUCT.md §2) and listed last in its group.
- seeds/003_*: the distribution triggers grouped by "Related Activity" as in the seed's table,
  with the trigger x purpose support matrix (DISTRIBUTION below).
- reference/voucherify/OpenAPIWebhooks.json: the `data` schema of every event with a public
  schema; `$ref`s, allOf/anyOf/oneOf (union of keys), nested objects and arrays are resolved
  into a key tree (see `Tree` below).
- reference/voucherify/event_index.json: event name -> data schema, channels, example file;
  `events_without_public_schema` gives "proxy" key lists for some types without a public schema
  (their named schemas are resolved from OpenAPIWebhooks.json where they exist there).
- reference/voucherify/examples/*.json: example `data` per type (the `*.REMOVED_2024-09.json`
  files are the examples of the consent events removed from the spec in 2024-09). The full
  envelope examples (`*.full_envelope.*.json`) are real captures: their `data` keys, like the
  data examples' keys, are merged into the key tree where the spec misses them (marked
  `"from_example": true`). Where the spec declares an object and the example shows an array
  of such objects (`voucher.loyalty_card.points_expired`'s `buckets`), the tree follows the
  example and the type's `note` says so.
- reference/voucherify/management.json: the webhook `events` enum, whose misspellings
  (`...aded`) become aliases.

Built examples (BUILT_EXAMPLES): a distribution trigger that Voucherify documents only by its
keys (`customer.referred`: "documentation in progress", no example) gets an example built by
this script, so that its preview and test webhook show real-looking data. Each top-level key
of its proxy key list takes the value that the published examples of other types carry under
a key of the same named schema (`referrer`, a `SimpleCustomer`, takes one of the customers of
the examples), the first one in event_index.json's order that is not null and not already
used by another key of the same example (values are told apart by their `id`); the value is then cut down to the keys the type's
key tree documents, so every path of it is valid for the type. Such an entry has
`"example_source": "built"`, `"example_file": null`, and a `note` naming where each key's
value comes from; an example taken from the examples directory has `"example_source":
"voucherify"`.

Output format:

    {"generated_by": ..., "spec_source": ...,
     "groups": {"project_settings": [{"name": group, "types": [name, ...]}, ...],
                "distribution": [...]},        # seed order
     "aliases": {other spelling: canonical name},
     "types": [{"name", "channels", "listings": [{"channel", "group", "title"}],
                "has_public_schema", "schema", "keys_source", "note"?,
                "purposes"?, "conditions"?,      # distribution triggers only
                "purpose_keys"?,                 # distribution triggers whose data depends
                                                 # on the action (see below)
                "data": key tree, "example_file", "example_source"?, "example"}]}

Key tree format (each node is a JSON object, every field optional):

    {"type": "object|array|string|integer|number|boolean|null|any" (unions joined by "|"),
     "keys": {name: node, ...},   # known keys of an object, in schema order
     "items": node,               # the element of an array
     "open": true,                # any key below this node is valid (free-form object such as
                                  # `metadata`, additionalProperties, a recursive reference, or
                                  # a type whose data shape is unknown)
     "recursive": "SchemaName",   # the schema refers to itself here; the node is left open
     "from_example": true}        # the key is only known from an example, not from the spec

Where the keys of a type come from (`keys_source`):
- "schema": its public data schema;
- "proxy_schema": no public schema, but event_index.json names the schemas of its keys;
- "example": no schema at all, keys read off the example;
- "unknown": nothing known; the root is open (any path is accepted), so templates are not
  rejected for lack of documentation.

Narrowing conditions of distribution triggers (`conditions`, each `{key, path}` where `path`
is the data path the condition value is compared with):
- `segment_id` (path `segment.id`): the trigger's data carries a top-level `segment` (the
  segment triggers `customer.segment.entered`/`left`);
- `campaign_id` (path `campaign.id`): the trigger's own data carries a top-level `campaign`.
  A `campaign` contributed only by `EventDistributionScenarios*` (the campaign of the
  distribution's *action*, present on segment, order, custom-event and manual triggers) does
  not count: it is not something the event happened in. The order triggers
  (`customer.order.*`, ORDER_CAMPAIGN_TRIGGERS) are the exception: PRODUCT §6's own example
  narrows `customer.order.paid` by `campaign_id`, and that scenario `campaign` is the only
  campaign their data carries at the top level (their `redemption` nests a voucher's or a
  promotion tier's campaign id at different depths, and is null for orders paid without one).
  An order event whose data has no `campaign.id` does not match a `campaign_id` condition;
- `custom_event` (path `event.type`): the trigger carries a custom event and its definition
  (`event` + `event_schema`), i.e. `customer.custom_event`;
- `loyalty_tier_id` (path `loyalty_tier.id`, or `loyalty_tier_to.id` for upgrades and
  downgrades, the tier the customer ends up in): the tier triggers `customer.loyalty.tier.*`.
  `customer.rewarded.loyalty_points` also carries a `loyalty_tier`, but it is the holder's
  current tier, not what the trigger is about, so it does not get this condition.

Keys that depend on the distribution's action (`purpose_keys`, `{key: [purpose, ...]}`): seed
001 says a distribution's payload has shared objects and objects that depend on its purpose.
The spec marks the purpose-dependent ones: the top-level keys a trigger's data schema takes
from `EventDistributionScenarios*` (SCENARIO_PREFIX), each described as "related to the
distribution with a promotion [or send voucher] purpose". A key's purposes are read off that
description (SCENARIO_PURPOSES: "promotion" is NOTIFY_ABOUT_PROMOTION, "send voucher" is
SEND_AND_PUBLISH_CODES), kept to the purposes the trigger supports, and listed only when
that is not all of them. A key some other part of the schema also declares is shared (the
trigger's own `voucher`, say) and is not listed. Every other key is shared.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "crates" / "sendout-core" / "src" / "catalog" / "catalog.json"

PS = "project_settings"
DIST = "distribution"
NOTIFY = "NOTIFY_ABOUT_PROMOTION"
SEND_CODES = "SEND_AND_PUBLISH_CODES"
PLAIN = "SEND_PLAIN_MESSAGE"

# Project-settings events: (group, [(name, title)]) in seed order (seeds 000 and 001).
PROJECT_SETTINGS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Redemption", [
        ("redemption.succeeded", "Redemption succeeded"),
        ("redemption.failed", "Redemption failed"),
        ("redemption.rollback.succeeded", "Redemption rollback succeeded"),
        ("redemption.rollback.failed", "Redemption rollback failed"),
    ]),
    ("Publication", [
        ("publication.succeeded", "Publication succeeded"),
    ]),
    ("Customer", [
        ("customer.created", "Customer created"),
        ("customer.deleted", "Customer deleted"),
        ("customer.rewarded", "Customer rewarded"),
        ("customer.rewarded.loyalty_points", "Customer rewarded loyalty points"),
        ("customer.confirmed", "Customer confirmed"),
        ("customer.consents.given", "Customer consent given"),
        ("customer.consents.revoked", "Customer consent revoked"),
        ("customer.updated", "Customer updated"),
    ]),
    ("Voucher", [
        ("voucher.created", "Voucher created"),
        ("voucher.disabled", "Voucher disabled"),
        ("voucher.enabled", "Voucher enabled"),
        ("voucher.updated", "Voucher updated"),
        ("voucher.published", "Voucher published"),
        ("voucher.loyalty_card.pending_points.activated",
         "Voucher loyalty card pending points activated"),
        ("voucher.loyalty_card.pending_points.added", "Voucher loyalty card pending points added"),
        ("voucher.loyalty_card.pending_points.canceled",
         "Voucher loyalty card pending points canceled"),
        ("voucher.loyalty_card.pending_points.updated",
         "Voucher loyalty card pending points updated"),
        ("voucher.loyalty_card.points_added", "Voucher loyalty card points added"),
        ("voucher.loyalty_card.points_expired", "Voucher loyalty card points expired"),
        ("voucher.loyalty_card.transaction.created", "Voucher loyalty card transaction created"),
        ("voucher.gift.transaction.created", "Voucher gift transaction created"),
        ("voucher.gift.balance_added", "Voucher gift balance added"),
        ("voucher.deleted", "Voucher deleted"),
    ]),
    ("Campaign", [
        ("campaign.created", "Campaign created"),
        ("campaign.vouchers.generation.completed", "Campaign voucher generation completed"),
        ("campaign.disabled", "Campaign disabled"),
        ("campaign.enabled", "Campaign enabled"),
        ("campaign.updated", "Campaign updated"),
        ("campaign.deleted", "Campaign deleted"),
        ("campaign.vouchers.added", "Campaign vouchers added"),
    ]),
    ("Promotion tier", [
        ("campaign.promotion_tier.created", "Promotion tier created"),
        ("campaign.promotion_tier.disabled", "Promotion tier disabled"),
        ("campaign.promotion_tier.enabled", "Promotion tier enabled"),
        ("campaign.promotion_tier.updated", "Promotion tier updated"),
        ("campaign.promotion_tier.deleted", "Promotion tier deleted"),
    ]),
    ("Business validation rule", [
        ("business_validation_rule.created", "Business validation rule created"),
        ("business_validation_rule.updated", "Business validation rule updated"),
        ("business_validation_rule.assignment.created",
         "Business validation rule assignment created"),
        ("business_validation_rule.assignment.deleted",
         "Business validation rule assignment deleted"),
        ("business_validation_rule.deleted", "Business validation rule deleted"),
    ]),
    ("Earning rule", [
        ("campaign.earning_rule.assigned", "Earning rule assigned"),
        ("campaign.earning_rule.deleted", "Earning rule deleted"),
        ("campaign.earning_rule.disabled", "Earning rule disabled"),
        ("campaign.earning_rule.enabled", "Earning rule enabled"),
        ("campaign.earning_rule.updated", "Earning rule updated"),
    ]),
    ("Loyalty tier", [
        ("campaign.loyalty_tier.created", "Loyalty tier created"),
        ("campaign.loyalty_tier.deleted", "Loyalty tier deleted"),
        ("campaign.loyalty_tier.updated", "Loyalty tier updated"),
    ]),
    ("Promotion stack", [
        ("campaign.promotion_stack.created", "Promotion stack created"),
        ("campaign.promotion_stack.updated", "Promotion stack updated"),
    ]),
    ("Referral tier", [
        ("campaign.referral_tier.created", "Referral tier created"),
        ("campaign.referral_tier.deleted", "Referral tier deleted"),
        ("campaign.referral_tier.updated", "Referral tier updated"),
    ]),
    ("Reward assignment", [
        ("campaign.reward.assignment.created", "Reward assignment created"),
        ("campaign.reward.assignment.deleted", "Reward assignment deleted"),
        ("campaign.reward.assignment.updated", "Reward assignment updated"),
    ]),
    ("Voucher generation", [
        ("campaign.vouchers.generation.failed", "Voucher generation failed"),
        ("campaign.vouchers.generation.started", "Voucher generation started"),
    ]),
]

ALL3 = [NOTIFY, SEND_CODES, PLAIN]
PLAIN_ONLY = [PLAIN]

# Distribution triggers: (group, [(name, title, purposes)]) in the order of seed 003's table,
# titles from its "Event" column. Row -> name mapping follows the seed's lists and links
# (e.g. "Gift credits adjusted" is listed as "Gift credits added",
# /customer/voucher-gift-balance-added). The table has 26 rows for 27 types: its
# "Reward redemption" row links to `customer.rewarded`, and `customer.reward_redemptions.completed`
# ("Reward redeemed" of loyalty campaigns, same seed) has no row of its own; it is put in the same
# group with the same purposes.
DISTRIBUTION: list[tuple[str, list[tuple[str, str, list[str]]]]] = [
    ("Segment", [
        ("customer.segment.entered", "Customer entered segment", ALL3),
        ("customer.segment.left", "Customer left segment", ALL3),
    ]),
    ("Cart", [
        ("customer.order.updated", "Order update", ALL3),
        ("customer.order.paid", "Order has been paid", ALL3),
        ("customer.order.created", "Order creation", ALL3),
        ("customer.order.canceled", "Order cancelled", ALL3),
    ]),
    ("Voucher", [
        ("customer.voucher.gift.balance_added", "Gift credits adjusted", PLAIN_ONLY),
        ("customer.voucher.loyalty_card.points_added", "Loyalty points adjusted", PLAIN_ONLY),
        ("customer.voucher.loyalty_card.points_expired", "Loyalty points expired", PLAIN_ONLY),
        ("customer.voucher.loyalty_card.pending_points.added", "Loyalty pending points adjusted",
         PLAIN_ONLY),
        ("customer.voucher.loyalty_card.pending_points.updated", "Loyalty pending points updated",
         PLAIN_ONLY),
        ("customer.voucher.loyalty_card.pending_points.activated",
         "Loyalty pending points activated", PLAIN_ONLY),
        ("customer.voucher.loyalty_card.pending_points.canceled",
         "Loyalty pending points canceled", PLAIN_ONLY),
        ("customer.redemption.succeeded", "Voucher redeemed", PLAIN_ONLY),
        ("customer.redemption.rollback.succeeded", "Voucher redemption rolled back", PLAIN_ONLY),
    ]),
    ("Customer rewards", [
        ("customer.rewarded", "Reward redemption", PLAIN_ONLY),
        ("customer.reward_redemptions.completed", "Reward redeemed (loyalty campaign)",
         PLAIN_ONLY),
    ]),
    ("Manual messages", [
        ("manual_distribution_schedule", "One or bulk messages", [NOTIFY, SEND_CODES]),
    ]),
    ("Publishing codes", [
        ("customer.publication.succeeded", "Successfully published", PLAIN_ONLY),
    ]),
    ("Custom events", [
        ("customer.custom_event", "Custom event", ALL3),
    ]),
    ("Loyalty tier related activity", [
        ("customer.loyalty.tier.joined", "Customer entered loyalty tier structure", PLAIN_ONLY),
        ("customer.loyalty.tier.left", "Customer left loyalty tier structure", PLAIN_ONLY),
        ("customer.loyalty.tier.upgraded", "Customer loyalty tier upgraded", PLAIN_ONLY),
        ("customer.loyalty.tier.downgraded", "Customer loyalty tier downgraded", PLAIN_ONLY),
        ("customer.loyalty.tier.prolonged", "Customer loyalty tier prolonged", PLAIN_ONLY),
        ("customer.rewarded.loyalty_points", "Customer rewarded loyalty points", PLAIN_ONLY),
    ]),
    ("Referral related activity", [
        ("customer.referred", "Customer was referred", PLAIN_ONLY),
    ]),
]

# Other spellings found in the documents, beyond the generated `...aded` ones:
# - the spec's distribution `event.type` enum writes `customer.entered.segment`;
# - seed 003's list of distribution event types writes `loyalty_card.pending_points.updated`
#   where its data list has `customer.voucher.loyalty_card.pending_points.updated`.
EXTRA_ALIASES = {
    "customer.entered.segment": "customer.segment.entered",
    "loyalty_card.pending_points.updated": "customer.voucher.loyalty_card.pending_points.updated",
}

NOTES = {
    "customer.consents.given": "Removed from the public spec on 2024-09-06; keys and example "
                               "from the last published version.",
    "customer.consents.revoked": "Removed from the public spec on 2024-09-06; keys and example "
                                 "from the last published version.",
    "customer.updated": "Not in the seeds' lists; added by the current Voucherify spec.",
    "customer.reward_redemptions.completed": "No row of its own in the seed's support matrix; "
                                             "listed under loyalty campaigns as \"Reward "
                                             "redeemed\".",
    "customer.voucher.loyalty_card.pending_points.updated": "Seed 003 also names it "
                                                            "`loyalty_card.pending_points.updated`.",
}

# Types whose example is built from the documented keys (see "Built examples" above).
BUILT_EXAMPLES = {"customer.referred"}

SCENARIO_PREFIX = "EventDistributionScenarios"

# Triggers whose scenario `campaign` (see SCENARIO_PREFIX) still gives them `campaign_id`: the
# order triggers, so that PRODUCT §6's example (`customer.order.paid` narrowed by
# `campaign_id`) is accepted.
ORDER_CAMPAIGN_TRIGGERS = {
    "customer.order.created",
    "customer.order.updated",
    "customer.order.paid",
    "customer.order.canceled",
}


# How a scenario key's description names the purposes it belongs to (see the module docs).
SCENARIO_PURPOSES = {
    "promotion": "NOTIFY_ABOUT_PROMOTION",
    "send voucher": "SEND_AND_PUBLISH_CODES",
}


class GenError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Key trees
# ---------------------------------------------------------------------------------------------


class Tree:
    """A node of a key tree while it is being built (see the module docs for the JSON form)."""

    def __init__(self) -> None:
        self.types: list[str] = []
        self.keys: dict[str, Tree] = {}
        self.items: Tree | None = None
        self.open = False
        self.recursive: str | None = None
        self.from_example = False

    def add_type(self, t: str) -> None:
        if t not in self.types:
            self.types.append(t)

    def merge(self, other: "Tree") -> None:
        for t in other.types:
            self.add_type(t)
        for name, child in other.keys.items():
            if name in self.keys:
                self.keys[name].merge(child)
            else:
                self.keys[name] = child
        if other.items is not None:
            if self.items is None:
                self.items = other.items
            else:
                self.items.merge(other.items)
        self.open = self.open or other.open
        self.recursive = self.recursive or other.recursive
        self.from_example = self.from_example and other.from_example

    def to_json(self) -> dict:
        out: dict = {}
        types = [t for t in TYPE_ORDER if t in self.types]
        if types:
            out["type"] = "|".join(types)
        if self.keys:
            out["keys"] = {k: v.to_json() for k, v in self.keys.items()}
        if self.items is not None:
            out["items"] = self.items.to_json()
        if self.open:
            out["open"] = True
        if self.recursive:
            out["recursive"] = self.recursive
        if self.from_example:
            out["from_example"] = True
        return out


TYPE_ORDER = ["object", "array", "string", "integer", "number", "boolean", "null", "any"]


class Resolver:
    def __init__(self, spec: dict) -> None:
        self.schemas = spec["components"]["schemas"]

    def ref_name(self, ref: str) -> str:
        prefix = "#/components/schemas/"
        if not ref.startswith(prefix):
            raise GenError(f"unsupported $ref {ref!r}")
        name = ref[len(prefix):]
        if name not in self.schemas:
            raise GenError(f"dangling $ref {ref!r}")
        return name

    def tree(self, schema: object, stack: tuple[str, ...] = ()) -> Tree:
        """The key tree of `schema`; `stack` holds the `$ref`s being expanded (recursion guard)."""
        node = Tree()
        if schema is True or schema == {}:
            node.add_type("any")
            node.open = True
            return node
        if not isinstance(schema, dict):
            raise GenError(f"unexpected schema {schema!r}")

        structural = False
        if "$ref" in schema:
            structural = True
            name = self.ref_name(schema["$ref"])
            if name in stack:
                node.add_type("object")
                node.open = True
                node.recursive = name
            else:
                node.merge(self.tree(self.schemas[name], stack + (name,)))
        for combinator in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(combinator, []):
                structural = True
                node.merge(self.tree(sub, stack))

        declared = schema.get("type")
        declared = [declared] if isinstance(declared, str) else list(declared or [])
        for t in declared:
            node.add_type(t)
        if schema.get("nullable") is True and declared:
            node.add_type("null")

        props = schema.get("properties")
        if isinstance(props, dict):
            node.add_type("object")
            for name, sub in props.items():
                child = self.tree(sub, stack)
                if name in node.keys:
                    node.keys[name].merge(child)
                else:
                    node.keys[name] = child
        additional = schema.get("additionalProperties")
        if additional not in (None, False):
            # A map with arbitrary keys: any key below is valid.
            node.add_type("object")
            node.open = True
        if "items" in schema:
            node.add_type("array")
            item = self.tree(schema["items"], stack)
            if node.items is None:
                node.items = item
            else:
                node.items.merge(item)
        elif "array" in declared and node.items is None:
            node.items = Tree()
            node.items.add_type("any")
            node.items.open = True

        free_form = (
            "object" in declared
            and not isinstance(props, dict)
            and not structural
            and additional is not False
        )
        if free_form:
            node.open = True
        if not declared and not structural and not isinstance(props, dict) and "items" not in schema:
            if "enum" in schema or "const" in schema:
                node.add_type("string")
            else:
                node.add_type("any")
                node.open = True
        return node

    def named(self, name: str) -> Tree:
        return self.tree({"$ref": f"#/components/schemas/{name}"})


def tree_from_value(value: object) -> Tree:
    """The key tree of an example value; only its root is marked `from_example`."""
    node = _tree_from_value(value)
    node.from_example = True
    return node


def _tree_from_value(value: object) -> Tree:
    node = Tree()
    if isinstance(value, dict):
        node.add_type("object")
        for k, v in value.items():
            node.keys[k] = _tree_from_value(v)
    elif isinstance(value, list):
        node.add_type("array")
        item = Tree()
        for v in value:
            item.merge(_tree_from_value(v))
        if not value:
            item.add_type("any")
            item.open = True
        node.items = item
    elif value is None:
        node.add_type("null")
    elif isinstance(value, bool):
        node.add_type("boolean")
    elif isinstance(value, int):
        node.add_type("integer")
    elif isinstance(value, float):
        node.add_type("number")
    else:
        node.add_type("string")
    return node


def merge_example(node: Tree, value: object, path: str, fixes: list[str]) -> None:
    """Add the keys `value` has and `node` lacks, marked `from_example`; open nodes take all.

    Where the spec declares an object and the example shows an array of such objects (the
    spec describing one element), the node becomes that array; `fixes` records it.
    """
    if node.open:
        return
    if isinstance(value, dict):
        if node.types and "object" not in node.types and "any" not in node.types:
            return
        node.add_type("object")
        for k, v in value.items():
            child_path = f"{path}.{k}" if path else k
            if k in node.keys:
                merge_example(node.keys[k], v, child_path, fixes)
            else:
                node.keys[k] = tree_from_value(v)
    elif isinstance(value, list):
        if node.items is None:
            if value and node.keys and all(isinstance(v, dict) for v in value):
                element = Tree()
                element.types = [t for t in node.types if t != "null"]
                element.keys = node.keys
                node.types = ["array"]
                node.keys = {}
                node.items = element
                fixes.append(f"`{path}` is an object in the spec and an array of such objects "
                             "in the example; the key tree follows the example.")
            elif node.types and "array" not in node.types:
                return
            else:
                node.add_type("array")
                node.items = tree_from_value(value).items
                node.items.from_example = True
                return
        for v in value:
            merge_example(node.items, v, f"{path}[]", fixes)


# ---------------------------------------------------------------------------------------------
# The catalog
# ---------------------------------------------------------------------------------------------


def load_json(path: Path) -> object:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def one_seed(seeds: Path, prefix: str) -> str:
    found = sorted(seeds.glob(f"{prefix}_*"))
    if len(found) != 1:
        raise GenError(f"expected one seeds/{prefix}_* file, found {len(found)}")
    return found[0].read_text(encoding="utf-8")


def check_seeds(shared: Path) -> None:
    """Fail loudly if the hand-copied lists drift from the seeds they were read from."""
    seeds = shared / "seeds"
    text = one_seed(seeds, "000") + one_seed(seeds, "001")
    for group, types in PROJECT_SETTINGS:
        for name, title in types:
            if name == "customer.updated":
                continue
            if title not in text:
                raise GenError(f"title {title!r} ({name}) not found in seeds 000/001")
            if f"`{name}`" not in text and f"<code>{name}</code>" not in text:
                raise GenError(f"event name {name!r} not found in seeds 000/001")
    dist = one_seed(seeds, "003").replace("\\_", "_")
    for group, types in DISTRIBUTION:
        for name, title, _ in types:
            if name not in dist:
                raise GenError(f"distribution event {name!r} not found in seed 003")
            if title.split(" (")[0] not in dist:
                raise GenError(f"distribution title {title!r} not found in seed 003")
    matrix_rows = [
        line for line in dist.splitlines()
        if line.startswith("| ") and ("✅" in line or "❌" in line)
    ]
    rows = {}
    for line in matrix_rows:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[1]] = [p for p, c in zip(ALL3, cells[2:5]) if c == "✅"]
    for group, types in DISTRIBUTION:
        for name, title, purposes in types:
            row_title = "Reward redemption" if name == "customer.reward_redemptions.completed" else title
            if rows.get(row_title) != purposes:
                raise GenError(f"support matrix row {row_title!r}: seed says {rows.get(row_title)}, "
                               f"generator says {purposes}")
            group_cells = [line for line in matrix_rows if f"| {row_title} " in line]
            if not any(line.startswith(f"| {group} ") for line in group_cells):
                raise GenError(f"{row_title!r} is not in group {group!r} in seed 003")


def top_level_sources(resolver: Resolver, schema_name: str) -> dict[str, set[str]]:
    """For each top-level key of a data schema: the names of the `allOf` parts that declare it."""
    out: dict[str, set[str]] = {}

    def visit(schema: dict, label: str) -> None:
        if "$ref" in schema:
            name = resolver.ref_name(schema["$ref"])
            visit(resolver.schemas[name], name)
        for combinator in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(combinator, []):
                visit(sub, label)
        for key in schema.get("properties", {}) or {}:
            out.setdefault(key, set()).add(label)

    visit(resolver.schemas[schema_name], schema_name)
    return out


def purpose_keys_for(name: str, resolver: "Resolver", sources: dict[str, set[str]],
                     purposes: list[str]) -> dict[str, list[str]]:
    """The top-level keys only some of the trigger's purposes provide (see the module docs)."""
    out: dict[str, list[str]] = {}
    for key, declared_by in sources.items():
        if not declared_by or not all(s.startswith(SCENARIO_PREFIX) for s in declared_by):
            continue
        found: set[str] = set()
        for scenario in declared_by:
            description = resolver.schemas[scenario]["properties"][key].get("description", "")
            match = re.search(r"with an? (.+?) purpose", description)
            if match is None:
                raise GenError(f"{name}: {scenario}.{key} does not say which purpose it is for")
            for words in re.split(r"\s+or\s+", match.group(1)):
                if words not in SCENARIO_PURPOSES:
                    raise GenError(f"{name}: {scenario}.{key}: unknown purpose {words!r}")
                found.add(SCENARIO_PURPOSES[words])
        kept = [p for p in purposes if p in found]
        if kept != purposes:
            out[key] = kept
    return out


def conditions_for(name: str, keys: dict[str, Tree], sources: dict[str, set[str]]) -> list[dict]:
    conditions = []
    if "segment" in keys:
        conditions.append({"key": "segment_id", "path": "segment.id"})
    own_campaign = "campaign" in keys and (
        not sources.get("campaign")
        or any(not s.startswith(SCENARIO_PREFIX) for s in sources["campaign"])
        or name in ORDER_CAMPAIGN_TRIGGERS
    )
    if own_campaign:
        conditions.append({"key": "campaign_id", "path": "campaign.id"})
    if "event" in keys and "event_schema" in keys:
        conditions.append({"key": "custom_event", "path": "event.type"})
    if name.startswith("customer.loyalty.tier."):
        if "loyalty_tier_to" in keys:
            conditions.append({"key": "loyalty_tier_id", "path": "loyalty_tier_to.id"})
        elif "loyalty_tier" in keys:
            conditions.append({"key": "loyalty_tier_id", "path": "loyalty_tier.id"})
        else:
            raise GenError(f"{name}: a tier trigger without a loyalty tier in its data")
    return conditions


def proxy_tree(resolver: Resolver, data_keys: dict, example: object) -> Tree:
    """Keys of a type without public schema, from event_index's proxy key list."""
    root = Tree()
    root.add_type("object")
    for key, info in data_keys.items():
        schema = info["schema"]
        if schema in resolver.schemas:
            root.keys[key] = resolver.named(schema)
        elif isinstance(example, dict) and key in example:
            root.keys[key] = tree_from_value(example[key])
        elif schema.startswith("object{") and schema.endswith("}|null"):
            child = Tree()
            child.add_type("object")
            child.add_type("null")
            for field in schema[len("object{"):-len("}|null")].split(","):
                leaf = Tree()
                leaf.add_type("string")
                child.keys[field] = leaf
            root.keys[key] = child
        else:
            raise GenError(f"cannot resolve proxy schema {schema!r} of key {key!r}")
    return root


def documented_values(ref: Path, index: dict) -> dict[str, list[tuple[str, str, object]]]:
    """Every non-null value the published examples carry under a key of a named schema:
    schema name -> [(event name, key, value)], in event_index.json's order."""
    values: dict[str, list[tuple[str, str, object]]] = {}
    for section in ("events", "events_without_public_schema"):
        for name, info in index[section].items():
            example_file = info.get("example_file")
            if not example_file:
                continue
            example = load_json(ref / example_file)
            if not isinstance(example, dict):
                continue
            for key, described in info.get("data_keys", {}).items():
                value = example.get(key)
                if isinstance(described, dict) and value is not None:
                    values.setdefault(described["schema"], []).append((name, key, value))
    return values


def cut_to_tree(value: object, node: Tree) -> object:
    """`value` with only the keys `node` documents (all of them below an open node)."""
    if node.open:
        return value
    if isinstance(value, dict):
        return {k: cut_to_tree(v, node.keys[k]) for k, v in value.items() if k in node.keys}
    if isinstance(value, list):
        if node.items is None:
            return []
        return [cut_to_tree(v, node.items) for v in value]
    return value


def identity(value: object) -> object:
    """What tells two documented values apart: an object's `id`, else the value itself (so
    that a referrer is not the customer they referred)."""
    if isinstance(value, dict) and "id" in value:
        return ("id", value["id"])
    return json.dumps(value, sort_keys=True)


def built_example(name: str, proxy: dict, tree: Tree,
                  values: dict[str, list[tuple[str, str, object]]]) -> tuple[dict, str]:
    """The example of a type documented only by its keys, and the note saying where each
    key's value comes from."""
    example: dict = {}
    origins = []
    for key, described in proxy["data_keys"].items():
        candidates = values.get(described["schema"], [])
        used = [identity(v) for v in example.values()]
        fresh = [c for c in candidates if c[0] != name and identity(c[2]) not in used]
        if not fresh:
            raise GenError(f"{name}: no published example carries a {described['schema']} "
                           f"for its key {key!r}")
        source, source_key, value = fresh[0]
        example[key] = cut_to_tree(value, tree.keys[key])
        origins.append(f"`{key}` from {source}'s `{source_key}`")
    note = ("Voucherify publishes no example; this one is built by sendout from its documented "
            "keys, with values of the same schemas in other types' examples: "
            + ", ".join(origins) + ".")
    return example, note


def build(shared: Path) -> dict:
    ref = shared / "reference" / "voucherify"
    spec = load_json(ref / "OpenAPIWebhooks.json")
    index = load_json(ref / "event_index.json")
    management = load_json(ref / "management.json")
    resolver = Resolver(spec)
    check_seeds(shared)

    listings: dict[str, list[dict]] = {}
    purposes: dict[str, list[str]] = {}
    order: list[str] = []
    for channel, groups in ((PS, PROJECT_SETTINGS), (DIST, DISTRIBUTION)):
        for group, types in groups:
            for entry in types:
                name, title = entry[0], entry[1]
                if name not in listings:
                    listings[name] = []
                    order.append(name)
                if any(l["channel"] == channel for l in listings[name]):
                    raise GenError(f"{name} listed twice in {channel}")
                listings[name].append({"channel": channel, "group": group, "title": title})
                if channel == DIST:
                    purposes[name] = list(entry[2])

    with_schema = index["events"]
    without_schema = index["events_without_public_schema"]
    examples_dir = ref / "examples"
    envelopes = {}
    for path in sorted(examples_dir.glob("*.full_envelope.*.json")):
        envelope = load_json(path)
        envelopes.setdefault(envelope["event"]["type"], []).append(envelope["data"])

    values = documented_values(ref, index)
    types = []
    for name in order:
        channels = [l["channel"] for l in listings[name]]
        info = with_schema.get(name)
        proxy = without_schema.get(name)
        if info is None and proxy is None:
            raise GenError(f"{name} is neither in event_index events nor events_without_public_schema")
        if info is not None:
            indexed = [c for c in info["channels"] if c in (PS, DIST)]
            if sorted(indexed) != sorted(channels):
                raise GenError(f"{name}: event_index channels {info['channels']} != seeds {channels}")

        example_file = (info or proxy).get("example_file")
        example = load_json(ref / example_file) if example_file else None
        if name in BUILT_EXAMPLES and example is not None:
            raise GenError(f"{name}: Voucherify now publishes an example; take it off "
                           "BUILT_EXAMPLES")
        if example is not None and not isinstance(example, dict):
            raise GenError(f"{name}: example {example_file} is not an object")

        sources: dict[str, set[str]] = {}
        if info is not None:
            schema_name = info["data_schema"]
            tree = resolver.named(schema_name)
            sources = top_level_sources(resolver, schema_name)
            keys_source = "schema"
            missing = set(info["data_keys"]) - set(tree.keys)
            if missing:
                raise GenError(f"{name}: index keys {sorted(missing)} not in the schema tree")
        elif "data_keys" in proxy:
            schema_name = None
            tree = proxy_tree(resolver, proxy["data_keys"], example)
            keys_source = "proxy_schema"
        elif example is not None:
            schema_name = None
            tree = tree_from_value(example)
            keys_source = "example"
        else:
            schema_name = None
            tree = Tree()
            tree.add_type("object")
            tree.open = True
            keys_source = "unknown"
        fixes: list[str] = []
        for observed in ([example] if example is not None else []) + envelopes.get(name, []):
            merge_example(tree, observed, "", fixes)
        tree.from_example = False
        notes = ([NOTES[name]] if name in NOTES else []) + sorted(set(fixes))
        example_source = "voucherify" if example is not None else None
        if name in BUILT_EXAMPLES:
            if proxy is None or "data_keys" not in proxy:
                raise GenError(f"{name}: a built example needs the documented keys")
            example, built_note = built_example(name, proxy, tree, values)
            notes.append(built_note)
            example_source = "built"

        entry = {
            "name": name,
            "channels": channels,
            "listings": listings[name],
            "has_public_schema": info is not None,
            "schema": schema_name,
            "keys_source": keys_source,
        }
        if notes:
            entry["note"] = " ".join(notes)
        if DIST in channels:
            entry["purposes"] = purposes[name]
            entry["conditions"] = conditions_for(name, tree.keys, sources)
            purpose_keys = purpose_keys_for(name, resolver, sources, purposes[name])
            if purpose_keys:
                entry["purpose_keys"] = purpose_keys
        entry["data"] = tree.to_json()
        entry["example_file"] = example_file.removeprefix("examples/") if example_file else None
        entry["example_source"] = example_source
        entry["example"] = example
        types.append(entry)

    names = set(order)
    aliases = {}
    for name in order:
        if "added" in name:
            aliases[name.replace("added", "aded")] = name
    for alias, target in EXTRA_ALIASES.items():
        aliases[alias] = target
    enum = management["components"]["schemas"]["ManagementProjectsWebhookBase"]["properties"][
        "events"]["items"]["enum"]
    for event in enum:
        if event not in names and event not in aliases:
            raise GenError(f"management.json webhook event {event!r} is not in the catalog")
    for alias, target in aliases.items():
        if alias in names or target not in names:
            raise GenError(f"bad alias {alias!r} -> {target!r}")

    counts = {PS: 0, DIST: 0}
    for entry in types:
        for channel in entry["channels"]:
            counts[channel] += 1
    if counts != {PS: 63, DIST: 27}:
        raise GenError(f"expected 63 project-settings and 27 distribution types, got {counts}")

    return {
        "generated_by": "scripts/gen-catalog.py",
        "spec_source": index["source"],
        "groups": {
            PS: [{"name": g, "types": [t[0] for t in ts]} for g, ts in PROJECT_SETTINGS],
            DIST: [{"name": g, "types": [t[0] for t in ts]} for g, ts in DISTRIBUTION],
        },
        "aliases": dict(sorted(aliases.items())),
        "types": types,
    }


def render(catalog: dict) -> str:
    return json.dumps(catalog, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                        help="the shared documents directory (default: ../shared)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the committed catalog differs")
    args = parser.parse_args()
    try:
        text = render(build(args.shared))
    except (GenError, OSError, KeyError, json.JSONDecodeError) as err:
        print(f"gen-catalog: {err}", file=sys.stderr)
        return 2
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"gen-catalog: {OUTPUT.relative_to(REPO)} is stale; "
                  "run `python3 scripts/gen-catalog.py`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"gen-catalog: wrote {OUTPUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
