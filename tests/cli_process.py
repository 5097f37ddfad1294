"""The `ledgerline` command in a process of its own, as an operator runs it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping


async def run_ledgerline(
    database_url: str, *argv: str, env: Mapping[str, str] | None = None
) -> tuple[int, str, str]:
    """Its exit code, standard output and standard error, with this installation's database
    and `env` as its only LEDGERLINE_* settings (every such variable is read as one)."""
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith("LEDGERLINE_")}  # fmt: skip
    environ |= {"LEDGERLINE_DATABASE_URL": database_url, **(env or {})}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pbx.cli", *argv, env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
