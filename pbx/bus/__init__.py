"""The event bus port: in-process by default, Redis pub/sub across processes."""

from pbx.bus.memory import MemoryBus
from pbx.bus.port import Bus, Handler, Message
from pbx.bus.redis import RedisBus

__all__ = ["Bus", "Handler", "MemoryBus", "Message", "RedisBus"]
