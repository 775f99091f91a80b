"""The other people in a journey, acting through the JSON API of the served app (as integrations would)."""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

_seq = itertools.count(1)
PASSWORD = "journey password"


class ApiUser:
    """A person with an API token on the live app."""

    def __init__(self, live_app: Any, name: str) -> None:
        self.base_url = base_url = live_app.url
        self.email = f"{name.lower().replace(' ', '.')}.{next(_seq)}@example.com"
        self.name = name
        call(base_url, "POST", "/api/v1/users", {"email": self.email, "password": PASSWORD, "display_name": name})
        (confirm,) = live_app.emailed_links(self.email)  # the link in the confirmation email
        with urllib.request.urlopen(base_url + confirm, timeout=30):
            pass
        self.token = call(base_url, "POST", "/api/v1/tokens", {"email": self.email, "password": PASSWORD})["token"]
        self.id = self("GET", "/api/v1/users/me")["id"]

    def __call__(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return call(self.base_url, method, path, body, token=self.token)

    def become_vendor(self, categories: list[str], *, verified_by: Any = None) -> None:
        """Become a vendor; with `verified_by` (an Operator), give payout details and be verified."""
        self("POST", "/api/v1/vendors", {"legal_name": f"{self.name} Ltd", "categories": categories})
        if verified_by is not None:
            self.give_payout_details()
            verified_by("POST", f"/api/v1/admin/vendors/{self.id}/verify")

    def give_payout_details(self) -> None:
        """A UK bank account of its own (sort codes carry no check digit) and a tax number."""
        self("PUT", "/api/v1/vendors/me/payout-identity", bank_details(self.id))

    def open_pool(self, title: str, **overrides: Any) -> dict[str, Any]:
        body = {
            "title": title,
            "description": "Organised for the journey tests.",
            "category": "solar",
            "unit": "panel",
            "currency": "GBP",
            "min_quantity": 10,
            "closes_at": (datetime.now(UTC) + timedelta(days=5)).isoformat(),
            "max_per_member": 100,  # the organiser lets a member take more than half the tipping point
        } | overrides
        pool = self("POST", "/api/v1/pools", body)
        return self("POST", f"/api/v1/pools/{pool['id']}/publish")

    def join(self, pool_id: int, quantity: int, max_price: str) -> Any:
        return self("PUT", f"/api/v1/pools/{pool_id}/commitment", {"quantity": quantity, "max_unit_price": max_price})

    def bid(self, pool_id: int, tiers: list[tuple[int, str]], capacity: int = 1000) -> Any:
        body = {"tiers": [{"min_quantity": q, "unit_price": p} for q, p in tiers], "capacity": capacity}
        return self("POST", f"/api/v1/pools/{pool_id}/bids", body)


def bank_details(number: int) -> dict[str, str]:
    """Valid payout details, one bank account per number."""
    return {
        "sort_code": f"40-00-{number % 100:02d}",
        "account_number": f"{number:08d}",
        "tax_number": f"GB{number:09d}",
    }


class Operator:
    """An operator account (made with `flask users create-admin`), acting through the API."""

    def __init__(self, live_app: Any) -> None:
        self.base_url = live_app.url
        email = f"operator.{next(_seq)}@example.com"
        live_app.cli("users", "create-admin", "--email", email, "--password", PASSWORD)
        self.token = call(self.base_url, "POST", "/api/v1/tokens", {"email": email, "password": PASSWORD})["token"]

    def __call__(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return call(self.base_url, method, path, body, token=self.token)


def call(base_url: str, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    """One JSON request; raise with the response body on an error status."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read().decode()}") from exc
    return json.loads(raw) if raw else None
