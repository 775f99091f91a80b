"""Finding pools by text: PostgreSQL full-text search, and a LIKE fallback on SQLite.

PostgreSQL (migration 0029): `pools.search_vector`, generated from the title (weight A), category (B)
and description (C), accents folded (`unaccent`) and words stemmed (English), with a GIN index.
Each word of the query matches as a prefix ("sol" finds "solar", "cafe" finds "Café", "panels"
finds "panel"), all words must match, and results are ranked by `ts_rank`. SQLite has no such
index: there a pool matches when its title or description contains the text (case-insensitive).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, or_

from app.pools.models import Pool

WORD = re.compile(r"\w+")


def text_filter(dialect: str, query: Select[Any], q: str) -> tuple[Select[Any], ColumnElement[Any] | None]:
    """`query` narrowed to the pools matching `q`, and a rank to order by (None on SQLite)."""
    words = WORD.findall(q)
    if dialect == "postgresql" and words:
        terms = func.to_tsquery("english", func.buyswarm_unaccent(" & ".join(f"{word}:*" for word in words)))
        vector: ColumnElement[Any] = literal_column("pools.search_vector")
        return query.where(vector.op("@@")(terms)), func.ts_rank(vector, terms)
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return query.where(or_(Pool.title.ilike(pattern, escape="\\"), Pool.description.ilike(pattern, escape="\\"))), None
