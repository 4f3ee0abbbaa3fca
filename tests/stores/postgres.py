"""A real PostgreSQL server for the store's tests: Debian's `postgresql` binaries (initdb, pg_ctl), a throwaway
cluster directory under a temporary path, listening on 127.0.0.1 at a free port, stopped at the end. As root the
server runs as the `postgres` user (initdb refuses root). `KCLOUD_TEST_POSTGRES_URL` points the tests at a server
that is already running instead (CI may start one itself)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _run(argv: list[str], **kwargs) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")


@contextmanager
def postgres_server() -> Iterator[str]:
    """A running server; yields a SQLAlchemy URL of an empty database `bench` (user `bench`, password `pw`). Its
    directory is a fresh one under /tmp (pytest's own are private to root, and the server user must enter it)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's server binaries are not installed: apt-get install postgresql")
    base = Path(tempfile.mkdtemp(prefix="kcloud-pg-", dir="/tmp"))
    data = base / "pgdata"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    (base / "pw").write_text("pw\n")
    os.chmod(base / "pw", 0o644)
    _run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "bench", "--auth=md5",
                          f"--pwfile={base / 'pw'}", "-E", "UTF8"]))
    port = _free_port()
    log = base / "server.log"
    _run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                          "-o", f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base}",
                          "start"]))
    try:
        deadline = time.monotonic() + 30
        while True:
            done = subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                  capture_output=True)
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        env = {**os.environ, "PGPASSWORD": "pw"}
        _run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "bench", "bench"], env=env)
        yield f"postgresql+psycopg://bench:pw@127.0.0.1:{port}/bench"
    finally:
        subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
