"""Run scenarios × scorers × seeds (optionally on several processes) and derive the attacker's gain."""

from __future__ import annotations

import math
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from app.reputation.trust import DEFAULT, TrustParams
from bench._sim.market import Market
from bench._sim.metrics import Metrics, measure
from bench._sim.scorers import make_scorer
from bench._sim.world import PASSIVE, SimConfig, build_world

FAKE_ATTACKS = ("ballot", "badmouth")  # attacks that pay for fake transactions: return = gain / cost
LIFT_ATTACKS = ("whitewash", "retaliate_open", "retaliate_blind")  # free moves: gain = revenue lift


@dataclass(frozen=True)
class Task:
    """One simulated year: a scenario under a scorer with a seed."""

    scenario: str
    scorer: str
    seed: int
    share: float
    config: SimConfig
    params: TrustParams = DEFAULT


def run_task(task: Task) -> tuple[Task, Metrics]:
    """Simulate one year and measure it."""
    world = build_world(task.config, task.scenario, task.share, task.seed)
    scorer = make_scorer(task.scorer, task.config.full_every, task.params)
    log = Market(world, scorer, task.seed).run()
    return task, measure(world, log)


def run_all(tasks: Iterable[Task], jobs: int = 1) -> dict[tuple[str, str, int], Metrics]:
    """Run tasks, in parallel when jobs > 1, keyed by (scenario, scorer, seed)."""
    todo = list(tasks)
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(run_task, todo, chunksize=1))
    else:
        done = [run_task(task) for task in todo]
    return {(t.scenario, t.scorer, t.seed): m for t, m in done}


def attacker_gain(results: dict[tuple[str, str, int], Metrics], scenario: str, scorer: str, seed: int) -> float:
    """Return the attacker's return on fake transactions, or its revenue lift for free moves."""
    attacked, passive = results.get((scenario, scorer, seed)), results.get((PASSIVE.get(scenario, ""), scorer, seed))
    if attacked is None or passive is None:
        return math.nan
    gained = attacked.attacker_revenue - passive.attacker_revenue
    if scenario in FAKE_ATTACKS:
        return gained / attacked.fake_cost if attacked.fake_cost else math.nan
    if scenario in LIFT_ATTACKS and passive.attacker_revenue:
        return gained / passive.attacker_revenue
    return math.nan
