"""A local fake of the few Stripe API v1 endpoints Buyswarm uses, for the real `stripe` SDK.

It keeps state, replays idempotent requests the way Stripe does (same key and parameters: the
saved response; same key, other parameters: 400 idempotency_error) and injects faults on demand:

    fake.fail_next("payment_intents.create", "drop_after_commit")
    fake.set_card_outcome(customer_or_payment_method_id, "card_declined")

Fault kinds, by when they strike:
- before the endpoint runs, nothing saved (so a retry with the same key runs it):
  "rate_limited" (429, Stripe-Should-Retry: true), "server_error" (500, the SDK retries it);
- while it runs, saved under the key and replayed: "card_declined" and "authentication_required"
  (402 card_error; the latter leaves the PaymentIntent in requires_action), and
  "server_error_replayed" (500 with Stripe-Should-Retry: false, as Stripe replays saved 500s);
- after it ran and its response was saved: "drop_after_commit" (the connection closes unanswered).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

Obj = dict[str, Any]  # a Stripe API object or a request's parameters, as JSON
TEST_WEBHOOK_SECRET = "whsec_test_secret"

BEFORE = frozenset({"rate_limited", "server_error"})
DURING = frozenset({"card_declined", "authentication_required", "server_error_replayed"})
AFTER = frozenset({"drop_after_commit"})
FAULT_KINDS = BEFORE | DURING | AFTER
_NOT_CHARGED: Obj = {
    "amount_received": 0,
    "amount_refunded": 0,
    "latest_charge": None,
    "last_payment_error": None,
    "next_action": None,
}
CARD_OUTCOMES = frozenset({"card_declined", "authentication_required"})
# Stripe's test payment methods, which behave this way in test mode too.
MAGIC_CARDS = {
    "pm_card_chargeDeclined": "card_declined",
    "pm_card_authenticationRequired": "authentication_required",
}

_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern), operation)
    for method, pattern, operation in [
        ("POST", r"/v1/customers", "customers.create"),
        ("GET", r"/v1/customers/(?P<id>[^/]+)/payment_methods", "customers.payment_methods"),
        ("POST", r"/v1/setup_intents", "setup_intents.create"),
        ("GET", r"/v1/setup_intents/(?P<id>[^/]+)", "setup_intents.retrieve"),
        ("POST", r"/v1/payment_intents", "payment_intents.create"),
        ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", "payment_intents.retrieve"),
        ("POST", r"/v1/payment_intents/(?P<id>[^/]+)/confirm", "payment_intents.confirm"),
        ("POST", r"/v1/refunds", "refunds.create"),
        ("POST", r"/v1/transfers", "transfers.create"),
        ("POST", r"/v1/accounts", "accounts.create"),
        ("POST", r"/v1/account_links", "account_links.create"),
    ]
]


@dataclass(frozen=True)
class Response:
    status: int
    body: str  # serialized when made, so a replay returns the bytes first sent
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedRequest:
    operation: str
    idempotency_key: str | None
    status: int | None  # None: the connection was dropped
    replayed: bool


class ApiError(Exception):
    """An error response from an endpoint, in Stripe's shape."""

    def __init__(self, status: int, error: Obj, headers: dict[str, str] | None = None):
        super().__init__(error.get("message"))
        self.status, self.error, self.headers = status, error, headers or {}


def decode_form(text: str) -> Obj:
    """Rebuild nested parameters from Stripe's form encoding (`metadata[k]=v`, `a[0]=x`)."""
    root: Obj = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _with_lists(root)


def _with_lists(node: Any) -> Any:
    """Turn dicts keyed 0..n into lists, as the SDK encodes arrays with indexes.

    (So metadata whose keys are all digits would come back as a list; Buyswarm's never are.)
    """
    if not isinstance(node, dict):
        return node
    items = {key: _with_lists(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def signed_event(event: Obj, secret: str, timestamp: int | None = None) -> tuple[bytes, str]:
    """Serialize a webhook event and sign it as Stripe does; return (payload, header)."""
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return payload.encode(), header


def make_event(event_type: str, obj: Obj, event_id: str = "evt_fake_1") -> Obj:
    """Build a v1 snapshot event around an API object."""
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


class FakeStripe:
    """The fake's state, fault controls and request handling; `start()` serves it over HTTP."""

    def __init__(self, api_key: str = "sk_test_fake") -> None:
        self.api_key = api_key
        self.objects: dict[str, Obj] = {}
        self.requests: list[LoggedRequest] = []
        self._saved: dict[str, tuple[tuple[str, str, Obj], Response, str]] = {}
        self._faults: dict[str, deque[str]] = defaultdict(deque)
        self._card_outcomes: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self.url = ""

    # Serving -----------------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        """Serve on 127.0.0.1 on a free port, in a background thread."""
        server = _Server(self)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Controls for tests ------------------------------------------------------------------------

    def fail_next(self, operation: str, kind: str, times: int = 1) -> None:
        """Make the next `times` requests for `operation` (e.g. "payment_intents.create") fail."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults[operation].extend([kind] * times)

    def set_card_outcome(self, ref: str, kind: str | None) -> None:
        """Decline (or require authentication for) every charge of a customer or payment method."""
        if kind is not None and kind not in CARD_OUTCOMES:
            raise ValueError(f"unknown card outcome {kind!r}; one of {sorted(CARD_OUTCOMES)}")
        with self._lock:
            if kind is None:
                self._card_outcomes.pop(ref, None)
            else:
                self._card_outcomes[ref] = kind

    def complete_setup(self, setup_ref: str, payment_method: str | None = None) -> str:
        """Act as the member's browser: save a card on a SetupIntent; return the card's id."""
        with self._lock:
            intent = self.objects[setup_ref]
            method_id = payment_method or self._new_id("pm")
            self.objects.setdefault(method_id, {"id": method_id, "object": "payment_method"})
            # `created` from the id counter, so cards saved within one second still sort newest first.
            self.objects[method_id].update(type="card", customer=intent["customer"], created=next(self._ids))
            intent.update(status="succeeded", payment_method=method_id)
            return method_id

    def complete_authentication(self, payment_ref: str) -> None:
        """Act as the member's browser: authenticate on-session, so the payment succeeds."""
        with self._lock:
            self._succeed(self.objects[payment_ref])

    def succeeded_charges(self, customer: str, transfer_group: str) -> int:
        """Count the PaymentIntents that took money from a customer in a transfer group."""
        return len(self._intents(customer, transfer_group, status="succeeded"))

    def payment_intents(self, customer: str, transfer_group: str) -> list[Obj]:
        """Return every PaymentIntent of a customer in a transfer group, whatever its state."""
        return self._intents(customer, transfer_group, status=None)

    def requests_for(self, operation: str) -> list[LoggedRequest]:
        """Return the requests received for an operation, in order."""
        return [logged for logged in self.requests if logged.operation == operation]

    # Request handling --------------------------------------------------------------------------

    def handle(self, method: str, target: str, body: str, headers: dict[str, str]) -> Response | None:
        """Answer one HTTP request; None means drop the connection without answering."""
        url = urlsplit(target)
        operation, object_id = self._route(method, url.path)
        params = decode_form(body if method == "POST" else url.query)
        key = headers.get("idempotency-key") if method == "POST" else None
        with self._lock:
            response, replayed, dropped = self._respond(operation, object_id, method, url.path, params, key, headers)
            self.requests.append(LoggedRequest(operation, key, None if dropped else response.status, replayed))
        return None if dropped else response

    def _respond(
        self,
        operation: str,
        object_id: str | None,
        method: str,
        path: str,
        params: Obj,
        key: str | None,
        headers: dict[str, str],
    ) -> tuple[Response, bool, bool]:
        """Return (response, replayed, dropped), applying faults and idempotency in Stripe's order."""
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided."), False, False
        fault = self._take_fault(operation, BEFORE)
        if fault is not None:
            return _fault_response(fault), False, False
        if key is not None and key in self._saved:
            return self._replay(key, (method, path, params)), True, False
        response = self._execute(operation, object_id, params)
        if key is not None:
            self._saved[key] = ((method, path, params), response, response.headers["Request-Id"])
        dropped = self._take_fault(operation, AFTER) is not None
        return response, False, dropped

    def _route(self, method: str, path: str) -> tuple[str, str | None]:
        for route_method, pattern, operation in _ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return operation, match.groupdict().get("id")
        return "unknown", None

    def _take_fault(self, operation: str, phase: frozenset[str]) -> str | None:
        queue = self._faults[operation]
        return queue.popleft() if queue and queue[0] in phase else None

    def _replay(self, key: str, request: tuple[str, str, Obj]) -> Response:
        original, response, request_id = self._saved[key]
        if original != request:
            message = (
                "Keys for idempotent requests can only be used with the same parameters they were "
                f"first used with. Try using a key other than '{key}' if you meant to execute a "
                "different request."
            )
            return _error(400, "idempotency_error", message)
        extra = {"Idempotent-Replayed": "true", "Original-Request": request_id}
        return Response(response.status, response.body, {**response.headers, **extra})

    def _execute(self, operation: str, object_id: str | None, params: Obj) -> Response:
        """Run an endpoint and turn its result or ApiError into a response."""
        fault = self._take_fault(operation, DURING)
        if fault == "server_error_replayed":
            return _fault_response(fault)
        endpoint = getattr(self, "_op_" + operation.replace(".", "_"), None)
        if endpoint is None:
            return _error(404, "invalid_request_error", f"Unrecognized request URL ({operation}).")
        try:
            return _response(200, endpoint(params, object_id, fault))
        except ApiError as exc:
            return _response(exc.status, {"error": exc.error}, exc.headers)

    # Endpoints: (params, object id from the path, fault while running) -> object ---------------

    def _op_customers_create(self, params: Obj, _id: str | None, _f: str | None) -> Obj:
        return self._store("cus", "customer", **_pick(params, "email", "metadata"))

    def _op_customers_payment_methods(self, params: Obj, cid: str | None, _f: str | None) -> Obj:
        self._get(cid, "customer")
        cards = [o for o in self.objects.values() if o.get("object") == "payment_method" and o.get("customer") == cid]
        cards.sort(key=lambda card: card["created"], reverse=True)  # newest first, as Stripe lists
        limit = int(params.get("limit", 10))
        return {
            "object": "list",
            "data": cards[:limit],
            "has_more": len(cards) > limit,
            "url": f"/v1/customers/{cid}/payment_methods",
        }

    def _op_setup_intents_create(self, params: Obj, _id: str | None, _f: str | None) -> Obj:
        _refuse_payment_method_types(params)
        self._get(params.get("customer"), "customer")
        fields = _pick(params, "customer", "usage")
        intent = self._store("seti", "setup_intent", status="requires_payment_method", payment_method=None, **fields)
        intent["client_secret"] = f"{intent['id']}_secret_fake"
        return intent

    def _op_setup_intents_retrieve(self, _p: Obj, sid: str | None, _f: str | None) -> Obj:
        return self._get(sid, "setup_intent")

    def _op_payment_intents_create(self, params: Obj, _id: str | None, fault: str | None) -> Obj:
        _refuse_payment_method_types(params)
        amount = _positive_int(params, "amount")
        if params.get("customer"):
            self._get(params["customer"], "customer")
        status = "requires_confirmation" if params.get("payment_method") else "requires_payment_method"
        fields = _pick(params, "currency", "customer", "payment_method", "transfer_group", "metadata")
        intent = self._store("pi", "payment_intent", amount=amount, status=status, **fields, **_NOT_CHARGED)
        intent["client_secret"] = f"{intent['id']}_secret_fake"
        if params.get("confirm") == "true":
            self._confirm(intent, fault)
        return intent

    def _op_payment_intents_retrieve(self, _p: Obj, pid: str | None, _f: str | None) -> Obj:
        return self._get(pid, "payment_intent")

    def _op_payment_intents_confirm(self, params: Obj, pid: str | None, fault: str | None) -> Obj:
        intent = self._get(pid, "payment_intent")
        if intent["status"] == "succeeded":
            raise _invalid("payment_intent_unexpected_state", "This PaymentIntent has already succeeded.")
        if params.get("payment_method"):
            intent["payment_method"] = params["payment_method"]
        self._confirm(intent, fault)
        return intent

    def _op_refunds_create(self, params: Obj, _id: str | None, _f: str | None) -> Obj:
        intent = self._get(params.get("payment_intent"), "payment_intent", param="payment_intent")
        remaining = intent["amount_received"] - intent["amount_refunded"]
        if intent["status"] != "succeeded" or remaining <= 0:
            raise _invalid("charge_already_refunded", "This payment has no money left to refund.")
        amount = _positive_int(params, "amount") if "amount" in params else remaining
        if amount > remaining:
            raise _invalid(
                "amount_too_large", f"Refund amount ({amount}) is greater than unrefunded amount ({remaining})."
            )
        intent["amount_refunded"] += amount
        return self._store("re", "refund", amount=amount, payment_intent=intent["id"], status="succeeded")

    def _op_transfers_create(self, params: Obj, _id: str | None, _f: str | None) -> Obj:
        amount = _positive_int(params, "amount")
        self._get(params.get("destination"), "account", param="destination")
        fields = _pick(params, "currency", "destination", "transfer_group")
        return self._store("tr", "transfer", amount=amount, **fields)

    def _op_accounts_create(self, params: Obj, _id: str | None, _f: str | None) -> Obj:
        requested = {name: "inactive" for name in params.get("capabilities", {})}
        fields = _pick(params, "type", "email", "metadata")
        # Onboarding is not simulated: the account never becomes able to take payouts.
        disabled = {"charges_enabled": False, "payouts_enabled": False, "details_submitted": False}
        return self._store("acct", "account", capabilities=requested, **fields, **disabled)

    def _op_account_links_create(self, params: Obj, _id: str | None, _f: str | None) -> Obj:
        account = self._get(params.get("account"), "account", param="account")
        created = int(time.time())
        url = f"{self.url}/connect/onboarding/{account['id']}/{next(self._ids)}"
        return {"object": "account_link", "url": url, "created": created, "expires_at": created + 300}

    # Helpers -----------------------------------------------------------------------------------

    def _confirm(self, intent: Obj, fault: str | None) -> None:
        """Charge off-session: succeed, or save the failure and raise Stripe's 402."""
        method = intent.get("payment_method")
        if not method:
            raise _invalid(
                "payment_intent_unexpected_state",
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
            )
        outcome = (
            fault
            or self._card_outcomes.get(method)
            or self._card_outcomes.get(intent.get("customer") or "")
            or MAGIC_CARDS.get(method)
        )
        if outcome is None:
            self._succeed(intent)
            return
        if outcome == "authentication_required":
            error = {
                "code": "authentication_required",
                "decline_code": "authentication_required",
                "message": "Your card was declined. This transaction requires authentication.",
            }
            redirect = {"url": f"{self.url}/authenticate/{intent['id']}", "return_url": None}
            intent.update(
                status="requires_action", next_action={"type": "redirect_to_url", "redirect_to_url": redirect}
            )
        else:
            error = {"code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."}
            intent.update(status="requires_payment_method", next_action=None)
        intent["last_payment_error"] = {"type": "card_error", **error}
        raise ApiError(402, {"type": "card_error", **error, "payment_intent": copy.deepcopy(intent)})

    def _succeed(self, intent: Obj) -> None:
        charge = self._new_id("ch")
        intent.update(
            status="succeeded",
            amount_received=intent["amount"],
            latest_charge=charge,
            last_payment_error=None,
            next_action=None,
        )

    def _intents(self, customer: str, transfer_group: str, status: str | None) -> list[Obj]:
        with self._lock:
            return [
                copy.deepcopy(o)
                for o in self.objects.values()
                if o.get("object") == "payment_intent"
                and o.get("customer") == customer
                and o.get("transfer_group") == transfer_group
                and status in (None, o["status"])
            ]

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def _store(self, prefix: str, kind: str, **fields: Any) -> Obj:
        obj = {"id": self._new_id(prefix), "object": kind, "created": int(time.time()), "livemode": False, **fields}
        self.objects[obj["id"]] = obj
        return obj

    def _get(self, object_id: str | None, kind: str, param: str = "id") -> Obj:
        obj = self.objects.get(object_id or "")
        if obj is None or obj["object"] != kind:
            error = {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "param": param,
                "message": f"No such {kind}: '{object_id}'",
            }
            raise ApiError(404, error)
        return obj


def _pick(params: Obj, *names: str) -> Obj:
    """Copy the named parameters onto an object; absent ones become null (metadata: empty)."""
    return {name: params.get(name, {} if name == "metadata" else None) for name in names}


def _positive_int(params: Obj, name: str) -> int:
    raw = str(params.get(name, ""))
    if not raw.isdigit() or int(raw) <= 0:
        raise _invalid("parameter_invalid_integer", f"Invalid positive integer: {name}", param=name)
    return int(raw)


def _refuse_payment_method_types(params: Obj) -> None:
    """Refuse `payment_method_types`, as API versions since 2026-09-30 (the SDK's) do."""
    if "payment_method_types" in params:
        raise _invalid("payment_method_types_no_longer_supported", "Use allowed_payment_method_types.")


def _invalid(code: str, message: str, param: str | None = None) -> ApiError:
    return ApiError(400, {"type": "invalid_request_error", "code": code, "message": message, "param": param})


def _response(status: int, body: Obj, headers: dict[str, str] | None = None) -> Response:
    request_id = f"req_fake{time.monotonic_ns()}"
    return Response(status, json.dumps(body), {"Request-Id": request_id, **(headers or {})})


def _error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _response(status, {"error": {"type": error_type, "message": message}}, headers)


def _fault_response(kind: str) -> Response:
    if kind == "rate_limited":
        body = {"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests."}}
        return _response(429, body, {"Stripe-Should-Retry": "true"})
    retry = "false" if kind == "server_error_replayed" else None
    return _error(500, "api_error", "An unknown error occurred.", {"Stripe-Should-Retry": retry} if retry else None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeStripe) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    """Hand each request to the FakeStripe; answer it, or drop the connection unanswered."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        headers = {name.lower(): value for name, value in self.headers.items()}
        assert isinstance(self.server, _Server)
        response = self.server.fake.handle(method, self.path, body, headers)
        if response is None:
            self.close_connection = True  # the request was served; the client never hears of it
            return
        payload = response.body.encode()
        self.send_response(response.status)
        for name, value in {"Content-Type": "application/json", **response.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
