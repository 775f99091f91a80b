"""Finding pools by text: full-text search on PostgreSQL (accents, stems, prefixes, rank, its index)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.pools import service
from tests import factories


def titles(session, now, q):
    return [pool.title for pool in service.search_pools(session, now=now, q=q).items]


@pytest.mark.postgres
def test_accents_stems_and_prefixes_match_and_the_title_ranks_first(session, now):
    factories.open_pool(session, now=now, title="Café beans, bulk roast", description="Fair trade")
    factories.open_pool(session, now=now, title="Solar panels for the street", description="Twelve roofs")
    factories.open_pool(session, now=now, title="Roof insulation", description="Goes well with a solar panel")
    assert titles(session, now, "cafe") == ["Café beans, bulk roast"]  # unaccented
    assert titles(session, now, "panel")[0] == "Solar panels for the street"  # stemmed; the title ranks first
    assert set(titles(session, now, "panel")) == {"Solar panels for the street", "Roof insulation"}
    assert titles(session, now, "sol stre") == ["Solar panels for the street"]  # prefixes, every word
    assert titles(session, now, "nothing like this") == []
    assert titles(session, now, "'&|!:*()") == []  # query syntax in the text is only text


@pytest.mark.postgres
def test_the_search_uses_its_index(session, now):
    factories.open_pool(session, now=now, title="Heat pumps")
    session.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask whether the index can serve
    plan = "\n".join(
        row[0]
        for row in session.execute(
            text(
                "EXPLAIN SELECT id FROM pools WHERE search_vector @@ to_tsquery('english', buyswarm_unaccent('heat:*'))"
            )
        )
    )
    assert "ix_pools_search_vector" in plan, plan
    session.rollback()


def test_a_search_ignores_case(session, now):
    factories.open_pool(session, now=now, title="Solar panels for the street")
    assert titles(session, now, "PANELS") == ["Solar panels for the street"]
