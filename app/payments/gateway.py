"""The payment gateway interface: what settlement needs from a payment provider.

Two implementations: `OfflineGateway` (the embedded default; money is tracked in the ledger only)
and `StripeGateway`. Every call that creates an object or moves money takes an idempotency key
derived from the operation (`pool-42-commitment-7-charge`). Callers store the key with the
payment's status before the call, so a re-run after a crash or a `GatewayUnavailable` repeats
the same key and never moves money twice. No database and no Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

# "processing" means not final yet (never charge again with a new key): re-fetch it later.
ChargeStatus = Literal["succeeded", "requires_action", "processing", "failed"]
RefundStatus = Literal["pending", "requires_action", "succeeded", "failed", "canceled"]

MAX_IDEMPOTENCY_KEY_LENGTH = 255  # Stripe's limit


class GatewayError(Exception):
    """The provider refused a request; repeating it unchanged will not help."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class GatewayUnavailable(GatewayError):
    """A transient failure (rate limit, 5xx, network): retry later with the same key."""


class InvalidWebhook(GatewayError):
    """A webhook whose signature, timestamp or body cannot be trusted."""


@dataclass(frozen=True, slots=True)
class CardSetup:
    setup_ref: str
    client_secret: str | None  # for the browser to collect the card (Stripe.js); None offline
    status: str  # the provider's SetupIntent status: "succeeded" once a card is saved


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    payment_ref: str | None  # None only when no payment object was created
    failure_code: str | None = None  # "card_declined", "authentication_required", ...
    failure_message: str | None = None  # the provider's message, fit to show the member
    action_url: str | None = None  # where the member completes the payment on-session


@dataclass(frozen=True, slots=True)
class RefundResult:
    refund_ref: str
    status: RefundStatus


@dataclass(frozen=True, slots=True)
class TransferResult:
    transfer_ref: str


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: str  # dedupe on this: providers deliver at least once, in any order
    type: str  # "payment_intent.succeeded", "setup_intent.succeeded", ...
    object_id: str | None
    object: dict[str, Any]  # a snapshot: re-fetch the object when its current state matters


class PaymentGateway(Protocol):
    """A payment provider, as settlement uses it; amounts are integer minor units."""

    name: str
    # True when a charge moves no money outside this database (the offline gateway): a charge is
    # then made in the transaction that writes its payment, and atomicity alone makes it happen
    # once. A provider across the network needs the lease written before and the outcome after.
    in_database: bool
    # True when the provider keeps the members' cards (Stripe): a charge of a commitment that has no
    # card of its own goes to the customer's default card, looked up and pinned before the first attempt.
    stores_cards: bool

    def ensure_customer(self, *, user_id: int, email: str, idempotency_key: str) -> str:
        """Create the provider's customer for a user and return its reference."""
        ...

    def start_card_setup(self, *, customer_ref: str, idempotency_key: str) -> CardSetup:
        """Start saving a card for later off-session charges."""
        ...

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
        """Charge a saved card off-session; a decline is a result, a transient failure raises."""
        ...

    def refund(self, *, payment_ref: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        """Refund part or all of a succeeded payment."""
        ...

    def transfer(
        self,
        *,
        destination_account: str,
        amount_minor: int,
        currency: str,
        transfer_group: str,
        idempotency_key: str,
    ) -> TransferResult:
        """Pay out to a vendor's connected account."""
        ...

    def create_connected_account(self, *, user_id: int, email: str, idempotency_key: str) -> str:
        """Create a vendor's connected account and return its reference."""
        ...

    def account_onboarding_link(self, *, account_ref: str, refresh_url: str, return_url: str) -> str:
        """Return a fresh single-use URL where the vendor completes onboarding."""
        ...

    def retrieve_payment(self, payment_ref: str) -> ChargeResult:
        """Re-fetch a payment's current state."""
        ...

    def default_payment_method(self, customer_ref: str) -> str | None:
        """The card a charge would use when none is given (None: the gateway needs none, or there is none)."""
        ...

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """Verify a webhook's signature on the raw body and return its event."""
        ...


def check_idempotency_key(key: str) -> None:
    """Refuse a key the provider would reject or that could collide across operations."""
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError(f"idempotency key must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} characters")


def check_amount(amount_minor: int) -> None:
    """Refuse amounts that are not positive integers of minor units."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValueError(f"amount_minor must be a positive integer, got {amount_minor!r}")
