"""Idempotency-Key: a retried API write gives the first answer and writes nothing twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.accounts.models import IdempotencyKey
from app.accounts.service import purge_idempotency_keys
from app.pools.models import Commitment, Pool
from tests import factories


def test_the_same_key_and_body_replay_the_first_answer_and_write_once(client, session, now):
    headers = factories.token(session, factories.user(session, now=now), now=now) | {"Idempotency-Key": "create-1"}
    body = factories.pool_body(now)
    first = client.post("/api/v1/pools", json=body, headers=headers)
    again = client.post("/api/v1/pools", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert session.scalar(select(func.count()).select_from(Pool)) == 1


def test_the_same_key_with_another_body_is_422_and_changes_nothing(client, session, now):
    pool = factories.open_pool(session, now=now)
    headers = factories.token(session, factories.user(session, now=now), now=now) | {"Idempotency-Key": "join-1"}
    url = f"/api/v1/pools/{pool.id}/commitment"
    assert client.put(url, json={"quantity": 2, "max_unit_price": "10"}, headers=headers).status_code == 201
    other = client.put(url, json={"quantity": 3, "max_unit_price": "10"}, headers=headers)
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"
    assert session.scalar(select(Commitment.quantity)) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_a_malformed_key_is_400(client, session, now, key):
    headers = factories.token(session, factories.user(session, now=now), now=now) | {"Idempotency-Key": key}
    answer = client.post("/api/v1/pools", json=factories.pool_body(now), headers=headers)
    assert answer.status_code == 400 and answer.get_json()["code"] == "bad_idempotency_key"
    assert session.scalar(select(func.count()).select_from(Pool)) == 0


def test_a_refused_write_leaves_no_key_so_the_corrected_retry_runs(client, session, now):
    pool = factories.open_pool(session, now=now, max_per_member=5)
    headers = factories.token(session, factories.user(session, now=now), now=now) | {"Idempotency-Key": "join-2"}
    url = f"/api/v1/pools/{pool.id}/commitment"
    refused = client.put(url, json={"quantity": 50, "max_unit_price": "10"}, headers=headers)  # above the cap
    assert refused.status_code == 422
    assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    assert client.put(url, json={"quantity": 5, "max_unit_price": "10"}, headers=headers).status_code == 201


def test_keys_are_each_callers_own_and_expire_after_a_day(client, session, now):
    body = factories.pool_body(now)
    for _ in range(2):  # two people may use the same key string
        headers = factories.token(session, factories.user(session, now=now), now=now) | {"Idempotency-Key": "k"}
        assert client.post("/api/v1/pools", json=body, headers=headers).status_code == 201
    assert session.scalar(select(func.count()).select_from(Pool)) == 2
    assert purge_idempotency_keys(session, now=now + timedelta(hours=25)) == 2


@pytest.mark.postgres
def test_two_requests_with_one_key_at_once_write_once(app, session, now):
    """Two clients retry at the same moment on two connections: one writes, the other replays or waits."""
    headers = factories.token(session, factories.user(session, now=now), now=now) | {"Idempotency-Key": "race-1"}
    body = factories.pool_body(now)
    answers: list[int] = []

    def send() -> None:
        answers.append(app.test_client().post("/api/v1/pools", json=body, headers=headers).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(set(answers)) in ([201], [201, 409])
    assert session.scalar(select(func.count()).select_from(Pool)) == 1


def test_an_expired_key_may_be_used_for_a_new_request(client, session, now):
    headers = factories.token(session, factories.user(session, now=now), now=now) | {"Idempotency-Key": "old"}
    assert client.post("/api/v1/pools", json=factories.pool_body(now), headers=headers).status_code == 201
    session.execute(update(IdempotencyKey).values(created_at=now - timedelta(hours=25)))
    session.commit()
    other = factories.pool_body(now) | {"title": "Another pool entirely"}
    assert client.post("/api/v1/pools", json=other, headers=headers).status_code == 201  # not a 422 replay
    assert session.scalar(select(func.count()).select_from(Pool)) == 2
