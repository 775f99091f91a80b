"""Simulate a marketplace under attack and compare reputation scorers side by side.

200-odd vendors with a hidden quality sell to a few thousand honest buyers over a year; each
purchase goes to the best-looking of a handful of vendors, so the displayed score decides future
sales. The attacker controls --attacker-share of the accounts. See docs/trust-model.md.

Run (from the repository root):
  .venv/bin/python -m bench.reputation_sim                      # one seed, every scenario
  .venv/bin/python -m bench.reputation_sim --seeds 10 --jobs 2  # means with 95 % CIs
  .venv/bin/python -m bench.reputation_sim --sweep              # attacker share that breaks AUC 0.6
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from bench._sim.report import Figures, Target, all_targets, metrics_table, targets_table
from bench._sim.runner import Task, run_all
from bench._sim.scorers import SCORERS
from bench._sim.world import ATTACKS, SCENARIOS, SimConfig

SWEEP_SHARES = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5)
SWEEP_SCORERS = ("buyswarm", "ebay_pct")
AUC_FLOOR = 0.6


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attacker-share", type=float, default=0.1, help="share of accounts the attacker controls")
    parser.add_argument("--seed", type=int, default=1, help="first seed (a fixed seed gives the same table)")
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds; above 1, means with 95 %% CIs")
    parser.add_argument("--jobs", type=int, default=1, help="processes to run simulations on")
    parser.add_argument("--sweep", action="store_true", help="find the attacker share where AUC falls below 0.6")
    parser.add_argument("--full-every", type=int, default=SimConfig.full_every,
                        help="days between full trust recomputes (incremental updates every day)")  # fmt: skip
    parser.add_argument("--fake-amount", type=int, nargs=2, default=SimConfig.fake_amount, metavar=("MIN", "MAX"),
                        help="value of fake transactions in minor units (default: tiny)")  # fmt: skip
    return parser.parse_args()


def main() -> None:
    """Run the comparison (or the sweep) and print the tables."""
    args = parse_args()
    config = replace(SimConfig(), full_every=args.full_every, fake_amount=tuple(args.fake_amount))
    seeds = list(range(args.seed, args.seed + args.seeds))
    started = time.perf_counter()
    low, high = config.fake_amount
    share = "swept" if args.sweep else f"{args.attacker_share:.0%}"
    print(f"seeds {seeds[0]}..{seeds[-1]}  attacker share {share}  "
          f"fake amounts {low}–{high} minor  full recompute every {config.full_every} days")  # fmt: skip
    if args.sweep:
        print(sweep(config, seeds, args.jobs))
    else:
        tasks = [Task(scenario, scorer, seed, args.attacker_share, config)
                 for seed in seeds for scenario in SCENARIOS for scorer in SCORERS]  # fmt: skip
        figures = Figures(run_all(tasks, args.jobs), seeds)
        print(metrics_table(figures, SCENARIOS, SCORERS))
        print()
        print(targets_table(all_targets(figures)))
    print(f"\nran in {time.perf_counter() - started:.0f} s")


def sweep(config: SimConfig, seeds: list[int], jobs: int) -> str:
    """Raise the attacker's share until AUC falls below 0.6, per attack and scorer; return a table."""
    breaking: dict[tuple[str, str], float] = {}
    lines = [f"{'attack':<16} {'scorer':<9} " + " ".join(f"{s:>7.0%}" for s in SWEEP_SHARES)]
    aucs: dict[tuple[str, str], list[str]] = {(a, s): [] for a in ATTACKS for s in SWEEP_SCORERS}
    for share in SWEEP_SHARES:
        alive = [key for key in aucs if key not in breaking]
        tasks = [Task(a, s, seed, share, config) for a, s in alive for seed in seeds]
        results = run_all(tasks, jobs)
        for attack, scorer in alive:
            mean = sum(results[(attack, scorer, seed)].auc for seed in seeds) / len(seeds)
            aucs[(attack, scorer)].append(f"{mean:>7.3f}")
            if mean < AUC_FLOOR:
                breaking[(attack, scorer)] = share
    for (attack, scorer), cells in aucs.items():
        lines.append(f"{attack:<16} {scorer:<9} " + " ".join(cells + [f"{'':>7}"] * (len(SWEEP_SHARES) - len(cells))))
    worst = {s: min(breaking.get((a, s), math.inf) for a in ATTACKS) for s in SWEEP_SCORERS}
    first = {s: "never up to 50 %" if math.isinf(v) else f"{v:.0%}" for s, v in worst.items()}
    target = Target("AUC < 0.6 only above 25 % attacker share", f"first at {first['buyswarm']}",
                    worst["buyswarm"] > 0.25, f"first at {first['ebay_pct']}", worst["ebay_pct"] > 0.25)  # fmt: skip
    return "\n".join(lines) + "\n\n" + targets_table([target])


if __name__ == "__main__":
    main()
