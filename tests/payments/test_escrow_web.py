"""Escrow on the web pages, driven like a browser without JavaScript: every form that moves money
or ends a pool asks first, in money; each party sees the truth about its lines; pages are for
their parties only."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.payments import escrow, jobs
from app.payments.models import Dispute, Payment
from app.payments.offline import OfflineGateway
from app.pools.models import Pool, PoolStatus
from tests import factories
from tests.web_helpers import log_in, submit


def settled(session, now, members=2):
    return factories.settled_pool(session, now=now, members=members, quantity=8, price="100")


def test_confirming_delivery_asks_first_and_releases_only_the_members_line(client, session, now):
    pool, _vendor, buyers = settled(session, now)
    log_in(client, buyers[0].email)
    page = client.get(f"/pools/{pool.id}").get_data(as_text=True)
    assert "£800.00 is held until delivery is confirmed" in page and "Open a dispute" in page
    asked = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/delivery").get_data(as_text=True)
    assert "This releases £800.00 to the vendor now" in asked and "Nobody else" in asked
    assert session.scalar(select(Payment.released_at).where(Payment.member_id == buyers[0].id)) is None
    done = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/delivery", {"confirmed": "yes"}, follow=True)
    assert "£800.00 released to the vendor on" in done.get_data(as_text=True)
    session.expire_all()
    kinds = {line.member_id: escrow.line_state(line).kind for line in escrow.lines_of(session, pool.id)}
    assert kinds == {buyers[0].id: "released", buyers[1].id: "held"}


def test_the_dispute_journey_on_the_web(client, session, now):
    pool, vendor, buyers = settled(session, now)
    operator = factories.user(session, now=now, is_dispute_operator=True)
    log_in(client, buyers[0].email)
    bad = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/disputes", {"message": "x"}, follow=True)
    assert "choose what went wrong" in bad.get_data(as_text=True)
    opened = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/disputes",
                    {"reason": "partial", "message": "Four of eight arrived."}, follow=True)  # fmt: skip
    text = opened.get_data(as_text=True)
    assert "Four of eight arrived." in text and "held while the dispute is open" in text
    dispute = session.scalar(select(Dispute))
    submit(client, "/", "/logout")

    log_in(client, vendor.email)
    url = f"/disputes/{dispute.id}"
    assert "Your answer" in client.get(url).get_data(as_text=True)
    typo = submit(
        client, url, f"{url}/answer", {"answer": "partial", "refund_amount": "4oo", "message": ""}, follow=True
    )
    assert "Refund: Enter an amount such as 25.00." in typo.get_data(as_text=True)  # every problem at once
    assert "Message:" in typo.get_data(as_text=True)
    answer = {"answer": "partial", "refund_amount": "400.00", "message": "We refund the missing four."}
    asked = submit(client, url, f"{url}/answer", answer).get_data(as_text=True)
    assert "£400.00 of the £800.00 line" in asked  # the confirm step, in money
    submit(client, url, f"{url}/answer", {**answer, "confirmed": "yes"})
    submit(client, "/", "/logout")

    log_in(client, pool.organiser.email)
    submit(client, url, f"{url}/messages", {"body": "I checked the delivery note: four arrived."})
    console = client.get(f"/pools/{pool.id}/console").get_data(as_text=True)
    assert "the vendor offered a partial refund" in console
    submit(client, "/", "/logout")

    log_in(client, buyers[0].email)
    asked = submit(client, url, f"{url}/accept").get_data(as_text=True)
    assert "You get £400.00 back, and £400.00 is released to the vendor now" in asked
    page = submit(client, url, f"{url}/accept", {"confirmed": "yes"}, follow=True).get_data(as_text=True)
    assert "£400.00 refunded; £400.00 released to the vendor" in page  # the refund was made at once (offline)
    assert "I checked the delivery note" in page
    submit(client, "/", "/logout")

    log_in(client, operator.email)  # an operator never sees a dispute that was not escalated
    assert client.get(url).status_code == 404
    assert "No dispute is waiting" in client.get("/admin/disputes").get_data(as_text=True)


def test_dispute_pages_are_for_their_parties_only(client, session, now):
    pool, _vendor, buyers = settled(session, now)
    dispute = escrow.open_dispute(session, pool_id=pool.id, actor=buyers[0], reason="not_delivered",
                                  message="Never came.", terms=jobs.TERMS, now=now)  # fmt: skip
    session.commit()
    for outsider in (buyers[1], factories.vendor(session, now=now), factories.user(session, now=now)):
        log_in(client, outsider.email)
        assert client.get(f"/disputes/{dispute.id}").status_code == 404
        refused = submit(client, "/", f"/disputes/{dispute.id}/messages", {"body": "Let me in."})
        assert refused.status_code == 404
        submit(client, "/", "/logout")
    log_in(client, buyers[1].email)
    assert client.get("/admin/disputes").status_code == 404  # the queue is the operators'


def test_an_operator_decides_an_escalated_dispute_after_a_confirm_step(client, session, now):
    pool, _vendor, buyers = settled(session, now)
    operator = factories.user(session, now=now, is_dispute_operator=True)
    dispute = escrow.open_dispute(session, pool_id=pool.id, actor=buyers[0], reason="not_delivered",
                                  message="Never came.", terms=jobs.TERMS, now=now)  # fmt: skip
    escrow.escalate_due(session, now=now + jobs.TERMS.answer)
    session.commit()
    log_in(client, operator.email)
    assert f"/disputes/{dispute.id}" in client.get("/admin/disputes").get_data(as_text=True)
    url = f"/disputes/{dispute.id}"
    asked = submit(client, url, f"{url}/decision", {"outcome": "refund", "note": "No proof of delivery."})
    assert "The member is refunded £800.00 and the vendor is paid £0.00" in asked.get_data(as_text=True)
    page = submit(client, url, f"{url}/decision", {"outcome": "refund", "note": "No proof of delivery.",
                                                   "confirmed": "yes"}, follow=True).get_data(as_text=True)  # fmt: skip
    assert "Refunded in full: £800.00." in page


def test_the_organiser_of_a_collection_pool_confirms_collection_for_members(client, session, now):
    pool, _vendor, _buyers = settled(session, now, members=3)
    pool.delivery_to_organiser = True
    session.commit()
    log_in(client, pool.organiser.email)
    asked = submit(client, f"/pools/{pool.id}/console", f"/pools/{pool.id}/delivery", {"everyone": "true"})
    assert "This releases £2,400.00 to the vendor now" in asked.get_data(as_text=True)
    submit(client, f"/pools/{pool.id}/console", f"/pools/{pool.id}/delivery", {"everyone": "true", "confirmed": "yes"})
    session.expire_all()
    assert all(line.released_by == "organiser" for line in escrow.lines_of(session, pool.id))


def test_closing_and_cancelling_ask_first_with_the_consequence_in_numbers(client, session, now):
    pool = factories.open_pool(session, now=now, min_quantity=10)
    factories.commitment(session, pool=pool, now=now, quantity=4, max_unit_price=Decimal("20"))
    factories.bid(session, pool=pool, now=now, curve=((1, "15"),))
    log_in(client, pool.organiser.email)
    asked = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/close").get_data(as_text=True)
    assert "This fails the pool: 6 more" in asked
    cancel = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/cancel").get_data(as_text=True)
    assert "nobody is charged; its 1 member are told" in cancel.replace("members are", "member are")
    assert session.get(Pool, pool.id).status == PoolStatus.OPEN  # nothing happened before the confirmation
    factories.commitment(session, pool=pool, now=now, quantity=6, max_unit_price=Decimal("20"))
    asked = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/close").get_data(as_text=True)
    assert "2 members will be charged £150.00 now, at £15.00 per" in asked
    submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/cancel", {"confirmed": "yes"})
    session.expire_all()
    assert session.get(Pool, pool.id).status == PoolStatus.CANCELLED


def test_the_vendor_dashboard_shows_the_fee_each_line_and_the_payouts(client, session, now):
    pool, vendor, buyers = settled(session, now)
    escrow.confirm_delivery(session, pool_id=pool.id, actor=buyers[0], terms=jobs.TERMS, now=now)
    escrow.open_dispute(session, pool_id=pool.id, actor=buyers[1], reason="partial", message="Half came.",
                        terms=jobs.TERMS, now=now)  # fmt: skip
    session.commit()
    jobs.pay_out_pending(session, OfflineGateway(), now=now)
    log_in(client, vendor.email)
    page = client.get("/vendor").get_data(as_text=True)
    assert "platform fee of 5%" in page
    assert "You get £760.00 after the £40.00 fee" in page and "held while the dispute is open" in page
    assert "£760.00" in page.split("<h2>Payouts</h2>")[1]


def test_the_vendor_is_shown_the_fee_before_it_bids(client, session, now):
    pool = factories.open_pool(session, now=now)
    vendor = factories.vendor(session, now=now, categories=[pool.category])
    log_in(client, vendor.email)
    assert "platform fee of <strong>5%</strong>" in client.get(f"/pools/{pool.id}/bid").get_data(as_text=True)
    placed = client.post(f"/api/v1/pools/{pool.id}/bids", headers=factories.token(session, vendor, now=now),
                         json={"tiers": [{"min_quantity": 1, "unit_price": "9.50"}], "capacity": 100})  # fmt: skip
    assert placed.status_code == 201 and placed.get_json()["platform_fee_bps"] == 500


def test_operators_grant_and_revoke_the_dispute_role_from_the_cli(app, session, now):
    from app.accounts.models import User

    user = factories.user(session, now=now, email="judge@example.com")
    runner = app.test_cli_runner()
    granted = runner.invoke(args=["users", "grant-disputes", "--email", "Judge@Example.com"])
    assert granted.exit_code == 0 and "is now a dispute operator" in granted.output
    session.expire_all()
    assert session.get(User, user.id).is_dispute_operator is True
    revoked = runner.invoke(args=["users", "grant-disputes", "--email", "judge@example.com", "--revoke"])
    assert revoked.exit_code == 0
    session.expire_all()
    assert session.get(User, user.id).is_dispute_operator is False
    missing = runner.invoke(args=["users", "grant-disputes", "--email", "nobody@example.com"])
    assert missing.exit_code != 0 and "No account" in missing.output


def _statements_for(client, count_queries, path):
    count_queries.statements.clear()
    assert client.get(path).status_code == 200
    return count_queries.count


def test_pages_with_lines_and_disputes_take_the_same_queries_however_many(client, session, now, count_queries):
    """No query per line: the console and the vendor dashboard cost as much with 2 lines as with 12."""
    counts = []
    for members in (2, 12):
        pool, vendor, buyers = settled(session, now, members=members)
        for buyer in buyers[: members // 2]:
            escrow.open_dispute(session, pool_id=pool.id, actor=buyer, reason="partial", message="Half came.",
                                terms=jobs.TERMS, now=now)  # fmt: skip
        escrow.confirm_delivery(session, pool_id=pool.id, actor=buyers[-1], terms=jobs.TERMS, now=now)
        session.commit()
        log_in(client, pool.organiser.email)
        console = _statements_for(client, count_queries, f"/pools/{pool.id}/console")
        submit(client, "/", "/logout")
        log_in(client, vendor.email)
        dashboard = _statements_for(client, count_queries, "/vendor")
        submit(client, "/", "/logout")
        counts.append((console, dashboard))
    assert counts[0] == counts[1], counts
