"""Bad input gets a clear error and loses nothing: the attack run's and the fuzzer's inputs, on every surface."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.pools.models import Pool
from tests import factories
from tests.web_helpers import log_in, submit


def pool_body(now, **overrides):
    body = {
        "title": "Solar for Leeds",
        "description": "4 kW installs",
        "category": "solar",
        "unit": "install",
        "currency": "GBP",
        "min_quantity": 10,
        "closes_at": (now + timedelta(days=7)).isoformat(),
    }
    return body | overrides


@pytest.fixture
def auth(session, now):
    return factories.token(session, factories.user(session, now=now), now=now)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "Solar\nBcc: all@example.com"),
        ("title", "Solar\r for all"),
        ("title", "Solar\u2028Leeds"),
        ("unit", "kW\th"),
        ("title", "Solar\x00Leeds"),
        ("description", "Line one\x00"),
    ],
)
def test_control_characters_in_texts_are_refused_by_field(client, session, auth, now, field, value):
    response = client.post("/api/v1/pools", json=pool_body(now, **{field: value}), headers=auth)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == [field]
    assert session.scalar(select(func.count(Pool.id))) == 0


def test_a_description_may_have_several_lines(client, auth, now):
    response = client.post("/api/v1/pools", json=pool_body(now, description="One.\r\n\r\nTwo.\tThree."), headers=auth)
    assert response.status_code == 201


def test_the_web_form_names_the_title_with_a_line_break(client, session, now):
    user = factories.user(session, now=now)
    log_in(client, user.email)
    form = pool_body(now, title="Solar\r\nLeeds", closes_at=(now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))
    response = submit(client, "/pools/new", "/pools/new", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "this field is a single line" in page
    assert session.scalar(select(func.count(Pool.id))) == 0


def test_a_display_name_with_a_line_break_is_refused(client):
    body = {"email": "eve@example.com", "password": "long enough password", "display_name": "Eve\nAdmin"}
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["display_name"]


def test_a_post_with_a_nul_byte_is_refused(client, session, now):
    pool = factories.open_pool(session, now=now)
    member = factories.commitment(session, pool=pool, now=now).member
    log_in(client, member.email)
    response = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/posts", {"body": "hi\x00there"}, follow=True)
    assert "control characters" in response.get_data(as_text=True)
