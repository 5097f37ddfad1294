from collections.abc import AsyncIterator

import pytest

from pbx.db.database import Database
from tests.callflow.world import World, make_world


@pytest.fixture
async def world(database: Database) -> AsyncIterator[World]:
    world = await make_world(database)
    try:
        yield world
    finally:
        while world.flows:
            await world.stop_ledgerline()
        await world.sim.stop()
