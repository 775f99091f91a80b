"""The one list of what runs when, and the thin wrappers that give each job a session and `now`.

Jobs are sweepers: each finds its due work in the database, claims it with a lock, calls the
same service functions as the web and the CLI, commits, and returns how many items it handled.
The database is the source of truth, so a missed or late run is simply caught by the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app import unit_of_work
from app.accounts import service as accounts
from app.bids.jobs import close_due_pools
from app.db.locks import try_transaction_lock
from app.payments import jobs as payments
from app.payments.gateways import make_gateway
from app.payments.rules import EscrowTerms
from app.reputation.scores import price_factors, recompute_all
from app.reputation.service import reveal_expired
from app.social import jobs as social_jobs

log = logging.getLogger(__name__)


def settle_everything(session: Session, config: Mapping[str, Any], *, now: datetime) -> dict[str, int]:
    """Charge awarded pools, make decided refunds and pay vendors their released lines."""
    gateway = make_gateway(config["PAYMENT_GATEWAY"], config)
    terms = EscrowTerms.from_config(config)
    return {
        "settled": payments.settle_awarded_pools(session, gateway, now=now, terms=terms),
        "refunded": payments.refund_due(session, gateway, now=now),
        "paid_out": payments.pay_out_pending(session, gateway, now=now),
    }


def release_escrow(session: Session, config: Mapping[str, Any], *, now: datetime) -> int:
    """Release lines whose dispute window passed with no dispute open, escalate disputes that are due,
    and pay the vendors in batches."""
    gateway = make_gateway(config["PAYMENT_GATEWAY"], config)
    return payments.release_due_escrow(session, gateway, now=now, terms=EscrowTerms.from_config(config))


def _settle(session: Session, config: Mapping[str, Any], *, now: datetime) -> dict[str, int]:
    return settle_everything(session, config, now=now)  # by kind: the job's metrics count each


def _close(session: Session, config: Mapping[str, Any], *, now: datetime) -> int:
    return close_due_pools(session, now=now, price_factors=price_factors)


def _reveal(session: Session, config: Mapping[str, Any], *, now: datetime) -> int:
    revealed = reveal_expired(session, now=now)
    unit_of_work.commit(session)
    return revealed


def recompute_reputation(session: Session, config: Mapping[str, Any], *, now: datetime) -> int:
    """Rebuild every score from all revealed feedback: credibility, tallies and the summaries' periods.

    Once at a time on every host: a run that finds another under way leaves it to that one (0)."""
    if not try_transaction_lock(session, "recompute-reputation"):
        log.info("recompute-reputation: another process is recomputing; this run leaves it to that one")
        unit_of_work.commit(session)
        return 0
    count = recompute_all(session, now=now)
    unit_of_work.commit(session)
    return count


def purge_idempotency_keys(session: Session, config: Mapping[str, Any], *, now: datetime) -> int:
    """Forget API writes' answers older than a day (their keys may then be used again)."""
    purged = accounts.purge_idempotency_keys(session, now=now)
    unit_of_work.commit(session)
    return purged


@dataclass(frozen=True)
class Job:
    id: str  # stable: metrics and logs name it
    func: Callable[..., Any]
    trigger: str
    trigger_args: dict[str, int] = field(default_factory=dict)
    at_start: bool = True  # also run when a scheduler starts (catching up after downtime); not the heavy nightly one
    leader_only: bool = False  # once a day on one process of all (app.scheduler.runner.Leader), not on each


JOBS = [
    Job("close-due-pools", _close, "interval", {"seconds": 15}),  # a pool closes within ~15 s of its deadline
    Job("settle-pools", _settle, "interval", {"seconds": 30}),
    Job("release-escrow", release_escrow, "interval", {"minutes": 5}),
    Job("closing-reminders", social_jobs.remind_closing_soon, "interval", {"minutes": 5}),
    Job("send-outbox", social_jobs.send_outbox, "interval", {"seconds": 30}),
    Job("reveal-feedback", _reveal, "cron", {"minute": 7}),  # hourly: double-blind feedback whose window ended
    Job("purge-idempotency-keys", purge_idempotency_keys, "cron", {"minute": 41}),  # hourly
    Job(
        "recompute-reputation",
        recompute_reputation,
        "cron",
        {"hour": 3, "minute": 17},
        at_start=False,
        leader_only=True,
    ),  # nightly
]
JOBS_BY_ID = {job.id: job for job in JOBS}
