"""The benchmarks run against today's schema: each one, at a tiny size (their figures are not checked here).

A benchmark bulk-loads rows with COPY, column by column; a new NOT NULL column breaks it silently
until someone runs it. These runs catch that in CI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *args: str, timeout: int = 300) -> str:
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_the_clearing_benchmark_runs():
    out = run("clearing.py", "--sizes", "200,400", "--bids", "20", "--tiers", "3", "--repeat", "1", "--no-extras")
    assert "worst case, split" in out


# `database_url`: these run in the PostgreSQL pass (the benchmarks start their own server).
@pytest.mark.postgres
def test_the_settlement_benchmark_runs(database_url):
    assert "settle" in run("settlement.py", "--pools", "8", "--members", "3")


@pytest.mark.postgres
def test_the_reputation_recompute_benchmark_runs(database_url):
    out = run("reputation_recompute.py", "--rows", "3000", "--users", "300", "--vendors", "10", "--pools", "50")
    assert "add_revealed" in out
