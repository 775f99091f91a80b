"""Choose the payment gateway from configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.payments.gateway import PaymentGateway
from app.payments.offline import OfflineGateway
from app.payments.stripe_gateway import (
    DEFAULT_MAX_NETWORK_RETRIES,
    DEFAULT_TIMEOUT_SECONDS,
    StripeGateway,
)

GATEWAY_NAMES = ("offline", "stripe")


def make_gateway(name: str, settings: Mapping[str, Any]) -> PaymentGateway:
    """Build the gateway `name` (usually settings["PAYMENT_GATEWAY"]) from settings."""
    if name == "offline":
        return OfflineGateway()
    if name == "stripe":
        return _stripe_gateway(settings)
    raise ValueError(f"PAYMENT_GATEWAY must be one of {GATEWAY_NAMES}, not {name!r}")


def _stripe_gateway(settings: Mapping[str, Any]) -> StripeGateway:
    """Build the Stripe gateway; an empty setting means "not set", as config/ writes it."""
    api_key = settings.get("STRIPE_API_KEY") or ""
    if not api_key:
        raise ValueError("PAYMENT_GATEWAY=stripe needs STRIPE_API_KEY")
    retries = settings.get("STRIPE_MAX_NETWORK_RETRIES")
    timeout = settings.get("STRIPE_TIMEOUT_SECONDS")
    return StripeGateway(
        api_key,
        settings.get("STRIPE_WEBHOOK_SECRET") or "",
        base_url=settings.get("STRIPE_API_BASE") or None,
        max_network_retries=DEFAULT_MAX_NETWORK_RETRIES if retries is None else int(retries),
        timeout=DEFAULT_TIMEOUT_SECONDS if timeout is None else float(timeout),
        action_url_template=settings.get("STRIPE_ACTION_URL_TEMPLATE") or None,
    )
