"""The organiser's CSV export of members: every cell defused against formula injection, for the organiser only."""

from __future__ import annotations

import csv
import io

import pytest

from tests import factories
from tests.web_helpers import log_in


@pytest.fixture
def pool_with_hostile_member(session, now):
    pool = factories.open_pool(session, now=now)
    member = factories.commitment(session, pool=pool, now=now, quantity=3, max_unit_price="7.5").member
    member.display_name = '=HYPERLINK("http://evil.example","click")'
    member.email = "@SUM(1+1)*cmd|' /C calc'!A0@example.com"  # an address that parses, and starts with @
    session.commit()
    return pool


def test_every_cell_of_the_export_is_defused(client, session, pool_with_hostile_member):
    pool = pool_with_hostile_member
    log_in(client, pool.organiser.email)
    response = client.get(f"/pools/{pool.id}/members.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    header, row = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert header[:3] == ["commitment_id", "member", "email"]
    assert row[1].startswith("'=HYPERLINK") and row[2].startswith("'@SUM")
    assert row[3:5] == ["3", "7.5000"]


def test_only_the_organiser_gets_the_export(client, session, pool_with_hostile_member, now):
    stranger = factories.user(session, now=now)
    log_in(client, stranger.email)
    assert client.get(f"/pools/{pool_with_hostile_member.id}/members.csv").status_code == 404


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@x", "\tx", "\rx"])
def test_formula_starts_are_quoted(cell):
    from app.text import spreadsheet_safe

    assert spreadsheet_safe(cell) == "'" + cell and spreadsheet_safe("plain") == "plain"
