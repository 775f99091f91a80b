"""Every model, imported in one place so that mappers and Alembic see the whole schema."""

from app.accounts.models import ApiToken, User, VendorProfile
from app.audit import AuditEvent
from app.pools.models import Commitment, Pool

__all__ = ["ApiToken", "AuditEvent", "Commitment", "Pool", "User", "VendorProfile"]
