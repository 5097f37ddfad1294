"""What can go wrong on a FastAGI connection, as exceptions a handler can catch by meaning.

A caller hanging up is the most common way a session ends, so it is an exception like every
other end (`AGIHangup`), never a magic return value. Messages name the AGI verb only: the full
command line stays on `.command`, because arguments carry caller names and balances that do not
belong in every log line.
"""

from __future__ import annotations


class AGIError(Exception):
    """Base of every FastAGI failure. `command` is the command line that was in flight, `reply`
    the line Asterisk answered with (when there was one)."""

    def __init__(self, message: str, *, command: str | None = None, reply: str | None = None):
        super().__init__(message)
        self.command = command
        self.reply = reply


class AGIHangup(AGIError):
    """The caller is gone: Asterisk sent a `HANGUP` line, or answered `200 result=-1` to a
    command for which -1 means the channel hung up (ANSWER, STREAM FILE, GET DATA, ...)."""


class AGIDeadChannel(AGIHangup):
    """`511`: the command is not allowed on a channel that has already hung up. A hangup too,
    so `except AGIHangup` covers it."""


class AGIInvalidCommand(AGIError):
    """`510 Invalid or unknown command`: Asterisk does not know the verb (a bug on our side)."""


class AGIUsageError(AGIError):
    """`520`: Asterisk knows the verb but not this argument list. `usage` is the text Asterisk
    sent between `520-...` and `520 End of proper usage.` (empty when it had none)."""

    def __init__(
        self, message: str, usage: str, *, command: str | None = None, reply: str | None = None
    ):
        super().__init__(message, command=command, reply=reply)
        self.usage = usage


class AGICommandFailed(AGIError):
    """`200 result=-1` (or another failure result) for a command where that means the command
    failed, not that the caller hung up (e.g. EXEC of an application Asterisk does not have)."""


class AGIProtocolError(AGIError):
    """The bytes on the wire are not FastAGI: a malformed line, an oversize line, a bad
    environment block, or an argument we refuse to send (it would inject a second command)."""


class AGIBadRequest(AGIError):
    """What the dialplan asked for is not what the script takes: a malformed argument, or a
    request the script refuses (a screen-pop without a valid token). Raised by handlers; the
    server logs the message once, without a traceback, and sets `LL_ERROR` to `error`."""

    def __init__(self, message: str, error: str = "bad-request") -> None:
        super().__init__(message)
        self.error = error


class AGITimeout(AGIError):
    """The peer stayed silent longer than the idle timeout."""


class AGIConnectionLost(AGIError):
    """The connection ended (EOF or reset) before the session did."""
