"""Rules for text people type: which characters belong in one line, and in several. Pure code."""

from __future__ import annotations

import unicodedata

MULTILINE_ALLOWED = frozenset("\n\r\t")
_CONTROL = ("Cc", "Zl", "Zp")  # control characters, line and paragraph separators


def control_characters(value: str, *, multiline: bool) -> list[str]:
    """The control characters in `value` that do not belong in it (line breaks and tabs allowed if multiline).

    Titles, names and units end up in email headers, CSV cells and one-line page elements, where a
    line break or a NUL breaks them; PostgreSQL refuses NUL in any text.
    """
    allowed = MULTILINE_ALLOWED if multiline else frozenset()
    return [c for c in value if c not in allowed and unicodedata.category(c) in _CONTROL]


def one_line(value: str) -> str:
    """The text with every run of whitespace or control characters made one space: a header value."""
    return " ".join("".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in value).split())


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")  # what makes a spreadsheet read a cell as a formula


def spreadsheet_safe(cell: str) -> str:
    """The cell as text a spreadsheet shows and never evaluates (CSV formula injection, OWASP)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell
