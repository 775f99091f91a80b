"""Every model, imported in one place so that mappers and Alembic see the whole schema."""

from app.accounts.models import ApiToken, User, VendorProfile
from app.audit import AuditEvent
from app.bids.models import Award, AwardLine, Bid
from app.clubs.models import Club, ClubMember, ClubPool
from app.notifications.models import Notification
from app.payments.models import LedgerEntry, Payment, Payout, WebhookReceipt
from app.pools.models import Commitment, Pool
from app.reputation.models import Feedback, ReputationScore
from app.social.models import CategoryFollow, Invite, InviteJoin, Post

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Award",
    "AwardLine",
    "Bid",
    "CategoryFollow",
    "Club",
    "ClubMember",
    "ClubPool",
    "Commitment",
    "Feedback",
    "Invite",
    "InviteJoin",
    "LedgerEntry",
    "Notification",
    "Payment",
    "Payout",
    "Pool",
    "Post",
    "ReputationScore",
    "User",
    "VendorProfile",
    "WebhookReceipt",
]
