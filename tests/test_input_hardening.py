"""Bad input gets a clear error and loses nothing: the attack run's and the fuzzer's inputs, on every surface."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.pools.models import Pool
from tests import factories
from tests.web_helpers import log_in, submit

pool_body = factories.pool_body


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


@pytest.mark.parametrize(
    "path",
    ["/api/v1/pools/2147483648", "/api/v1/pools/99999999999999999999", "/pools/9223372036854775808",
     "/users/2147483648", "/api/v1/users/99999999999"],
)  # fmt: skip
def test_ids_too_large_for_a_column_are_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404


def test_an_id_too_large_is_not_found_on_writes_too(client, auth):
    assert client.delete("/api/v1/pools/1/bids/99999999999999", headers=auth).status_code == 404


def test_a_page_number_too_large_is_refused_by_the_api(client):
    response = client.get("/api/v1/pools?page=99999999999999999999")
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["page"]


def test_a_page_number_too_large_shows_the_first_page_on_the_web(client):
    response = client.get("/pools?page=99999999999999999999")
    assert response.status_code == 200  # the first page, as for any page number it cannot read


def test_deeply_nested_json_is_a_400(client, auth):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/pools", data=body, headers=auth | {"Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["code"] == "malformed_json"


def test_a_body_over_the_limit_is_413_and_not_read(client, auth):
    body = b'{"title": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    response = client.post("/api/v1/pools", data=body, headers=auth | {"Content-Type": "application/json"})
    assert response.status_code == 413 and response.get_json()["code"] == "payload_too_large"


@pytest.mark.parametrize("quantity", [2.5, "2.5", "1_000", "１２", "١٢", True, "1e3", " -3"])
def test_quantities_are_whole_numbers_written_plainly(client, session, auth, now, quantity):
    pool = factories.open_pool(session, now=now)
    response = client.put(
        f"/api/v1/pools/{pool.id}/commitment", json={"quantity": quantity, "max_unit_price": "10"}, headers=auth
    )
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["quantity"]
    assert session.get(Pool, pool.id).member_count == 0


@pytest.mark.parametrize("price", [10, 10.5, "١٠", "1_0", "1e2", "NaN", "Infinity", "10,5", "0x10"])
def test_prices_are_decimal_strings_of_plain_digits(client, session, auth, now, price):
    pool = factories.open_pool(session, now=now)
    response = client.put(
        f"/api/v1/pools/{pool.id}/commitment", json={"quantity": 1, "max_unit_price": price}, headers=auth
    )
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["max_unit_price"]


def test_a_plain_quantity_and_price_are_accepted(client, session, auth, now):
    pool = factories.open_pool(session, now=now)
    response = client.put(
        f"/api/v1/pools/{pool.id}/commitment", json={"quantity": 12, "max_unit_price": "10.50"}, headers=auth
    )
    assert response.status_code == 201 and response.get_json()["max_unit_price"] == "10.5000"


def test_a_profile_page_number_too_large_is_not_a_crash(client, session, now):
    user = factories.user(session, now=now)
    for page in ("99999999999999999999", "-5", "two"):
        assert client.get(f"/users/{user.id}?page={page}").status_code == 200


@pytest.mark.parametrize("ratee_id", [10**12, "99999999999999999999", 1.5, "1_0"])
def test_a_feedback_for_an_impossible_party_is_refused_by_field(client, session, auth, now, ratee_id):
    pool = factories.open_pool(session, now=now)
    body = {"ratee_id": ratee_id, "rating": 1}
    response = client.post(f"/api/v1/pools/{pool.id}/feedback", json=body, headers=auth)
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["ratee_id"]


def test_the_feedback_form_with_an_impossible_party_is_explained_not_a_crash(client, session, now):
    pool, _, buyers = factories.settled_pool(session, now=now)
    log_in(client, buyers[0].email)
    response = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/feedback",
                      {"ratee_id": "99999999999999999999", "rating": "1"}, follow=True)  # fmt: skip
    assert response.status_code == 200 and "Choose whether your experience" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/p/%00abc", "/api/v1/links/%00abc", "/i/%00abc", "/p/ab%0Acd", "/verify/%00"])
def test_control_characters_in_a_path_segment_are_not_found(client, path):
    assert client.get(path).status_code == 404
