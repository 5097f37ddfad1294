"""The FastAGI scripts Ledgerline serves, by the name in `agi://HOST:PORT/NAME`.

Names are normalised by the server, so `caller_lookup` and `caller-lookup` are one script.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agi_scripts.fastagi.server import Handler
from agi_scripts.handlers.caller_lookup import caller_lookup
from agi_scripts.handlers.screen_pop import screen_pop
from pbx.bootstrap import Services


def build_handlers(services: Services) -> dict[str, Handler]:
    handlers = {"caller-lookup": caller_lookup(services.identification)}
    if services.hub is not None:
        handlers["screen-pop"] = screen_pop(
            services.database, services.hub, lambda: datetime.now(UTC)
        )
    return handlers
