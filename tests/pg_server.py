"""Start a throwaway PostgreSQL server for the test run (initdb into a temp dir, pg_ctl start)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def find_bindir() -> Path:
    """Return the directory holding initdb and pg_ctl (Debian's or one on PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = candidates[0] if candidates else shutil.which("initdb")
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: run `make test` (it installs it) or apt-get install postgresql"
        )
    return Path(found).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    datadir: Path
    port: int
    bindir: Path
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://buyswarm@127.0.0.1:{self.port}/buyswarm"

    def stop(self) -> None:
        """Stop the server and delete its data."""
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def start(*, durable: bool = False) -> PgServer:
    """Create a cluster in a temp dir and start it on a free loopback port.

    PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
    `durable=False` turns fsync off: the tests check locking and SQL, not disk durability.
    """
    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix="buyswarm-pg-"))
    datadir = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "buyswarm",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(datadir), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    server = PgServer(datadir=datadir, port=port, bindir=bindir, as_user=as_user)
    subprocess.run(
        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "buyswarm", "buyswarm"],
        check=True,
        capture_output=True,
    )
    return server
