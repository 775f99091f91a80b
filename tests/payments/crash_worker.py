"""A settlement worker for the crash-safety test, meant to be killed with SIGKILL at any moment.

    python -m tests.payments.crash_worker <db_url> <offline|stripe> <stripe_base_url|-> [--epoch T]

It loops over the work a scheduler does after the deadline: close due pools, charge the served
members of awarded pools (app.payments.jobs.settle_awarded_pools), and for pools with an even id
confirm delivery as the organiser and pay the vendor out (settlement.confirm_delivery +
jobs.pay_out). It prints "ready" before the first step and "done" when nothing is left to do.

The clock runs SPEED times faster than the wall clock from the epoch T (a Unix time the test
passes to every run, so that time never goes back from one run to the next). A killed worker
leaves leased payments and payouts (service.LEASE, two minutes) that only a later sweep may
retry, as does a gateway outage; at this speed a lease ends after two real seconds, so the test
sees the retries without waiting minutes. Nothing else depends on how fast time passes.
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

import app.models  # noqa: F401 - every mapper configured, as the app does
from app.accounts.models import User
from app.clock import utcnow
from app.payments import jobs
from app.payments.gateway import PaymentGateway
from app.payments.models import Payout, PayoutStatus
from app.payments.offline import OfflineGateway
from app.pools import jobs as pool_jobs
from app.pools import settlement
from app.pools.models import Pool, PoolStatus

FEE_BPS = 500
SPEED = 60  # the worker's clock: one real second is a minute
API_KEY = "sk_test_fake"  # FakeStripe's default key
log = logging.getLogger("crash_worker")


def delivers(pool_id: int) -> bool:
    """Whether the worker confirms delivery (and pays out) for this pool: those with an even id."""
    return pool_id % 2 == 0


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


def deliver(session: Session, gateway: PaymentGateway, *, now: datetime) -> None:
    """Confirm delivery of settled pools chosen by `delivers`, then pay every pending payout."""
    settled = session.execute(
        select(Pool.id, Pool.organiser_id).where(
            Pool.status == PoolStatus.SETTLED, Pool.delivery_confirmed_at.is_(None)
        )
    ).all()
    session.rollback()
    for pool_id, organiser_id in settled:
        if not delivers(pool_id):
            continue
        organiser = session.get(User, organiser_id)
        assert organiser is not None
        settlement.confirm_delivery(session, pool_id=pool_id, actor=organiser, fee_bps=FEE_BPS, now=now)
        session.commit()
        pay_out(session, gateway, pool_id=pool_id, now=now)
    pending = list(session.scalars(select(Payout.pool_id).where(Payout.status == PayoutStatus.PENDING)))
    session.rollback()
    for pool_id in pending:
        pay_out(session, gateway, pool_id=pool_id, now=now)


def pay_out(session: Session, gateway: PaymentGateway, *, pool_id: int, now: datetime) -> None:
    try:
        jobs.pay_out(session, gateway, pool_id=pool_id, now=now)
    except Exception:
        session.rollback()
        log.exception("paying out pool %s failed; the next loop retries", pool_id)


def finished(session: Session) -> bool:
    """Nothing left: no open or awarded pool, no delivered pool short of completed, no pending payout."""
    waiting = session.scalar(
        select(func.count())
        .select_from(Pool)
        .where(
            Pool.status.in_([PoolStatus.OPEN, PoolStatus.AWARDED])
            | ((Pool.status == PoolStatus.SETTLED) & (Pool.id % 2 == 0))
        )
    )
    pending = session.scalar(select(func.count()).select_from(Payout).where(Payout.status == PayoutStatus.PENDING))
    session.rollback()
    return waiting == 0 and pending == 0


def run(database_url: str, gateway_name: str, stripe_base_url: str, epoch: float) -> None:
    """Loop over closing, settling and paying out until nothing is left to do."""
    engine = create_engine(database_url)
    gateway = make_gateway(gateway_name, stripe_base_url)
    with Session(engine, expire_on_commit=False) as session:  # as the app's sessions are configured
        print("ready", flush=True)
        while not finished(session):
            now = clock(epoch)
            pool_jobs.close_due_pools(session, now=now)
            jobs.settle_awarded_pools(session, gateway, now=now)
            deliver(session, gateway, now=now)
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
