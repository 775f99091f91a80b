"""`flask --app wsgi scheduler run` stops gracefully on SIGTERM: running jobs finish and report first."""

from __future__ import annotations

import signal
import time

from tests.scheduler.test_two_schedulers import _start_scheduler


def test_sigterm_stops_the_scheduler_cleanly_after_its_jobs(engine, database_url, tmp_path):
    log_path = tmp_path / "scheduler.log"
    process = _start_scheduler(database_url, log_path)
    try:
        deadline = time.monotonic() + 60
        while "scheduler starting" not in log_path.read_text(errors="replace"):
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        time.sleep(1.0)  # its first runs (every job starts at once) are under way
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    log = log_path.read_text(errors="replace")
    assert "scheduler stopping on SIGTERM; running jobs finish first" in log
    assert "Traceback" not in log
