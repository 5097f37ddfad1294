"""`GET /api/v1/board`: the wall board as it is now (`pbx.reports.board`), read once when
the board page opens; the desk's WebSocket then brings each change as `board.tile` and
`board.total` events. For the business's supervisors and admins; agents get 403."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from pbx.auth.roles import Role
from pbx.desk import commands as desk
from pbx.desk.results import QueueStatList
from pbx.events.payloads import BoardTile, BoardTotal
from pbx.http.api import Api, ApiCall
from pbx.http.context import context
from pbx.http.desk_access import run_on_desk
from pbx.reports.board import read_board


class BoardOut(BaseModel):
    tiles: list[BoardTile]
    total: BoardTotal


def register(api: Api) -> None:
    @api.operation("GET", "/board", summary="The wall board now: per queue, callers waiting, "
                   "the longest wait, agents by state, today's service level, abandoned and "
                   "collected, and the thresholds that colour it", role=Role.SUPERVISOR,
                   response=BoardOut, tag="reports")  # fmt: skip
    async def get_board(call: ApiCall) -> BoardOut:
        live = await run_on_desk(call, desk.QueueStats())
        assert isinstance(live, QueueStatList)
        board = await read_board(context(call.request).database, call.principal.tenant_id,
                                 datetime.now(UTC), live)  # fmt: skip
        return BoardOut(tiles=list(board.tiles), total=board.total)
