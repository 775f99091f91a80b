"""A member's demand curve: how much they take at each price. Pure.

A commitment is 1 to MAX_POINTS points (quantity, max_unit_price), quantity strictly rising as the
maximum strictly falls: "2 at up to 4.00, 5 at up to 3.50". At a unit price P the member takes the
largest quantity whose maximum is at least P, and nothing when no point's maximum reaches P. One
point is the plain commitment "this many, at up to this much".

A commitment row keeps its last point (the most it takes, at its lowest maximum) in `quantity` and
`max_unit_price`, and the points before it in `smaller_points` (docs/domain.md, "Demand curves").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

MAX_POINTS = 5


@dataclass(frozen=True)
class Point:
    """One point of a demand curve: up to `quantity` units at up to `max_unit_price` each."""

    quantity: int
    max_unit_price: Decimal


Curve = tuple[Point, ...]  # by quantity, rising; maxima falling


def curve_errors(points: Sequence[Point]) -> list[str]:
    """What is wrong with a demand curve's shape (empty when fine); prices and quantities are already valid numbers."""
    if not points:
        return ["Give at least one quantity and the most you would pay per unit."]
    if len(points) > MAX_POINTS:
        return [f"A demand curve has at most {MAX_POINTS} points; this one has {len(points)}."]
    problems = []
    quantities = [point.quantity for point in points]
    if len(set(quantities)) != len(quantities):
        problems.append("Each point needs its own quantity; a quantity appears twice.")
    for number, (before, after) in enumerate(pairwise(points), start=2):
        if after.quantity <= before.quantity:
            problems.append(f"Point {number}: its quantity must be larger than point {number - 1}'s.")
        if after.max_unit_price >= before.max_unit_price:
            problems.append(
                f"Point {number}: its maximum price must be lower than point {number - 1}'s "
                "(a larger quantity is worth it only at a lower price)."
            )
    return list(dict.fromkeys(problems))


def quantity_at(points: Sequence[Point], price: Decimal) -> int:
    """The quantity the curve takes at `price`: the largest whose maximum is at least `price`, else 0."""
    taken = 0
    for point in points:
        if point.max_unit_price < price:
            break
        taken = point.quantity
    return taken


def most_payable(points: Sequence[Point]) -> Decimal:
    """The most the curve could ever be charged, in major units: the largest quantity × maximum."""
    return max(point.quantity * point.max_unit_price for point in points)


def split_curve(points: Sequence[Point]) -> tuple[Point, Curve]:
    """The last point (stored in the commitment's own columns) and the points before it."""
    return points[-1], tuple(points[:-1])


def describe(points: Sequence[Point]) -> str:
    """The curve as plain text, for audit records and CSV: "2 at 4.0000; 5 at 3.5000"."""
    return "; ".join(f"{point.quantity} at {point.max_unit_price:.4f}" for point in points)
