"""Delivery threads: each winning vendor talks with the members it serves, and nobody else reads it."""

from __future__ import annotations

from sqlalchemy import func, select

from app.bids import award
from app.notifications.models import Notification
from app.reputation.scores import price_factors
from app.social.models import DeliveryMessage
from tests import factories
from tests.bids.test_split_award import two_short_vendors
from tests.web_helpers import log_in, submit


def closed_split_pool(session, now):
    pool, members, cheap, runner_up = two_short_vendors(session, now)
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    return pool, members, cheap.vendor, runner_up.vendor


def test_a_vendor_and_its_members_write_to_each_other_and_are_told(client, session, now):
    pool, members, cheap, _runner_up = closed_split_pool(session, now)
    url = f"/api/v1/pools/{pool.id}/threads/{cheap.id}/messages"
    vendor = factories.token(session, cheap, now=now)
    sent = client.post(url, json={"body": "Delivering Tuesday, 9-12."}, headers=vendor)
    assert sent.status_code == 201 and sent.get_json()["author_id"] == cheap.id
    told = session.scalars(select(Notification.user_id).where(Notification.kind == "delivery_message_to_member"))
    assert set(told) == {m.id for m in members[:3]}  # the members it serves, not the runner-up's

    reply = client.post(url, json={"body": "Tuesday works."}, headers=factories.token(session, members[0], now=now))
    assert reply.status_code == 201
    thread = client.get(url, headers=factories.token(session, members[1], now=now)).get_json()
    assert [m["body"] for m in thread] == ["Delivering Tuesday, 9-12.", "Tuesday works."]
    to_vendor = select(Notification.id).where(Notification.kind == "delivery_message_to_vendor")
    assert session.scalar(to_vendor.where(Notification.user_id == cheap.id))


def test_nobody_outside_the_thread_reads_or_writes_it(client, session, now):
    pool, members, cheap, runner_up = closed_split_pool(session, now)
    url = f"/api/v1/pools/{pool.id}/threads/{cheap.id}/messages"
    client.post(url, json={"body": "Private: gate code 4321"}, headers=factories.token(session, cheap, now=now))
    # Another vendor's member, the rival vendor, a stranger.
    outsiders = [members[4], runner_up, factories.user(session, now=now)]
    for outsider in outsiders:
        headers = factories.token(session, outsider, now=now)
        assert client.get(url, headers=headers).status_code == 404
        assert client.post(url, json={"body": "hi"}, headers=headers).status_code == 404
    organiser = client.get(url, headers=factories.token(session, pool.organiser, now=now))
    assert organiser.status_code == 200 and "gate code" in organiser.get_data(as_text=True)
    nobody = f"/api/v1/pools/{pool.id}/threads/{members[0].id}/messages"  # a member is no vendor: no thread
    assert client.get(nobody, headers=factories.token(session, members[0], now=now)).status_code == 404
    assert session.scalar(select(func.count()).select_from(DeliveryMessage)) == 1


def test_a_bad_message_is_refused_and_saves_nothing(client, session, now):
    pool, _members, cheap, _runner_up = closed_split_pool(session, now)
    url = f"/api/v1/pools/{pool.id}/threads/{cheap.id}/messages"
    headers = factories.token(session, cheap, now=now)
    for body in ({"body": "   "}, {"body": "x" * 2001}, {"body": "a\x00b"}, {}):
        refused = client.post(url, json=body, headers=headers)
        assert refused.status_code == 422 and "body" in refused.get_json()["errors"]
    assert session.scalar(select(func.count()).select_from(DeliveryMessage)) == 0


def test_the_pages_link_the_thread_and_take_a_message(client, session, now):
    pool, members, cheap, _runner_up = closed_split_pool(session, now)
    log_in(client, members[0].email)
    page = client.get(f"/pools/{pool.id}").get_data(as_text=True)
    thread_url = f"/pools/{pool.id}/threads/{cheap.id}"
    assert thread_url in page and "Message them about delivery" in page
    empty = submit(client, thread_url, thread_url, {"body": ""})
    assert empty.status_code == 400 and "Write something" in empty.get_data(as_text=True)
    sent = submit(client, thread_url, thread_url, {"body": "Can you leave it with a neighbour?"}, follow=True)
    assert "Can you leave it with a neighbour?" in sent.get_data(as_text=True)

    client.post("/logout", data={})
    log_in(client, cheap.email)
    deliveries = client.get(f"/pools/{pool.id}/deliveries").get_data(as_text=True)
    assert thread_url in deliveries and "Messages with your members" in deliveries
