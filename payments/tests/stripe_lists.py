"""Stripe's list endpoints behind the SDK's HTTP layer, served from a directory of
JSON-lines lists (as `import_stripe_history --from-dir` reads): the real gateway
and SDK run, only the transport is ours."""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import stripe


class StripeListsHTTPClient(stripe.HTTPClient):
    """Stripe's list endpoints over the SDK's HTTP layer: newest first, `limit`,
    `starting_after`, `created[gte]` and a PaymentIntent's `latest_charge`
    expanded as Stripe's; the first ask of each list is refused with a 429 (rate
    limited), as Stripe does under load."""

    name = "stripe-lists"

    def __init__(self, directory: Path):
        super().__init__()
        self.directory, self.asked, self.limited = directory, [], set()

    def request(self, method, url, headers, post_data=None, **kwargs):
        parts = urlparse(url)
        resource = parts.path.removeprefix("/v1/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.asked.append((resource, query))
        if resource not in self.limited:
            self.limited.add(resource)
            error = {"error": {"type": "rate_limit_error", "message": "Too many"}}
            return json.dumps(error), 429, {}
        path = self.directory / f"{resource}.jsonl"
        objects = [json.loads(line) for line in path.open()] if path.exists() else []
        if "created[gte]" in query:
            objects = [o for o in objects if o["created"] >= int(query["created[gte]"])]
        if "starting_after" in query:
            ids = [o["id"] for o in objects]
            objects = objects[ids.index(query["starting_after"]) + 1 :]
        limit = int(query.get("limit", 10))
        more, objects = len(objects) > limit, objects[:limit]
        if query.get("expand[0]") == "data.latest_charge":
            charges = {
                c["id"]: c
                for c in map(json.loads, (self.directory / "charges.jsonl").open())
            }
            objects = [
                dict(o, latest_charge=charges.get(o["latest_charge"])) for o in objects
            ]
        page = {
            "object": "list",
            "data": objects,
            "has_more": more,
            "url": parts.path,
        }
        return json.dumps(page), 200, {"request-id": "req_test"}

    def request_stream(self, *args, **kwargs):
        raise NotImplementedError

    def close(self):
        pass
