"""The simulated Asterisk as a state machine: every operation changes state and emits the
events Asterisk 22 emits for it, to the apps Asterisk would send them to. No I/O, no clocks
of its own (the clock is handed in), no waiting: timing lives in `scripts.py`.

Who receives a channel's events is Asterisk's subscription rule, read from the captures:
- an app is subscribed to a channel while the channel is in Stasis for it;
- ARI originate (and /channels/create) subscribes the app to the new channel and, for a
  Local channel, to its other half too; that subscription lasts until the channel is gone,
  so only those channels' ChannelDestroyed (and STASISSTATUS after StasisEnd) reach the app;
- an app is subscribed to a bridge once one of its channels entered it;
- `subscribeAll` apps get everything; apps without a connected events socket get nothing.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pbx.simulator.ari import bridging, media, render
from pbx.simulator.ari.sounds import SoundLibrary
from pbx.simulator.ari.state import (
    CAUSE_TEXT,
    NORMAL_CLEARING,
    SOFTHANGUP_EXPLICIT,
    AriError,
    Bridge,
    Channel,
    LiveRecording,
    Party,
    Playback,
    StoredRecording,
)

PRESENTATION_ALLOWED = (0, "Presentation Allowed, Not Screened")
# What a PJSIP channel reports when its RTP session ends (values are illustrative).
RTP_QOS_VARIABLES = {
    "RTPAUDIOQOS": "ssrc=1412106789;themssrc=555933025;lp=0;rxjitter=0.000000;rxcount=750;"
    "txjitter=0.000000;txcount=750;rlp=0;rtt=0.000300",
    "RTPAUDIOQOSJITTER": "minrxjitter=000.000000;maxrxjitter=000.000000;avgrxjitter=000.000000",
    "RTPAUDIOQOSLOSS": "minrxlost=000.000000;maxrxlost=000.000000;avgrxlost=000.000000",
    "RTPAUDIOQOSRTT": "minrtt=000.000300;maxrtt=000.000300;avgrtt=000.000300",
    "RTPAUDIOQOSMES": "minrxmes=088.000000;maxrxmes=088.000000;avgrxmes=088.000000",
}


def dial_status(cause: int) -> str:
    """main/dial.c `ast_hangup_cause_to_dial_status`."""
    statuses = {17: "BUSY", 34: "CONGESTION", 3: "CHANUNAVAIL", 20: "CHANUNAVAIL"}
    return statuses.get(cause, "NOANSWER")


@dataclass(frozen=True)
class Event:
    """One event as the model produced it, with the apps it goes to."""

    type: str
    timestamp: str
    fields: dict[str, Any]
    apps: frozenset[str]

    def message(self, app: str, asterisk_id: str) -> dict[str, Any]:
        return {
            "type": self.type,
            "timestamp": self.timestamp,
            **self.fields,
            "asterisk_id": asterisk_id,
            "application": app,
        }


EventSink = Callable[[Event], None]


@dataclass(frozen=True)
class EventFilter:
    """An app's event filter: none allowed means every type; disallowed wins over allowed."""

    allowed: tuple[str, ...] = ()
    disallowed: tuple[str, ...] = ()

    def lets_through(self, event_type: str) -> bool:
        if event_type in self.disallowed:
            return False
        return not self.allowed or event_type in self.allowed


class Asterisk:
    """Channels, bridges, playbacks and recordings, and the events their changes produce."""

    def __init__(self, clock: Callable[[], float], sink: EventSink) -> None:
        self.clock = clock
        self.sink = sink
        self.started = clock()
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, Playback] = {}
        self.recordings: dict[str, LiveRecording] = {}
        self.stored: dict[str, StoredRecording] = {}  # files on disk: survive a restart
        self.sounds = SoundLibrary()  # files on disk too
        self.warnings: list[str] = []  # what Asterisk would log as WARNING (failed playbacks)
        self.registered: set[str] = set()  # apps with an events socket
        self.subscribe_all: set[str] = set()
        self.filters: dict[str, EventFilter] = {}  # by app: PUT /applications/{app}/eventFilter
        # ari.conf `channelvars`: copied into every channel snapshot of every event.
        self.channelvars: frozenset[str] = frozenset()
        self.pending_stasis: dict[str, tuple[str, list[str]]] = {}  # enter on answer
        # Kept across restarts so a stale id held by a client never names a new channel.
        self._sequence = itertools.count()
        self._names: Counter[str] = Counter()

    def reset(self) -> None:
        """An Asterisk restart: every channel, bridge and recording in progress is gone."""
        for channel in self.channels.values():
            channel.gone = True
        self.channels.clear()
        self.bridges.clear()
        self.playbacks.clear()
        self.recordings.clear()
        self.registered.clear()
        self.subscribe_all.clear()
        self.filters.clear()
        self.pending_stasis.clear()
        self._names.clear()
        self.started = self.clock()

    # --- events -------------------------------------------------------------------------

    def emit(
        self,
        type_: str,
        fields: dict[str, Any],
        *,
        channels: Iterable[Channel | None] = (),
        bridges: Iterable[Bridge | None] = (),
    ) -> None:
        apps = set(self.subscribe_all)
        for source in (*channels, *bridges):
            if source is not None:
                apps.update(app for app, count in source.subscribers.items() if count > 0)
        targets = frozenset(
            app
            for app in apps & self.registered
            if app not in self.filters or self.filters[app].lets_through(type_)
        )
        if targets:
            self.sink(Event(type_, render.asterisk_time(self.clock()), fields, targets))

    def channel_event(self, type_: str, channel: Channel, **fields: Any) -> None:
        self.emit(type_, {**fields, "channel": render.channel(channel)}, channels=[channel])

    def emit_dial(self, peer: Channel, status: str, caller: Channel | None = None) -> None:
        fields: dict[str, Any] = {}
        if caller is not None:
            fields["caller"] = render.channel(caller)
        fields.update(
            {
                "peer": render.channel(peer),
                "forward": "",
                "dialstring": peer.dialstring,
                "dialstatus": status,
            }
        )
        self.emit("Dial", fields, channels=[peer, caller])

    # --- lookups --------------------------------------------------------------------------

    def channel(self, channel_id: str) -> Channel:
        found = self.channels.get(channel_id)
        if found is None:
            raise AriError(404, "Channel not found")
        return found

    def stasis_channel(self, channel_id: str) -> Channel:
        """resource_channels.c `find_control`: 404 unknown, 409 not in Stasis."""
        found = self.channel(channel_id)
        if not found.in_stasis:
            raise AriError(409, "Channel not in Stasis application")
        return found

    def controllable(self, channel_id: str) -> Channel:
        """`find_control` plus `channel_state_invalid`: outbound legs not yet up are 412."""
        found = self.stasis_channel(channel_id)
        if found.state in ("Down", "Rsrvd", "Ringing"):
            raise AriError(412, "Channel in invalid state")
        return found

    def peer(self, channel: Channel) -> Channel | None:
        return self.channels.get(channel.peer_id) if channel.peer_id else None

    # --- creation -------------------------------------------------------------------------

    def new_id(self) -> str:
        return f"{int(self.clock())}.{next(self._sequence)}"

    def new_name_number(self, family: str) -> int:
        number = self._names[family]
        self._names[family] += 1
        return number

    def add_channel(self, channel_id: str | None, **attributes: Any) -> Channel:
        if channel_id and channel_id in self.channels:
            raise AriError(409, "Channel with given unique ID already exists")
        channel = Channel(id=channel_id or self.new_id(), created=self.clock(), **attributes)
        channel.reported_variables.update(self.channelvars)
        self.channels[channel.id] = channel
        return channel

    def new_local_pair(
        self,
        resource: str,
        caller: Party,
        ids: tuple[str | None, str | None],
    ) -> tuple[Channel, Channel]:
        """core_local's two halves: `;1` is dialled, `;2` runs the dialplan at exten@context."""
        exten, _, context = resource.partition("@")
        context = context or "default"
        base = f"Local/{exten}@{context}-{self.new_name_number('Local'):08x}"
        if ids[1] and ids[1] in self.channels:
            raise AriError(409, "Channel with given unique ID already exists")
        first = self.add_channel(
            ids[0],
            name=f"{base};1",
            tech="Local",
            caller=Party(caller.name, caller.number),
            connected=Party(caller.name, caller.number),
            context=context,
            exten=exten,
        )
        second = self.add_channel(
            ids[1],
            name=f"{base};2",
            tech="Local",
            state="Ring",
            caller=Party(caller.name, caller.number),
            connected=Party(caller.name, caller.number),
            context=context,
            exten=exten,
        )
        first.peer_id, second.peer_id = second.id, first.id
        first.peer_subscribed = second.peer_subscribed = True
        return first, second

    def new_pjsip(self, endpoint: str, channel_id: str | None, **attributes: Any) -> Channel:
        return self.add_channel(
            channel_id,
            name=f"PJSIP/{endpoint}-{self.new_name_number('PJSIP'):08x}",
            tech="PJSIP",
            **attributes,
        )

    def mark_dialled(self, channel: Channel, dialstring: str, app: str | None) -> None:
        """What ARI originate does before the dial thread starts."""
        channel.originated = channel.dialing = True
        channel.dialstring = dialstring
        channel.app_name, channel.app_data = "AppDial2", "(Outgoing Line)"
        if app:
            self.subscribe(channel, app)
            peer = self.peer(channel)
            if peer is not None and channel.peer_subscribed:
                self.subscribe(peer, app)

    def announce_local_caller(self, second: Channel) -> None:
        """A Local `;2` given a caller ID reports it before the dial starts (captured)."""
        if second.caller.name or second.caller.number:
            code, text = PRESENTATION_ALLOWED
            self.channel_event(
                "ChannelCallerId",
                second,
                caller_presentation=code,
                caller_presentation_txt=text,
            )
            self.channel_event("ChannelConnectedLine", second)

    def new_snoop(
        self, target: Channel, app: str, args: list[str], snoop_id: str | None
    ) -> Channel:
        snoop = self.add_channel(
            snoop_id,
            name=f"Snoop/{target.id}-{self.new_name_number('Snoop'):08x}",
            tech="Snoop",
            state="Up",
            snoop_of=target.id,
            talks=False,
        )
        target.snoops.append(snoop.id)
        self.enter_stasis(snoop, app, args)
        return snoop

    # --- channel state --------------------------------------------------------------------

    def subscribe(self, channel: Channel, app: str) -> None:
        channel.subscribers[app] += 1

    def unsubscribe(self, channel: Channel, app: str) -> None:
        channel.subscribers[app] -= 1
        if channel.subscribers[app] <= 0:
            del channel.subscribers[app]

    def set_state(self, channel: Channel, state: str) -> None:
        if channel.state != state:
            channel.state = state
            self.channel_event("ChannelStateChange", channel)

    def set_variable(
        self, channel: Channel, name: str, value: str, *, report: bool = False
    ) -> None:
        channel.variables[name] = value
        if report:
            channel.reported_variables.add(name)
        self.channel_event("ChannelVarset", channel, variable=name, value=value)

    def write_function(self, channel: Channel, name: str, value: str) -> None:
        """A dialplan function written, e.g. `CHANNEL(language)`: it changes the channel
        (its snapshot's `language`) and, not being a variable, publishes no ChannelVarset."""
        if name == "CHANNEL(language)":
            channel.language = value
        else:
            self.warnings.append(f"Function {name} not registered")

    def dialplan_step(self, channel: Channel, priority: int, app: str, data: str) -> None:
        channel.priority, channel.app_name, channel.app_data = priority, app, data
        self.channel_event("ChannelDialplan", channel, dialplan_app=app, dialplan_app_data=data)

    def enter_stasis(self, channel: Channel, app: str, args: Sequence[str]) -> bool:
        """Stasis(app,args): False (STASISSTATUS=FAILED) when no socket has `app`."""
        if app not in self.registered:
            channel.variables["STASISSTATUS"] = "FAILED"
            return False
        channel.app_name, channel.app_data = "Stasis", ",".join([app, *args])
        self.set_variable(channel, "STASISSTATUS", "")
        channel.stasis_app = app
        self.subscribe(channel, app)
        self.channel_event("StasisStart", channel, args=list(args))
        return True

    def leave_stasis(self, channel: Channel) -> None:
        app = channel.stasis_app
        if app is None:
            return
        self.channel_event("StasisEnd", channel)
        channel.stasis_app = None
        self.unsubscribe(channel, app)
        self.set_variable(channel, "STASISSTATUS", "SUCCESS")

    def answer(self, channel: Channel) -> None:
        """The channel answers; a Local `;2` or a looped trunk leg answers its dialled peer."""
        if channel.state == "Up":
            return
        self.set_state(channel, "Up")
        peer = self.peer(channel)
        if peer is not None and peer.dialing:
            self.far_end_answered(peer)

    def far_end_answered(self, channel: Channel, caller: Channel | None = None) -> None:
        """An ARI-dialled channel was answered: Up, Dial ANSWER, then Stasis(app,args)."""
        channel.dialing = False
        self.set_state(channel, "Up")
        self.emit_dial(channel, "ANSWER", caller)
        pending = self.pending_stasis.pop(channel.id, None)
        if pending is not None and not self.enter_stasis(channel, *pending):
            self.hangup(channel, NORMAL_CLEARING, by_ari=False)

    def ringing(self, channel: Channel) -> None:
        """The far end rings: an outbound leg goes to Ringing."""
        if channel.dialing:
            self.set_state(channel, "Ringing")

    def dial_failed(self, channel: Channel, cause: int, *, busy_signal: bool) -> None:
        """The far end refused. A busy signal is a control frame (Dial BUSY, then ast_dial
        hangs up); anything else is a hangup frame (ChannelHangupRequest, then the Dial
        status `ast_hangup_cause_to_dial_status` gives)."""
        if channel.gone:
            return
        channel.dialing = False
        if not busy_signal:
            self.channel_event("ChannelHangupRequest", channel, cause=cause)
        self.emit_dial(channel, dial_status(cause))
        self._destroy(channel, cause)

    def dial_timed_out(self, channel: Channel) -> None:
        """ast_dial's timeout hangs the leg up itself: it publishes no Dial status."""
        if channel.gone:
            return
        channel.dialing = False
        self._destroy(channel, 19)

    # --- hangup ---------------------------------------------------------------------------

    def hangup(self, channel: Channel, cause: int, *, by_ari: bool) -> None:
        """Hang a channel up: through ARI (a soft hangup) or from its far end."""
        if channel.gone:
            return
        if channel.tech == "PJSIP" and channel.state == "Up":
            for name, value in RTP_QOS_VARIABLES.items():
                self.set_variable(channel, name, value)
        if by_ari:
            self.channel_event(
                "ChannelHangupRequest", channel, cause=SOFTHANGUP_EXPLICIT, soft=True
            )
        else:
            self.channel_event("ChannelHangupRequest", channel, cause=cause)
        channel.hangup_cause = cause
        if channel.dialing:  # ast_dial reads the hangup and publishes its status
            channel.dialing = False
            self.emit_dial(channel, dial_status(cause))
        media.stop_for_channel(self, channel)
        if channel.bridge_id:
            bridging.leave(self, channel)
        self.leave_stasis(channel)
        if not by_ari and channel.tech == "Local":
            # the Local half's own thread ends with a soft hangup of its own (captured)
            self.channel_event("ChannelHangupRequest", channel, cause=cause, soft=True)
        self._destroy(channel, cause)

    def _destroy(self, channel: Channel, cause: int) -> None:
        channel.gone = True
        self.channels.pop(channel.id, None)
        self.pending_stasis.pop(channel.id, None)
        self.channel_event(
            "ChannelDestroyed", channel, cause=cause, cause_txt=CAUSE_TEXT.get(cause, "Unknown")
        )
        peer = self.peer(channel)
        if peer is not None:
            self.hangup(peer, cause, by_ari=False)
        for snoop_id in channel.snoops:
            snoop = self.channels.get(snoop_id)
            if snoop is not None:
                self.hangup(snoop, NORMAL_CLEARING, by_ari=False)

    # --- applications ----------------------------------------------------------------------

    def application(self, app: str) -> dict[str, Any]:
        if app not in self.registered:
            raise AriError(404, "Application does not exist.")
        channel_ids = [c.id for c in self.channels.values() if c.subscribers.get(app)]
        bridge_ids = [b.id for b in self.bridges.values() if b.subscribers.get(app)]
        found = self.filters.get(app, EventFilter())
        return render.application(app, channel_ids, bridge_ids, found.allowed, found.disallowed)

    def filter_events(self, app: str, body: dict[str, Any]) -> None:
        """As stasis_app_event_filter_set: an empty body clears both lists, a list named in
        the body replaces that list, one not named is kept; entries need a "type"."""
        if app not in self.registered:
            raise AriError(404, "Application does not exist.")
        current = self.filters.get(app, EventFilter())
        lists = {"allowed": current.allowed, "disallowed": current.disallowed}
        if not body:
            lists = {"allowed": (), "disallowed": ()}
        for name in lists.keys() & body.keys():
            entries = body[name]
            if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("type"), str) and e["type"]
                for e in entries
            ):
                raise AriError(400, "Invalid format definition")
            lists[name] = tuple(e["type"] for e in entries)
        self.filters[app] = EventFilter(lists["allowed"], lists["disallowed"])

    def new_uuid(self) -> str:
        return str(uuid.uuid4())
