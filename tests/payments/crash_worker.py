"""A settlement worker for the crash-safety test, meant to be killed with SIGKILL at any moment.

    python -m tests.payments.crash_worker <db_url> <offline|stripe> <stripe_base_url|-> [--epoch T]

It loops over the work a scheduler does after the deadline, and over what members and vendors do
with the money held: close due pools, charge the served members of awarded pools
(app.payments.jobs.settle_awarded_pools), then for each charged line do what `plan` says (the
member confirms delivery; or disputes it, and the vendor refunds it in full or offers a partial
refund the member accepts; or nobody does anything and the dispute window releases it), make the
decided refunds (jobs.refund_due) and release and pay out (jobs.release_due_escrow). It prints
"ready" before the first step and "done" when nothing is left to do.

The clock runs SPEED times faster than the wall clock from the epoch T (a Unix time the test
passes to every run, so that time never goes back from one run to the next). A killed worker
leaves leased payments, refunds and payouts (service.LEASE, two minutes) that only a later sweep
may retry, as does a gateway outage; at this speed a lease ends after two real seconds, so the
test sees the retries without waiting minutes. The escrow TERMS are short for the same reason.
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

import app.models  # noqa: F401 - every mapper configured, as the app does
from app.accounts.models import User
from app.bids import jobs as pool_jobs
from app.clock import utcnow
from app.errors import Conflict, NotFound
from app.payments import escrow, jobs, service
from app.payments.gateway import PaymentGateway
from app.payments.models import DisputeStage, Payment, PaymentStatus, Payout, PayoutStatus
from app.payments.offline import OfflineGateway
from app.payments.rules import EscrowTerms
from app.pools.models import Pool, PoolStatus
from app.reputation.scores import price_factors

SPEED = 60  # the worker's clock: one real second is a minute
# A 12-minute dispute window (12 real seconds), a 3-minute grace for declined cards; the rest as configured.
TERMS = EscrowTerms(window=timedelta(minutes=12), decline_grace=timedelta(minutes=3))
API_KEY = "sk_test_fake"  # FakeStripe's default key
log = logging.getLogger("crash_worker")


def plan(pool_id: int, member_id: int) -> str:
    """What happens to one charged line: "confirm", "refund" or "partial" (a dispute), or "window"."""
    if member_id % 4 == 1:
        return "refund" if pool_id % 3 == 0 else "partial"
    if member_id % 4 == 0 and pool_id % 2 == 0:
        return "confirm"
    return "window"


def partial_refund(amount_minor: int) -> int:
    """The partial refund the vendor offers on a line: a quarter of it."""
    return amount_minor // 4


def clock(epoch: float) -> datetime:
    """Now, on a clock that started at `epoch` and runs SPEED times faster than the wall clock."""
    return datetime.fromtimestamp(epoch + (utcnow().timestamp() - epoch) * SPEED, UTC)


def make_gateway(name: str, stripe_base_url: str) -> PaymentGateway:
    if name == "offline":
        return OfflineGateway()
    import stripe

    from app.payments.stripe_gateway import StripeGateway
    from tests.fakes.fake_stripe import TEST_WEBHOOK_SECRET

    # As tests/payments/conftest.py does: the SDK's retry backoff (0.5 s and up) only slows the test.
    stripe.HTTPClient.INITIAL_DELAY, stripe.HTTPClient.MAX_DELAY = 0.001, 0.002  # type: ignore[attr-defined]
    return StripeGateway(API_KEY, TEST_WEBHOOK_SECRET, base_url=stripe_base_url, max_network_retries=2, timeout=5.0)


def act(session: Session, *, now: datetime) -> None:
    """Each party does what `plan` says for each held line (again after a restart: every step is
    idempotent, or refused once done)."""
    rows = session.execute(
        select(Payment.id, Payment.pool_id, Payment.member_id, Payment.vendor_id, Payment.amount_minor)
        .join(Pool, Pool.id == Payment.pool_id)
        .where(Pool.status.in_([PoolStatus.SETTLED, PoolStatus.DISPUTED]), Payment.status == PaymentStatus.SUCCEEDED)
        .where(Payment.released_at.is_(None))
        .order_by(Payment.id)
    ).all()
    session.rollback()
    for row in rows:
        step = plan(row.pool_id, row.member_id)
        if step == "window":
            continue
        try:
            member, vendor = session.get(User, row.member_id), session.get(User, row.vendor_id)
            assert member is not None and vendor is not None
            if step == "confirm":
                escrow.confirm_delivery(session, pool_id=row.pool_id, actor=member, terms=TERMS, now=now)
            else:
                dispute = escrow.open_dispute(session, pool_id=row.pool_id, actor=member, reason="partial",
                                              message="Part of it never came.", terms=TERMS, now=now)  # fmt: skip
                if dispute.stage == DisputeStage.AWAITING_VENDOR:
                    escrow.answer_dispute(
                        session, dispute_id=dispute.id, actor=vendor, answer=step, message="Sorry about that.",
                        refund_minor=partial_refund(row.amount_minor), terms=TERMS, now=now,
                    )  # fmt: skip
                if dispute.stage == DisputeStage.OFFERED:
                    escrow.accept_offer(session, dispute_id=dispute.id, actor=member, terms=TERMS, now=now)
            session.commit()
        except (Conflict, NotFound):  # done already (by the run a kill cut short)
            session.rollback()
        except Exception:
            session.rollback()
            log.exception("line %s: %s failed; the next loop retries", row.id, step)


def finished(session: Session) -> bool:
    """Nothing left: no pool short of completed, refunded or failed, no refund due, no pending payout."""
    waiting = session.scalar(
        select(func.count())
        .select_from(Pool)
        .where(Pool.status.in_([PoolStatus.OPEN, PoolStatus.AWARDED, PoolStatus.SETTLED, PoolStatus.DISPUTED]))
    )
    pending = session.scalar(select(func.count()).select_from(Payout).where(Payout.status == PayoutStatus.PENDING))
    refunds = service.refund_due_ids(session, limit=1)
    session.rollback()
    return waiting == 0 and pending == 0 and not refunds


def run(database_url: str, gateway_name: str, stripe_base_url: str, epoch: float) -> None:
    """Loop over closing, settling, the parties' actions, refunds, releases and payouts until nothing is left."""
    engine = create_engine(database_url)
    gateway = make_gateway(gateway_name, stripe_base_url)
    with Session(engine, expire_on_commit=False) as session:  # as the app's sessions are configured
        print("ready", flush=True)
        while not finished(session):
            now = clock(epoch)
            pool_jobs.close_due_pools(session, now=now, price_factors=price_factors)
            jobs.settle_awarded_pools(session, gateway, now=now, terms=TERMS)
            act(session, now=now)
            jobs.refund_due(session, gateway, now=now)
            jobs.release_due_escrow(session, gateway, now=now, terms=TERMS)
            time.sleep(0.01)
    engine.dispose()
    print("done", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database_url")
    parser.add_argument("gateway", choices=["offline", "stripe"])
    parser.add_argument("stripe_base_url", help="the fake Stripe's address, or - for the offline gateway")
    parser.add_argument("--epoch", type=float, default=None, help="when the clock started (Unix time; default now)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    epoch = time.time() if args.epoch is None else args.epoch
    run(args.database_url, args.gateway, args.stripe_base_url, epoch)


if __name__ == "__main__":
    main()
