"""The pool page's price chart: the best unit price at each quantity, as SVG geometry. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.bids.rules import Offer, best_price_curve

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 560, 220, 64, 36, 12


@dataclass(frozen=True)
class Step:
    quantity_from: int
    quantity_to: int  # inclusive
    unit_price: Decimal


@dataclass(frozen=True)
class Chart:
    steps: list[Step]
    path: str  # SVG path data for the step line
    demand_x: float  # where the current demand sits on the x axis
    y_labels: list[tuple[Decimal, Decimal]]
    x_labels: list[tuple[float, int]]
    max_quantity: int
    demand_path: str = ""  # the members' curves summed, as SVG path data (units wanted at each price)
    clearing: tuple[float, Decimal] | None = None  # (x, y) of what the market would clear at now


def price_steps(offers: Sequence[Offer]) -> list[Step]:
    """The best price as a step function of quantity; it changes only where some bid's tier or capacity does."""
    edges = sorted({t.min_quantity for o in offers for t in o.tiers} | {o.capacity + 1 for o in offers})
    if not edges:
        return []
    points = best_price_curve(offers, edges)
    steps: list[Step] = []
    for (start, price), (end, _) in zip(points, [*points[1:], (edges[-1], None)], strict=True):
        if price is None:
            continue
        if steps and steps[-1].unit_price == price and steps[-1].quantity_to == start - 1:
            steps[-1] = Step(steps[-1].quantity_from, end - 1, price)
        else:
            steps.append(Step(start, max(start, end - 1), price))
    return steps


def build_chart(
    offers: Sequence[Offer],
    demand: int,
    wanted: Sequence[tuple[Decimal, int]] = (),
    clearing: tuple[int, Decimal] | None = None,
) -> Chart | None:
    """Lay out the step chart in a WIDTH × HEIGHT box; None when no bid offers a price.

    `wanted` is the aggregate demand curve (app.bids.outlook.demand_steps, dearest first), drawn
    as a falling staircase clipped to the chart's price range; `clearing` (served units, price) is
    marked on it. The x axis spans what matters to members: past today's demand and every price
    break, not out to a vendor's full capacity.
    """
    steps = price_steps(offers)
    if not steps:
        return None
    breaks = [s.quantity_from for s in steps]
    top_q = max(int(max(demand, *breaks) * 1.5), 10)
    steps = [Step(s.quantity_from, min(s.quantity_to, top_q), s.unit_price) for s in steps if s.quantity_from <= top_q]
    high, low = max(s.unit_price for s in steps), min(s.unit_price for s in steps)
    span = (high - low) or high or Decimal(1)

    def x(quantity: int) -> float:
        return round(PAD_LEFT + (WIDTH - PAD_LEFT - 8) * quantity / top_q, 1)

    def y(price: Decimal) -> Decimal:
        """Pixels from the top; Decimal all the way, since prices are never floats."""
        floor = low - span * Decimal("0.1")
        usable = HEIGHT - PAD_BOTTOM - PAD_TOP
        return (PAD_TOP + (high - price) / (high - floor) * usable).quantize(Decimal("0.1"))

    path = " ".join(f"M{x(s.quantity_from)},{y(s.unit_price)} H{x(s.quantity_to)}" for s in steps)
    y_labels = [(y(price), price) for price in sorted({high, low})]
    top, bottom = Decimal(PAD_TOP), Decimal(HEIGHT - PAD_BOTTOM)

    def clipped(price: Decimal) -> Decimal:
        return min(max(y(price), top), bottom)

    demand_path = ""
    if wanted:
        # At each maximum the wanted total steps right; between maxima it holds (a falling staircase).
        first_price, first_total = wanted[0]
        parts = [f"M{x(min(first_total, top_q))},{clipped(first_price)}"]
        for price, total in wanted[1:]:
            parts.append(f"V{clipped(price)} H{x(min(total, top_q))}")
        parts.append(f"V{bottom}")
        demand_path = " ".join(parts)
    marked = (x(min(clearing[0], top_q)), clipped(clearing[1])) if clearing else None
    x_labels = _x_labels(x, [0, *breaks, top_q], top_q)
    return Chart(steps, path, x(demand), y_labels, x_labels, top_q, demand_path, marked)


def _x_labels(x: Callable[[int], float], quantities: list[int], top_q: int) -> list[tuple[float, int]]:
    """Quantity labels far enough apart to read (at least 8 % of the axis)."""
    labels: list[tuple[float, int]] = []
    for quantity in sorted(set(quantities)):
        if not labels or quantity - labels[-1][1] >= top_q * 0.08:
            labels.append((x(quantity), quantity))
    return labels
