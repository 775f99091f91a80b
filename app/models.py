"""Every model, imported in one place so that mappers and Alembic see the whole schema."""

from app.accounts.models import ApiToken, User, VendorProfile
from app.audit import AuditEvent
from app.bids.models import Award, AwardLine, Bid
from app.notifications.models import Notification
from app.payments.models import LedgerEntry, Payment, Payout, WebhookReceipt
from app.pools.models import Commitment, Pool

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Award",
    "AwardLine",
    "Bid",
    "Commitment",
    "LedgerEntry",
    "Notification",
    "Payment",
    "Payout",
    "Pool",
    "User",
    "VendorProfile",
    "WebhookReceipt",
]
