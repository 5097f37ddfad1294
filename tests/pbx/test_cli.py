"""The `ledgerline` command as an operator runs it: a real process, its output and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pbx.db.migrate import head_revision
from tests.conftest import REDIS_TEST_URL


def ledgerline(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):  # type: ignore[no-untyped-def]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "pbx.cli", *args],
        env=clean | (env or {}), cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_db_upgrade_creates_the_schema_and_is_repeatable(tmp_path: Path) -> None:
    env = {"LEDGERLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    first = ledgerline("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert f"database at revision {head_revision()}" in first.stdout
    again = ledgerline("db", "upgrade", env=env)
    assert again.returncode == 0
    head = head_revision()
    assert f"current: {head}; head: {head}" in ledgerline("db", "current", env=env).stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEDGERLINE_AGI_PROT": "1"}, "ledgerline: LEDGERLINE_AGI_PROT: unknown setting"),
        ({"LEDGERLINE_DATABASE_URL": "not a url"}, "ledgerline: database.url: not a database URL"),
        ({"LEDGERLINE_DATABASE_URL": "ftp://x"}, "ledgerline: database.url: unsupported database"),
        (
            {"LEDGERLINE_DATABASE_URL": "postgresql://app:s3cret@127.0.0.1:1/x"},
            "ledgerline: database.url: cannot connect to postgresql+asyncpg://app:***@127.0.0.1:1/x",
        ),
    ],
)
def test_serve_refuses_to_start_with_one_line_naming_the_setting(
    env: dict[str, str], message: str
) -> None:
    result = ledgerline("serve", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "s3cret" not in result.stderr


def test_serve_refuses_an_unreachable_redis(tmp_path: Path) -> None:
    env = {"LEDGERLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    assert ledgerline("db", "upgrade", env=env).returncode == 0
    result = ledgerline("serve", env=env | {"LEDGERLINE_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.returncode == 2
    assert result.stderr.startswith(
        "ledgerline: redis.url: cannot connect to redis://127.0.0.1:1/0"
    )


def test_serve_refuses_a_database_that_was_never_migrated(tmp_path: Path) -> None:
    env = {"LEDGERLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = ledgerline("serve", env=env | {"LEDGERLINE_REDIS_URL": REDIS_TEST_URL})
    assert result.returncode == 2
    assert "run `ledgerline db upgrade`" in result.stderr


def test_the_demo_seeds_both_businesses_and_identifies_its_callers(tmp_path: Path) -> None:
    env = {"LEDGERLINE_AGI_PORT": "0", "LEDGERLINE_SERVICE_HTTP_PORT": "0"}
    result = ledgerline(
        "demo", "--calls", "10", "--call-every", "0", "--talk-seconds", "0.2",
        "--data-dir", str(tmp_path), env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    log = result.stderr
    assert "שרה כהן" in log and "owes 450.50 ILS, account overdue, queue priority 5" in log
    assert "Žygimantas Šimkūnas" in log and "owes 84.50 EUR" in log
    assert "2 customers share this number" in log
    assert "not identified (withheld)" in log
    assert "not identified (not-found)" in log
    assert (tmp_path / "ledgerline.db").exists()
    # ... and each call went through Stasis, a queue and an agent's (simulated) phone
    assert "+972523456789 is talking to" in log
    assert log.count("call log: outcome answered") >= 8
    assert "Asterisk SIMULATOR" in log
