"""The desk where the live calls are: a command is run by its handler, here."""

from __future__ import annotations

from typing import Protocol

from pbx.desk.commands import Actor, Command
from pbx.desk.errors import Unavailable
from pbx.desk.handlers import HANDLERS, Ports
from pbx.desk.ports import LiveCalls, Money
from pbx.desk.results import Result


class Desk(Protocol):
    async def run(self, command: Command, actor: Actor) -> Result: ...


class LocalDesk:
    def __init__(self, calls: LiveCalls, money: Money) -> None:
        self.ports = Ports(calls, money)

    @property
    def ready(self) -> bool:
        """Connected to Asterisk and in sync: this process serves the calls."""
        return self.ports.calls.ready

    async def run(self, command: Command, actor: Actor) -> Result:
        if not self.ports.calls.ready:
            raise Unavailable("not connected to Asterisk; retry shortly")
        return await HANDLERS[type(command)](self.ports, actor, command)
