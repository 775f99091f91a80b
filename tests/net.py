"""Loopback helpers for tests that serve the app in processes of its own."""

from __future__ import annotations

import socket
import time
import urllib.request


def free_ports(count: int = 1) -> list[int]:
    """Ports free on 127.0.0.1 right now (held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    """Wait until the app at `url` answers its liveness check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the app did not start on {url}")
