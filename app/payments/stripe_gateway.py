"""The Stripe gateway: separate charges and transfers through `stripe.StripeClient`.

Members save a card with a SetupIntent when they join; at the award each served member gets one
off-session PaymentIntent for the final amount, in the pool's transfer group; after delivery one
Transfer pays the vendor's Express account. Every write carries the caller's idempotency key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import stripe

from app.payments.gateway import (
    CardSetup,
    ChargeResult,
    ChargeStatus,
    GatewayError,
    GatewayUnavailable,
    InvalidWebhook,
    PaymentGateway,
    RefundResult,
    RefundStatus,
    TransferResult,
    WebhookEvent,
    check_amount,
    check_idempotency_key,
)

# The SDK's default is no retry at all; two ride out a blip without stalling a settlement sweep.
DEFAULT_MAX_NETWORK_RETRIES = 2
DEFAULT_TIMEOUT_SECONDS = 30.0
WEBHOOK_TOLERANCE_SECONDS = 300  # Stripe's default: refuse signatures older than five minutes

_INTENT_STATUS: dict[str, ChargeStatus] = {
    "succeeded": "succeeded",
    "requires_action": "requires_action",
    "requires_confirmation": "requires_action",
    "processing": "processing",
    # Authorised but not captured: not final, and charging again would take the money twice.
    "requires_capture": "processing",
    "requires_payment_method": "failed",
    "canceled": "failed",
}
_REFUND_STATUS: dict[str, RefundStatus] = {
    "pending": "pending",
    "requires_action": "requires_action",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
}


class StripeGateway(PaymentGateway):
    """Stripe, through the official SDK with explicit retries and idempotency keys."""

    name = "stripe"
    in_database = False
    stores_cards = True

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        base_url: str | None = None,
        max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        action_url_template: str | None = None,
        webhook_tolerance: int = WEBHOOK_TOLERANCE_SECONDS,
    ) -> None:
        """Build the client; `action_url_template` may use `{payment_ref}`."""
        if not api_key:
            raise ValueError("StripeGateway needs an API key")
        self._client = stripe.StripeClient(
            api_key,
            # Tests point every base at a local fake; production keeps Stripe's defaults.
            base_addresses={"api": base_url, "connect": base_url, "files": base_url} if base_url else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        self._webhook_secret = webhook_secret
        self._webhook_tolerance = webhook_tolerance
        self._action_url_template = action_url_template

    def ensure_customer(self, *, user_id: int, email: str, idempotency_key: str) -> str:
        """Create the Stripe customer for a user; the caller stores and reuses the reference."""
        check_idempotency_key(idempotency_key)
        with _translated_errors():
            customer = self._client.v1.customers.create(
                {"email": email, "metadata": {"user_id": str(user_id)}},
                options={"idempotency_key": idempotency_key},
            )
        return customer.id

    def start_card_setup(self, *, customer_ref: str, idempotency_key: str) -> CardSetup:
        """Create a SetupIntent that saves a card for off-session charges."""
        check_idempotency_key(idempotency_key)
        with _translated_errors():
            intent = self._client.v1.setup_intents.create(
                {
                    "customer": customer_ref,
                    "usage": "off_session",
                    "allowed_payment_method_types": ["card"],
                },
                options={"idempotency_key": idempotency_key},
            )
        return CardSetup(intent.id, intent.client_secret, intent.status)

    def charge(
        self,
        *,
        customer_ref: str,
        payment_method_ref: str | None,
        amount_minor: int,
        currency: str,
        transfer_group: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        """Confirm an off-session PaymentIntent; pass the card saved at setup when known."""
        check_idempotency_key(idempotency_key)
        check_amount(amount_minor)
        # Looking the card up is a fallback: if the member saves another card between a try and
        # its retry, the parameters change and Stripe refuses the reused key.
        method = payment_method_ref or self._newest_card(customer_ref)
        if method is None:
            return ChargeResult("failed", None, "payment_method_missing", "No saved card.")
        with _translated_errors():
            try:
                intent = self._client.v1.payment_intents.create(
                    {
                        "amount": amount_minor,
                        "currency": currency.lower(),
                        "customer": customer_ref,
                        "payment_method": method,
                        # Cards only: other methods may need a redirect and a return_url.
                        # (Since API version 2026-09-30 `payment_method_types` is refused.)
                        "allowed_payment_method_types": ["card"],
                        "confirm": True,
                        "off_session": True,
                        "transfer_group": transfer_group,
                        "metadata": metadata,
                    },
                    options={"idempotency_key": idempotency_key},
                )
            except stripe.CardError as exc:
                return self._card_error_result(exc)
        return self._charge_result(intent.to_dict())

    def refund(self, *, payment_ref: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        """Refund part or all of a succeeded PaymentIntent."""
        check_idempotency_key(idempotency_key)
        check_amount(amount_minor)
        with _translated_errors():
            refund = self._client.v1.refunds.create(
                {"payment_intent": payment_ref, "amount": amount_minor},
                options={"idempotency_key": idempotency_key},
            )
        return RefundResult(refund.id, _REFUND_STATUS.get(refund.status or "", "pending"))

    def transfer(
        self,
        *,
        destination_account: str,
        amount_minor: int,
        currency: str,
        transfer_group: str,
        idempotency_key: str,
    ) -> TransferResult:
        """Transfer from the platform balance to a vendor's connected account."""
        check_idempotency_key(idempotency_key)
        check_amount(amount_minor)
        with _translated_errors():
            transfer = self._client.v1.transfers.create(
                {
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "destination": destination_account,
                    "transfer_group": transfer_group,
                },
                options={"idempotency_key": idempotency_key},
            )
        return TransferResult(transfer.id)

    def create_connected_account(self, *, user_id: int, email: str, idempotency_key: str) -> str:
        """Create an Express account able to receive transfers."""
        check_idempotency_key(idempotency_key)
        with _translated_errors():
            account = self._client.v1.accounts.create(
                {
                    "type": "express",
                    "email": email,
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": {"user_id": str(user_id)},
                },
                options={"idempotency_key": idempotency_key},
            )
        return account.id

    def account_onboarding_link(self, *, account_ref: str, refresh_url: str, return_url: str) -> str:
        """Create a fresh Account Link; they are single-use and expire within minutes."""
        with _translated_errors():
            link = self._client.v1.account_links.create(
                {
                    "account": account_ref,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        return link.url

    def retrieve_payment(self, payment_ref: str) -> ChargeResult:
        """Re-fetch a PaymentIntent and report its state."""
        with _translated_errors():
            intent = self._client.v1.payment_intents.retrieve(payment_ref)
        return self._charge_result(intent.to_dict())

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """Verify the Stripe-Signature header on the raw body and return the event."""
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, self._webhook_secret, self._webhook_tolerance
            )
            return _event_from(json.loads(payload))
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidWebhook(f"webhook refused: {exc}", code="invalid_webhook") from exc

    def default_payment_method(self, customer_ref: str) -> str | None:
        """The customer's most recently saved card, if any."""
        return self._newest_card(customer_ref)

    def _newest_card(self, customer_ref: str) -> str | None:
        """Return the customer's most recently saved card, if any."""
        with _translated_errors():
            cards = self._client.v1.customers.payment_methods.list(customer_ref, {"type": "card", "limit": 1})
        return cards.data[0].id if cards.data else None

    def _charge_result(self, intent: Mapping[str, Any]) -> ChargeResult:
        """Map a PaymentIntent to a charge result."""
        status = _INTENT_STATUS.get(intent.get("status") or "", "processing")
        error = intent.get("last_payment_error") or {}
        # Stripe leaves an off-session payment that needs authentication in this state.
        needs_authentication = error.get("code") == "authentication_required"
        if intent.get("status") == "requires_payment_method" and needs_authentication:
            status = "requires_action"
        return ChargeResult(
            status=status,
            payment_ref=intent.get("id"),
            failure_code=error.get("code") if status != "succeeded" else None,
            failure_message=error.get("message") if status != "succeeded" else None,
            action_url=self._action_url(intent) if status == "requires_action" else None,
        )

    def _card_error_result(self, exc: stripe.CardError) -> ChargeResult:
        """Turn a 402 into a result: the PaymentIntent exists, the money did not move."""
        body = exc.json_body if isinstance(exc.json_body, dict) else {}
        intent = body.get("error", {}).get("payment_intent") or {}
        if exc.code == "authentication_required":
            url = self._action_url(intent)
            return ChargeResult("requires_action", intent.get("id"), exc.code, exc.user_message, url)
        return ChargeResult("failed", intent.get("id"), exc.code, exc.user_message)

    def _action_url(self, intent: Mapping[str, Any]) -> str | None:
        """Return where the member pays on-session: our page if configured, else Stripe's."""
        if self._action_url_template and intent.get("id"):
            return self._action_url_template.format(payment_ref=intent["id"])
        next_action = intent.get("next_action") or {}
        redirect = next_action.get("redirect_to_url") or {}
        url = redirect.get("url")
        return str(url) if url else None


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Raise the gateway's errors for the SDK's: transient ones become GatewayUnavailable."""
    try:
        yield
    except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
        raise GatewayUnavailable(_message(exc), code=_code(exc)) from exc
    except stripe.APIError as exc:
        # 5xx, a 409 for a key still in use, or an unreadable response: try again later.
        if exc.http_status is None or exc.http_status >= 500 or exc.http_status == 409:
            raise GatewayUnavailable(_message(exc), code=_code(exc)) from exc
        raise GatewayError(_message(exc), code=_code(exc)) from exc
    except stripe.StripeError as exc:
        raise GatewayError(_message(exc), code=_code(exc)) from exc


def _event_from(event: Any) -> WebhookEvent:
    """Build the event from a decoded body, refusing one without the fields Stripe always sends."""
    data = event.get("data") if isinstance(event, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not event.get("id") or not event.get("type"):
        raise ValueError("not a Stripe event")
    object_id = obj.get("id")
    return WebhookEvent(str(event["id"]), str(event["type"]), str(object_id) if object_id else None, obj)


def _message(exc: stripe.StripeError) -> str:
    """Return the error's message without the SDK's request-id prefix."""
    return str(exc.user_message or type(exc).__name__)


def _code(exc: stripe.StripeError) -> str | None:
    """Return Stripe's error code, or its error type when there is no code."""
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    if not isinstance(error, dict):
        error = {}
    return exc.code or error.get("code") or error.get("type")
