"""Fixtures for the payment gateways: a local fake of Stripe and gateways pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe

from app.payments.stripe_gateway import StripeGateway
from tests.fakes.fake_stripe import TEST_WEBHOOK_SECRET, FakeStripe


@pytest.fixture(autouse=True)
def quick_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the SDK's retry backoff (at least 0.5 s per retry) so retry tests stay fast."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.001)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.002)


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    """Serve a fresh fake Stripe on a free local port for one test."""
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def make_stripe_gateway(fake_stripe: FakeStripe) -> Callable[..., StripeGateway]:
    """Return a builder of Stripe gateways pointed at the fake; keywords override defaults."""

    def build(**overrides: Any) -> StripeGateway:
        options: dict[str, Any] = {"base_url": fake_stripe.url, "max_network_retries": 2, "timeout": 5.0}
        options.update(overrides)
        return StripeGateway(fake_stripe.api_key, TEST_WEBHOOK_SECRET, **options)

    return build


@pytest.fixture
def gateway(make_stripe_gateway: Callable[..., StripeGateway]) -> StripeGateway:
    """A Stripe gateway with two SDK retries, pointed at the fake."""
    return make_stripe_gateway()
