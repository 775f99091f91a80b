"""Settlement and escrow survive SIGKILL at random moments: nobody is charged twice, no line is paid
out twice, no refund exceeds its line, nothing is lost.

A worker process (tests/payments/crash_worker.py) closes due pools, charges the served members,
and for each charged line confirms delivery, disputes it (full or partial refund) or lets the
dispute window release it; it makes the refunds and pays the vendor in batches. The test kills it
with SIGKILL at seeded random moments, restarts it, and once a run finishes checks the money: with
the offline gateway through the Payment rows and the ledger, with Stripe also through what the
fake Stripe saw.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from app.bids import award
from app.payments import jobs as payment_jobs
from app.payments.models import Payment, PaymentStatus, Payout
from app.pools.models import Commitment
from app.reputation.scores import price_factors
from tests import factories
from tests.fakes.fake_stripe import FakeStripe, Response
from tests.payments.crash_worker import partial_refund, plan

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261124
POOLS, MEMBERS, PER_POOL = 40, 14, 10  # each pool: 9 members the bid serves, 1 priced out
KILLS = 8
BUDGET_SECONDS = 120  # per gateway, all runs together: a bound for a loaded machine, not the usual time
DECLINED_CARD, GOOD_CARD = "pm_card_chargeDeclined", "pm_card_visa"  # FakeStripe's test cards


@dataclass(frozen=True)
class World:
    pool_ids: list[int]
    served: set[tuple[int, int]]  # (pool_id, member_id) the bid serves
    declined: set[tuple[int, int]]  # served, but the card is declined (Stripe only)
    customers: dict[int, str]  # member_id -> customer_ref


def _build(session: Session, engine: Engine, now: datetime, gateway) -> World:
    """Pools already due, each with one bid at 90 and ten members (one whose maximum is 50)."""
    organiser = factories.user(session, now=now)
    vendor = factories.vendor(session, now=now)
    members = [factories.user(session, now=now) for _ in range(MEMBERS)]
    if gateway is not None:  # Stripe: customers for members, a connected account for the vendor
        for member in members:
            member.payment_customer_ref = gateway.ensure_customer(
                user_id=member.id, email=member.email, idempotency_key=f"user-{member.id}-customer"
            )
        vendor.vendor_profile.payout_account_id = gateway.create_connected_account(
            user_id=vendor.id, email=vendor.email, idempotency_key=f"user-{vendor.id}-account"
        )
        vendor.vendor_profile.payouts_enabled = True
        session.commit()
    pool_ids, served, declined = [], set(), set()
    for p in range(POOLS):
        pool = factories.open_pool(session, now=now, organiser=organiser, min_quantity=5)
        for j in range(PER_POOL):
            member = members[(p + j) % MEMBERS]
            price = "50" if j == PER_POOL - 1 else "100"
            made = factories.commitment(
                session, pool=pool, now=now, member=member, quantity=1 + (p + j) % 3, max_unit_price=price
            )
            if price == "100":
                served.add((pool.id, member.id))
                if gateway is not None and (p * PER_POOL + j) % 11 == 0:
                    declined.add((pool.id, member.id))
            if gateway is not None:
                made.payment_method_ref = DECLINED_CARD if (pool.id, member.id) in declined else GOOD_CARD
        session.commit()
        factories.bid(session, pool=pool, now=now, vendor=vendor, curve=((1, "90"),))
        pool_ids.append(pool.id)
    with engine.begin() as conn:  # test setup: the services refuse a deadline in the past
        conn.execute(text("UPDATE pools SET closes_at = now() - interval '5 minutes'"))
    customers = {m.id: m.payment_customer_ref or "" for m in members}
    return World(pool_ids, served, declined, customers)


def _start_worker(database_url: str, gateway: str, stripe_url: str, epoch: float, log: Path):
    command = [sys.executable, "-m", "tests.payments.crash_worker", database_url, gateway, stripe_url]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, "--epoch", repr(epoch)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_for(log: Path, word: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if word in log.read_text(errors="replace").split():
            return True
        if process.poll() is not None:
            return word in log.read_text(errors="replace").split()
        time.sleep(0.01)
    return False


def _progress(engine: Engine) -> int:
    """Work done so far: pools closed, payments final, payouts paid."""
    with engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT (SELECT count(*) FROM pools WHERE status <> 'open')"
                    " + (SELECT count(*) FROM payments WHERE status IN ('succeeded', 'failed', 'refunded'))"
                    " + (SELECT count(*) FROM payments WHERE released_at IS NOT NULL OR refunded_minor > 0)"
                    " + (SELECT count(*) FROM payouts WHERE status = 'paid')"
                )
            )
            or 0
        )


def _in_flight(engine: Engine) -> set[int]:
    """Payments leased for a charge whose outcome was never recorded: the worker died mid-call."""
    with engine.connect() as conn:
        return set(conn.scalars(text("SELECT id FROM payments WHERE status = 'pending' AND attempts > 0")))


def _stuck(engine: Engine, log: Path, moment: float | None) -> str:
    """Why the work did not finish in time: the unfinished rows and the worker's output."""
    with engine.connect() as conn:
        payments = conn.execute(
            text(
                "SELECT id, pool_id, status, attempts, next_attempt_at, failure_code FROM payments"
                " WHERE status NOT IN ('succeeded', 'failed')"
            )
        ).all()
        payouts = conn.execute(text("SELECT id, status, attempts FROM payouts WHERE status <> 'paid'")).all()
        pools = conn.execute(text("SELECT status, count(*) FROM pools GROUP BY status")).all()
    return (
        f"no progress past {moment} within {BUDGET_SECONDS} s: pools {pools}, unfinished payments {payments},"
        f" payouts {payouts}\n{log.read_text(errors='replace')[-3000:]}"
    )


def _aim_at_a_charge_in_flight(engine: Engine, worker: subprocess.Popen[bytes], patience: float) -> None:
    """Wait up to `patience` seconds for a charge to be leased but not yet recorded: the moment
    the lease pattern exists for. (Not found in time, the kill lands wherever the worker is.)"""
    deadline = time.monotonic() + patience
    while worker.poll() is None and time.monotonic() < deadline and not _in_flight(engine):
        time.sleep(0.001)


def _kill_moments(rng: random.Random, world: World) -> list[float]:
    """Seeded random amounts of work after which to kill: one while closing, four while charging,
    three while releasing, refunding and paying out, so that every phase is cut at least once
    whatever the machine's speed."""
    closes, charges = len(world.pool_ids), len(world.served)
    lines = len(world.served) - len(world.declined)
    return sorted(
        [
            rng.uniform(0, closes),
            *(rng.uniform(closes, closes + charges) for _ in range(KILLS - 4)),
            *(rng.uniform(closes + charges, closes + charges + lines) for _ in range(3)),
        ]
    )


def _kill_and_restart(engine: Engine, database_url: str, gateway: str, stripe_url: str, world: World, tmp_path):
    """Run workers, SIGKILL each but the last once its work passes the next kill moment.

    Return the payments a kill cut off mid-call, and the work done at each kill.
    """
    rng = random.Random(f"{SEED}-{gateway}")
    moments = _kill_moments(rng, world)
    deadline, epoch = time.monotonic() + BUDGET_SECONDS, time.time()
    in_flight, progress = set[int](), list[int]()
    for generation in range(len(moments) + 1):
        log = tmp_path / f"worker-{gateway}-{generation}.log"
        worker = _start_worker(database_url, gateway, stripe_url, epoch, log)
        try:
            assert _wait_for(log, "ready", worker, timeout=30), log.read_text(errors="replace")
            if generation < len(moments):
                while worker.poll() is None and _progress(engine) < moments[generation]:
                    assert time.monotonic() < deadline, _stuck(engine, log, moments[generation])
                    time.sleep(0.005)
                _aim_at_a_charge_in_flight(engine, worker, patience=rng.uniform(0, 0.3))
                if worker.poll() is None:
                    worker.send_signal(signal.SIGKILL)
                    worker.wait(timeout=10)
                    in_flight |= _in_flight(engine)
                    progress.append(_progress(engine))
                    continue
            else:
                try:
                    worker.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise AssertionError(_stuck(engine, log, None)) from None
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
        output = log.read_text(errors="replace")
        assert worker.returncode == 0 and "done" in output.split(), output[-4000:]
        return in_flight, progress
    raise AssertionError("unreachable")


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("gateway_name", ["offline", "stripe"])
def test_settlement_and_escrow_killed_at_random_moments_move_every_line_exactly_once(
    gateway_name, session, engine, database_url, now, tmp_path, fake_stripe, make_stripe_gateway
):
    stripe = gateway_name == "stripe"
    if stripe:
        _drop_truncated_requests(fake_stripe)
        # On top of the kills, faults the SDK rides out within one call (two retries): a charge made
        # but unanswered, twice, then replayed; rate-limited transfers. Three in a row would exhaust
        # the retries and park the payment for a real two-minute lease.
        fake_stripe.fail_next("payment_intents.create", "drop_after_commit", times=2)
        fake_stripe.fail_next("transfers.create", "rate_limited", times=2)
    world = _build(session, engine, now, make_stripe_gateway() if stripe else None)
    started = time.monotonic()
    in_flight, progress = _kill_and_restart(
        engine, database_url, gateway_name, fake_stripe.url if stripe else "-", world, tmp_path
    )
    elapsed = time.monotonic() - started

    with engine.connect() as conn:
        payments = _check_pools_payments_and_ledger(conn, world)
    retried = {p.id for p in payments if p.attempts > 1}
    assert in_flight <= retried, "a charge cut off by a kill is attempted again (with the same key)"
    with engine.connect() as conn:
        outcomes = Counter(conn.execute(text("SELECT coalesce(outcome, 'none') FROM disputes")).scalars())
        released_by = Counter(
            conn.execute(text("SELECT released_by FROM payments WHERE released_at IS NOT NULL")).scalars()
        )
    if stripe:
        _check_stripe(fake_stripe, world, session)
    commitments = len(world.pool_ids) * PER_POOL
    print(
        f"\n[{gateway_name}] kills={len(progress)} (work done at each: {progress} of "
        f"{len(world.pool_ids) + 2 * len(world.served) - len(world.declined)} closes, charges and releases "
        "or refunds, + payouts), "
        f"charges cut off mid-call={len(in_flight)}, "
        f"pools={len(world.pool_ids)}, members={MEMBERS}, commitments={commitments}, served={len(world.served)}, "
        f"declined={len(world.declined)}, payments attempted twice={len(retried)}, "
        f"lines released by {dict(released_by)}, disputes {dict(outcomes)}, elapsed={elapsed:.1f}s"
    )
    assert len(progress) >= KILLS // 2, "most kills should land while the worker still had work"


def _drop_truncated_requests(fake: FakeStripe) -> None:
    """FAKE BUG workaround (remove once tests/fakes/fake_stripe.py checks Content-Length itself).

    A worker killed between sending a request's headers and its body leaves the fake a request
    with a short body; the fake runs it with whatever parameters arrived and saves the answer
    under the idempotency key, so the worker's full retry gets 400 idempotency_error. An HTTP
    server (Stripe's included) never runs an incomplete request: drop it unanswered instead.
    """
    handle = fake.handle

    def complete_requests_only(method: str, target: str, body: str, headers: dict[str, str]) -> Response | None:
        if len(body.encode()) < int(headers.get("content-length") or 0):
            return None
        return handle(method, target, body, headers)

    fake.handle = complete_requests_only  # type: ignore[method-assign]


def _check_pools_payments_and_ledger(conn, world: World) -> list:
    statuses = dict(conn.execute(text("SELECT id, status FROM pools")).all())
    for pool_id in world.pool_ids:
        assert statuses[pool_id] in {"completed", "refunded", "failed"}, (pool_id, statuses[pool_id])
    audit = Counter(conn.execute(text("SELECT pool_id, action FROM audit_events WHERE action LIKE 'pool.%'")).all())
    for pool_id in world.pool_ids:
        assert audit[(pool_id, "pool.close")] == audit[(pool_id, "pool.settle")] == 1, pool_id

    lines = {
        (pool_id, member_id): amount
        for pool_id, member_id, amount in conn.execute(
            text(
                "SELECT a.pool_id, al.member_id, al.amount_minor"
                " FROM award_lines al JOIN awards a ON a.id = al.award_id"
            )
        )
    }
    assert set(lines) == world.served, "the award serves exactly the members whose maximum covers the bid"
    payments = conn.execute(text("SELECT * FROM payments")).all()
    by_member = Counter((p.pool_id, p.member_id) for p in payments)
    assert set(by_member) == world.served and set(by_member.values()) == {1}, "one payment per award line"
    for p in payments:
        declined = (p.pool_id, p.member_id) in world.declined
        assert p.amount_minor == lines[(p.pool_id, p.member_id)], p
        assert (p.status == "failed") == declined, p
    for pool_id, member_id, status in conn.execute(text("SELECT pool_id, member_id, status FROM commitments")):
        if (pool_id, member_id) not in world.served:
            assert status == "unserved", (pool_id, member_id, status)
        else:
            assert status == ("payment_failed" if (pool_id, member_id) in world.declined else "charged")
    _check_lines(conn, [p for p in payments if p.status != "failed"])
    _check_ledger(conn, world, payments)
    return payments


def _check_lines(conn, charged: list) -> None:
    """Every charged line ended as its plan says: released in full, or refunded in full or in part
    with the rest released; each once; what was released paid out in exactly one payout."""
    disputes = {d.payment_id: d for d in conn.execute(text("SELECT * FROM disputes"))}
    paid = {p.id: p for p in conn.execute(text("SELECT * FROM payouts"))}
    release = text("SELECT subject_id FROM audit_events WHERE action = 'line.release'")
    released_events = Counter(conn.execute(release).scalars())
    postings = Counter(conn.execute(text("SELECT posting_key FROM ledger_entries WHERE account = 'escrow'")).scalars())
    for line in charged:
        step = plan(line.pool_id, line.member_id)
        refund = {"refund": line.amount_minor, "partial": partial_refund(line.amount_minor)}.get(step, 0)
        assert (line.refund_due_minor, line.refunded_minor) == (refund, refund), (step, line)
        assert line.released_minor == line.amount_minor - refund, (step, line)
        assert line.released_at is not None and released_events[line.id] == 1, line
        assert line.released_by == {"confirm": "member", "window": "window"}.get(step, "dispute"), (step, line)
        if step in ("refund", "partial"):
            dispute = disputes[line.id]
            assert (dispute.stage, dispute.outcome, dispute.refund_minor) == ("resolved", step, refund), dispute
        else:
            assert line.id not in disputes
        assert postings[f"payment-{line.id}-captured"] == 1
        assert postings[f"payment-{line.id}-released"] == int(line.released_minor > 0)
        if line.released_minor:
            assert line.payout_id in paid and paid[line.payout_id].status == "paid" and line.paid_out_at, line
    for payout in paid.values():
        mine = [line for line in charged if line.payout_id == payout.id]
        assert payout.line_count == len(mine) and payout.gross_minor == sum(line.released_minor for line in mine)
        assert payout.amount_minor == sum(line.released_minor - line.fee_minor for line in mine), payout


def _check_ledger(conn, world: World, payments: list) -> None:
    balances: dict[int, Counter[str]] = {pool_id: Counter() for pool_id in world.pool_ids}
    for pool_id, account, amount in conn.execute(text("SELECT pool_id, account, amount_minor FROM ledger_entries")):
        balances[pool_id][account] += amount
    paid_out = Counter(conn.execute(text("SELECT payment_id FROM ledger_entries WHERE posting_key LIKE '%-paid-out'"
                                         " AND account = 'vendor_payouts'")).scalars())  # fmt: skip
    assert set(paid_out.values()) <= {1}, "no line is paid out twice"
    for line in payments:  # each line's escrow as its own postings say: empty now, and never below zero
        held = conn.scalar(text("SELECT coalesce(sum(amount_minor), 0) FROM ledger_entries"
                                " WHERE payment_id = :id AND account = 'escrow'"), {"id": line.id})  # fmt: skip
        assert held == 0, line
    for pool_id in world.pool_ids:
        charged = [p for p in payments if p.pool_id == pool_id and p.status != "failed"]
        accounts = balances[pool_id]
        assert sum(accounts.values()) == 0, f"pool {pool_id}'s ledger does not balance: {dict(accounts)}"
        assert -accounts["member_payments"] == sum(p.amount_minor for p in charged)
        assert accounts["escrow"] == accounts["vendor_payable"] == 0, dict(accounts)
        assert accounts["refunds"] == sum(p.refunded_minor for p in charged)
        assert accounts["platform_fee"] == sum(p.fee_minor for p in charged)
        assert accounts["vendor_payouts"] == sum(p.released_minor - p.fee_minor for p in charged)


def _check_stripe(fake: FakeStripe, world: World, session: Session) -> None:
    """What Stripe saw: one PaymentIntent per served member, money taken only from good cards and
    refunded no more than decided, one transfer of each paid payout's amount."""
    query = select(Commitment.pool_id, Commitment.member_id).where(Commitment.pool_id.in_(world.pool_ids))
    for pool_id, member_id in session.execute(query):
        customer, group = world.customers[member_id], f"pool-{pool_id}"
        served = (pool_id, member_id) in world.served
        good = served and (pool_id, member_id) not in world.declined
        assert fake.succeeded_charges(customer, group) == int(good), (pool_id, member_id)
        assert len(fake.payment_intents(customer, group)) == int(served), (pool_id, member_id)
    objects = list(fake.objects.values())
    refunds = Counter()
    for refund in (o for o in objects if o.get("object") == "refund"):
        refunds[refund["payment_intent"]] += refund["amount"]
    query = select(Payment.gateway_ref, Payment.refunded_minor).where(Payment.refunded_minor > 0)
    decided = {ref: amount for ref, amount in session.execute(query)}
    assert dict(refunds) == decided, "each line refunded exactly what was decided, once"
    transfers = [o for o in objects if o.get("object") == "transfer"]
    paid = dict(session.execute(select(Payout.id, Payout.amount_minor).where(Payout.status == "paid")).all())
    assert Counter(t["transfer_group"] for t in transfers) == Counter(f"payout-{payout_id}" for payout_id in paid)
    assert {t["transfer_group"]: t["amount"] for t in transfers} == {f"payout-{p}": a for p, a in paid.items()}


def test_a_charge_cut_off_and_retried_after_the_member_saved_another_card_repeats_the_first_card(
    session, now, fake_stripe, make_stripe_gateway
):
    """APP BUG - fails until fixed in app/payments/jobs.py attempt_charge / stripe_gateway.charge.

    The commitment's card is not known yet (its setup webhook has not arrived), so the gateway
    charges the customer's newest card; the charge goes through but its answer is lost. Before
    the retry the member saves another card: the retry picks that one, sends other parameters
    under the same idempotency key and is refused. Since b9391e3 the refusal leaves the payment
    pending instead of failed, but every later retry is refused the same way: the member has
    paid, the pool never settles and no ledger has the money. The card the first attempt used
    must be the one every retry sends (resolve the fallback card before the first call and keep
    it on the payment, as payment_method_ref is kept).
    """
    gateway = make_stripe_gateway(max_network_retries=0)
    member = factories.user(session, now=now)
    member.payment_customer_ref = gateway.ensure_customer(user_id=member.id, email=member.email, idempotency_key="c1")
    setup = gateway.start_card_setup(customer_ref=member.payment_customer_ref, idempotency_key="s1")
    fake_stripe.complete_setup(setup.setup_ref)
    pool = factories.open_pool(session, now=now, min_quantity=1)
    factories.commitment(session, pool=pool, now=now, member=member)  # its card's webhook has not arrived
    factories.bid(session, pool=pool, now=now)
    later = now + timedelta(days=8)
    award.close_pool(session, pool_id=pool.id, actor=None, now=later, price_factors=price_factors)
    session.commit()

    fake_stripe.fail_next("payment_intents.create", "drop_after_commit")  # charged; the answer is lost
    payment_jobs.settle_pool(session, gateway, pool_id=pool.id, now=later)  # the first attempt
    payment_id = session.scalar(select(Payment.id).where(Payment.pool_id == pool.id))
    second = gateway.start_card_setup(customer_ref=member.payment_customer_ref, idempotency_key="s2")
    fake_stripe.complete_setup(second.setup_ref)  # the member saves another card
    for minutes in (3, 6):  # retries after the lease
        payment_jobs.attempt_charge(session, gateway, payment_id=payment_id, now=later + timedelta(minutes=minutes))

    assert fake_stripe.succeeded_charges(member.payment_customer_ref, f"pool-{pool.id}") == 1
    payment = session.get(Payment, payment_id)
    assert payment.status == PaymentStatus.SUCCEEDED, (payment.status, payment.failure_code, payment.failure_message)
