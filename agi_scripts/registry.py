"""The FastAGI scripts Ledgerline serves, by the name in `agi://HOST:PORT/NAME`.

Names are normalised by the server, so `caller_lookup` and `caller-lookup` are one script.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from agi_scripts.fastagi.server import Handler
from agi_scripts.handlers.caller_lookup import caller_lookup
from agi_scripts.handlers.screen_pop import screen_pop
from agi_scripts.pop_token import PopTokens
from pbx.events.publisher import DeskPublisher

if TYPE_CHECKING:  # the composition root builds these handlers and imports this module
    from pbx.bootstrap import Services


def build_handlers(services: Services) -> dict[str, Handler]:
    assert services.secret is not None, "the composition root builds the installation secret"
    tokens = PopTokens(services.secret)
    handlers = {"caller-lookup": caller_lookup(services.identification, tokens, _now)}
    if services.hub is not None:
        # Publishes itself (no worker to start): the pop is sent before LL_POP says so.
        publisher = DeskPublisher(services.hub, services.database, _now)
        handlers["screen-pop"] = screen_pop(publisher, _now, tokens)
    return handlers


def _now() -> datetime:
    return datetime.now(UTC)
