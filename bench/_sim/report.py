"""Tables of the simulation: metrics per scenario and scorer, and the targets with PASS/FALL-SHORT."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench._sim.metrics import Estimate, Metrics, estimate
from bench._sim.runner import FAKE_ATTACKS, attacker_gain
from bench._sim.world import ATTACKS

Results = dict[tuple[str, str, int], Metrics]
TRUST, EBAY = "buyswarm", "ebay_pct"


@dataclass(frozen=True)
class Figures:
    """Per-seed results with helpers that turn them into estimates."""

    results: Results
    seeds: Sequence[int]

    def metric(self, scenario: str, scorer: str, pick: Callable[[Metrics], float]) -> Estimate:
        """Return a metric's mean and CI over seeds."""
        values = [pick(m) for s in self.seeds if (m := self.results.get((scenario, scorer, s))) is not None]
        return estimate(values)

    def gain(self, scenario: str, scorer: str) -> Estimate:
        """Return the attacker's return (fake attacks) or revenue lift (free moves) over seeds."""
        return estimate([attacker_gain(self.results, scenario, scorer, s) for s in self.seeds])


def _cell(value: Estimate, spec: str, width: int) -> str:
    return f"{'–' if math.isnan(value.mean) else format(value, spec):>{width}}"


def metrics_table(figures: Figures, scenarios: Sequence[str], scorers: Sequence[str]) -> str:
    """Return the table of every metric for each scenario and scorer."""
    head = (f"{'scenario':<16} {'scorer':<9} {'AUC':>13} {'Kendall tau':>13} {'bad spend %':>13} "
            f"{'scam rev %':>13} {'attacker gain':>15} {'days to 1/4':>13}")  # fmt: skip
    lines = [head, "-" * len(head)]
    for scenario in scenarios:
        for scorer in scorers:
            row = [
                _cell(figures.metric(scenario, scorer, lambda m: m.auc), ".3f", 13),
                _cell(figures.metric(scenario, scorer, lambda m: m.tau), ".3f", 13),
                _cell(figures.metric(scenario, scorer, lambda m: 100 * m.bad_spend), ".2f", 13),
                _cell(figures.metric(scenario, scorer, lambda m: 100 * m.scam_share), ".2f", 13),
                _cell(figures.gain(scenario, scorer), ".2f", 15),
                _cell(figures.metric(scenario, scorer, lambda m: m.days_to_quarter), ".1f", 13),
            ]
            lines.append(f"{scenario:<16} {scorer:<9} " + " ".join(row))
    lines.append("attacker gain: return on fake transactions ((revenue − revenue if passive) / their cost) for "
                 "ballot and badmouth; revenue lift vs passive for whitewash and retaliation.")  # fmt: skip
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One target, judged for Buyswarm trust and (for comparison) for eBay percent positive."""

    name: str
    trust: str
    trust_ok: bool | None
    ebay: str
    ebay_ok: bool | None


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "PASS" if ok else "FALL-SHORT"


def targets_table(targets: Sequence[Target]) -> str:
    """Return the targets with a PASS / FALL-SHORT column."""
    head = f"{'target':<58} {'buyswarm':>22} {'result':<11} {'ebay_pct':>22} {'eBay':<11}"
    lines = [head, "-" * len(head)]
    for t in targets:
        lines.append(f"{t.name:<58} {t.trust:>22} {_verdict(t.trust_ok):<11} {t.ebay:>22} {_verdict(t.ebay_ok):<11}")
    return "\n".join(lines)


def _both(figures: Figures, name: str, judge: Callable[[Figures, str], tuple[str, bool | None]]) -> Target:
    trust_text, trust_ok = judge(figures, TRUST)
    ebay_text, ebay_ok = judge(figures, EBAY)
    return Target(name, trust_text, trust_ok, ebay_text, ebay_ok)


def _ok(value: float, test: Callable[[float], bool]) -> bool | None:
    return None if math.isnan(value) else test(value)


def attack_targets(figures: Figures, attack: str) -> list[Target]:
    """Return the targets every attack must meet, plus the attack's own."""
    base_auc = {s: figures.metric("none", s, lambda m: m.auc).mean for s in (TRUST, EBAY)}
    base_bad = {s: figures.metric("none", s, lambda m: m.bad_spend).mean for s in (TRUST, EBAY)}

    def auc_kept(f: Figures, s: str) -> tuple[str, bool | None]:
        auc = f.metric(attack, s, lambda m: m.auc)
        return f"{auc:.3f} vs {base_auc[s]:.3f}", _ok(auc.mean, lambda v: v >= base_auc[s] - 0.05)

    def bad_kept(f: Figures, s: str) -> tuple[str, bool | None]:
        bad = f.metric(attack, s, lambda m: m.bad_spend).mean
        return f"{bad / base_bad[s]:.2f}× no-attack", _ok(bad, lambda v: v <= 3 * base_bad[s])

    def scam(f: Figures, s: str) -> tuple[str, bool | None]:
        share = f.metric(attack, s, lambda m: 100 * m.scam_share)
        return f"{share:.2f} %", _ok(share.mean, lambda v: v <= 0.5)

    targets = [_both(figures, f"{attack}: AUC within 0.05 of no attack", auc_kept),
               _both(figures, f"{attack}: bad-vendor spend ≤ 3× no attack", bad_kept),
               _both(figures, f"{attack}: scam revenue ≤ 0.5 %", scam)]  # fmt: skip
    targets.append(_beats_ebay(figures, attack))
    targets.extend(_own_targets(figures, attack))
    return targets


def _beats_ebay(figures: Figures, scenario: str) -> Target:
    auc = {s: figures.metric(scenario, s, lambda m: m.auc).mean for s in (TRUST, EBAY)}
    bad = {s: figures.metric(scenario, s, lambda m: m.bad_spend).mean for s in (TRUST, EBAY)}
    ok = auc[TRUST] > auc[EBAY] and bad[TRUST] < bad[EBAY]
    text = f"AUC {auc[TRUST] - auc[EBAY]:+.3f}, bad {100 * (bad[TRUST] - bad[EBAY]):+.2f} pp"
    return Target(f"{scenario}: beats eBay (higher AUC, lower bad spend)", text, ok, "", None)


def _own_targets(figures: Figures, attack: str) -> list[Target]:
    def gain(f: Figures, s: str) -> tuple[str, bool | None]:
        value = f.gain(attack, s)
        if attack in FAKE_ATTACKS:
            return f"return {value:.2f}", _ok(value.mean, lambda v: v < 1)
        return f"revenue {value.mean:+.1%}", _ok(value.mean, lambda v: v <= 0)

    def detect(f: Figures, s: str) -> tuple[str, bool | None]:
        days = f.metric(attack, s, lambda m: m.days_to_quarter)
        return f"{days:.1f} days", _ok(days.mean, lambda v: v <= 14)

    if attack in FAKE_ATTACKS:
        return [_both(figures, f"{attack}: attacker's return < 1", gain)]
    if attack == "whitewash":
        return [_both(figures, "whitewash: gains nothing (revenue lift ≤ 0)", gain)]
    if attack == "turnbad":
        return [_both(figures, "turnbad: sales down to 1/4 within 14 days", detect)]
    return []


def all_targets(figures: Figures, attacks: Sequence[str] = ATTACKS) -> list[Target]:
    """Return the no-attack targets and every attack's targets."""

    def auc(f: Figures, s: str) -> tuple[str, bool | None]:
        return f"{f.metric('none', s, lambda m: m.auc):.3f}", None

    no_attack = _beats_ebay(figures, "none")
    trust_auc = figures.metric("none", TRUST, lambda m: m.auc).mean
    ebay_auc = figures.metric("none", EBAY, lambda m: m.auc).mean
    trust_bad = figures.metric("none", TRUST, lambda m: m.bad_spend).mean
    ebay_bad = figures.metric("none", EBAY, lambda m: m.bad_spend).mean
    targets = [_both(figures, "none: AUC (reference)", auc),
               Target("none: no worse than eBay (AUC and bad spend)", no_attack.trust,
                      trust_auc >= ebay_auc and trust_bad <= ebay_bad, "", None)]  # fmt: skip
    for attack in attacks:
        targets.extend(attack_targets(figures, attack))
    return targets
