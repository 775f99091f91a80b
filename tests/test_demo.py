"""The demo seed builds a realistic marketplace through the real services."""

from sqlalchemy import func, select

from app.demo import seed_demo
from app.payments import ledger
from app.pools.models import Pool


def test_demo_seed_covers_the_lifecycle_and_balances(session, now):
    report = seed_demo(session, now=now, identity_key=b"test")
    session.commit()
    assert "12 pools" in report
    states = dict(session.execute(select(Pool.status, func.count(Pool.id)).group_by(Pool.status)).all())
    assert {"draft", "open", "cancelled", "failed", "awarded", "settled", "completed"} <= set(states)
    for pool_id in session.scalars(select(Pool.id)):
        assert ledger.statement(session, pool_id).total == 0
    assert seed_demo(session, now=now, identity_key=b"test", if_empty=True).startswith("Database already has data")
