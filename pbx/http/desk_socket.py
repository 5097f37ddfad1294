"""`GET /api/v1/ws`: the desk's WebSocket. Screen-pops and call and agent events arrive here.

No session, no socket (401 before the upgrade); a browser's Origin must be this site's
(403); heartbeats close dead peers. `?last_event_id=` replays, in order and once, every
event the viewer may see that came after it (as far as the log's retention reaches), then
live events follow. A supervisor sends `{"type": "subscribe", "queue_ids": [...]}` to watch
queues (`desk_messages.py` reads what a desk sends: a malformed message, a binary frame or
a queue the supervisor may not see is answered with an error that repeats no id, and the
socket stays open; a frame over 1 MiB closes it with 1009). Every frame sent is written by a
codec: events by `pbx.events.wire.desk_frame`, replies by `desk_messages.encode_reply`. The
session is checked again with every other desk's of the process (`desk_sessions.py`: one read
about every half minute): a signed-out or deactivated user's socket closes with code 4401.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from pbx.auth.roles import Principal, Role
from pbx.calls.actions import queue_keys
from pbx.events.hub import Subscriber
from pbx.events.log import Entry
from pbx.events.model import Viewer, id_key
from pbx.events.wire import desk_frame
from pbx.http.api import ApiError, error_response
from pbx.http.auth_api import authenticate, bearer_token
from pbx.http.context import ApiContext, context, origin_allowed
from pbx.http.desk_messages import (
    NOT_TEXT,
    SUPERVISORS_ONLY,
    UNKNOWN_QUEUE,
    Hello,
    MessageError,
    Reply,
    Subscribe,
    Subscribed,
    encode_reply,
    parse_message,
)

SESSION_ENDED = 4401
# Frames up to this are read and answered (the codec refuses anything over 4 KiB with an
# error); a larger one is closed with 1009 by aiohttp before it is buffered whole.
MAX_FRAME_BYTES = 1024 * 1024


async def desk_socket(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    principal = await authenticate(request)
    if principal is None:
        return error_response(ApiError(401, "unauthenticated", "sign in first"))
    origin = request.headers.get("Origin")  # none: not a browser, nothing to forge
    if origin is not None and not origin_allowed(request, origin):
        return error_response(ApiError(403, "bad_origin", "cross-site socket refused"))
    if ctx.hub is None:
        return error_response(ApiError(503, "no_events", "desk events are not available"))
    socket = web.WebSocketResponse(heartbeat=ctx.heartbeat_s, max_msg_size=MAX_FRAME_BYTES)
    await socket.prepare(request)
    viewer = Viewer(principal.user_id, principal.tenant_id, principal.at_least(Role.SUPERVISOR))
    subscriber = Subscriber(viewer)
    await ctx.hub.attach(subscriber)
    try:
        await _serve(request, ctx, socket, subscriber, principal)
    except ConnectionResetError:
        pass  # the desk went away mid-send; it reconnects with its last event id
    finally:
        await ctx.hub.detach(subscriber)
        await socket.close()
    return socket


async def _serve(
    request: web.Request,
    ctx: ApiContext,
    socket: web.WebSocketResponse,
    subscriber: Subscriber,
    principal: Principal,
) -> None:
    assert ctx.hub is not None
    sent = request.query.get("last_event_id", "")
    if sent:
        try:
            id_key(sent)
        except ValueError:
            await socket.close(code=4400, message=b"bad last_event_id")
            return
        for entry in await ctx.hub.replay(subscriber.viewer, sent):
            await _send(socket, entry)
            sent = entry[0]
    await socket.send_str(encode_reply(Hello(sent or None)))
    reader = asyncio.create_task(_read(socket, ctx, subscriber, principal))
    getter: asyncio.Task[Entry] | None = None
    token = bearer_token(request) or ""  # none: not a session's, ended at the first check
    assert ctx.desk_sessions is not None
    ended = ctx.desk_sessions.watch(token)
    session_ended = asyncio.ensure_future(ended.wait())
    try:
        while not socket.closed and not reader.done():
            if ended.is_set():
                await socket.close(code=SESSION_ENDED, message=b"session ended")
                return
            if subscriber.overflowed.is_set():
                await socket.close(code=4408, message=b"too slow: reconnect with last_event_id")
                return
            entry: Entry | None = None
            if getter is None and not subscriber.queue.empty():  # a burst, sent at once
                entry = subscriber.queue.get_nowait()
            else:  # wait for an event, the desk leaving, or its session ending
                # A getter left waiting holds the oldest event once done (it may finish as
                # the session ends): nothing is taken from the queue before it.
                getter = getter or asyncio.ensure_future(subscriber.queue.get())
                if not getter.done():
                    await asyncio.wait(
                        (getter, reader, session_ended), return_when=asyncio.FIRST_COMPLETED
                    )
                if getter.done():
                    entry, getter = getter.result(), None
            if entry is not None and (not sent or id_key(entry[0]) > id_key(sent)):
                await _send(socket, entry)
                sent = entry[0]
    finally:
        ctx.desk_sessions.unwatch(token, ended)
        for task in (reader, getter, session_ended):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _send(socket: web.WebSocketResponse, entry: Entry) -> None:
    await socket.send_str(desk_frame(*entry))


async def _read(
    socket: web.WebSocketResponse, ctx: ApiContext, subscriber: Subscriber, principal: Principal
) -> None:
    # Pings, pongs and the close are aiohttp's (the iteration ends on a close or an error);
    # what a desk sends is text, read by the codec, or a binary frame, refused by it.
    async for message in socket:
        if message.type is WSMsgType.BINARY:
            reply: Reply = NOT_TEXT
        elif message.type is WSMsgType.TEXT:
            command = parse_message(message.data)
            if isinstance(command, MessageError):
                reply = command
            else:
                reply = await _subscribe(ctx, subscriber, principal, command)
        else:
            continue
        await socket.send_str(encode_reply(reply))


async def _subscribe(
    ctx: ApiContext, subscriber: Subscriber, principal: Principal, command: Subscribe
) -> Subscribed | MessageError:
    """Watch the queues named, all of them this business's, or change nothing."""
    viewer = subscriber.viewer
    if not viewer.supervisor:
        return SUPERVISORS_ONLY
    keys = await queue_keys(ctx.database, principal.tenant_id, command.queue_ids)
    if len(keys) != len(command.queue_ids):
        return UNKNOWN_QUEUE
    subscriber.viewer = Viewer(viewer.user_id, viewer.tenant_id, True, frozenset(keys.values()))
    return Subscribed(tuple(sorted(keys)))
