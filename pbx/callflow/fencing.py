"""The call flow's fence: what keeps a stale owner from acting (see `ownership.py`).

A process that owned an Asterisk node's call flow and stalled past its lease may wake up
after a survivor took over. Its fence carries the token of its lease: snapshots are written
only if no newer token wrote one, and every change asked of Asterisk is checked first.
"""

from __future__ import annotations


class StaleOwner(Exception):
    """This process's lease was taken over by another: it must not act on Asterisk or write
    the call flow's state (it is stepping down)."""


class Fence:
    """No lease to fence against (one process, no Redis): every check passes and snapshots
    are written without a token."""

    token: int | None = None

    async def check(self) -> None:
        """Raises `StaleOwner` (and has the owner step down) if another process owns the
        call flow now."""

    def lost(self, what: str) -> None:
        """A newer owner was seen (e.g. its snapshot refused ours): step down."""
