"""The ARI client's exception tree.

Callers branch on the class, never on a status number: `AriNotFound` is often normal (the
caller hung up between an event and our request), `AriUnavailable` is the typed "not ready"
an HTTP API maps to 503. Messages carry the method, the path and Asterisk's own `message`,
never credentials (the client authenticates with a header, never with the URL).
"""

from __future__ import annotations


class AriError(Exception):
    """Anything that went wrong talking to Asterisk's ARI."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.path}" if self.method and self.path else ""
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{where}{status}: {self.message}" if where or status else self.message


class AriUnavailable(AriError):
    """Asterisk cannot be reached, did not answer in time, answered 5xx, or the events
    socket is not connected: retry later (an HTTP API answers 503)."""


class AriAuthError(AriError):
    """Asterisk refused the ARI username or password (401/403): a configuration problem."""


class AriNotFound(AriError):
    """404: the channel, bridge, playback or recording is gone (often just a hang-up)."""


class AriConflict(AriError):
    """409/412: the object is in the wrong state, e.g. the channel is not in Stasis."""


class AriBadRequest(AriError):
    """400/422: Asterisk rejected the parameters or body (a bug on our side)."""


class AriProtocolError(AriError):
    """Asterisk answered with something this codec cannot read: not JSON, fields missing,
    or bigger than the size cap."""


class MalformedEvent(AriProtocolError):
    """An events-socket frame that is not JSON or lacks a required field. The reader logs it
    and carries on; it never ends the connection."""


def error_for_status(status: int, method: str, path: str, message: str) -> AriError:
    """The typed error for an ARI error response."""
    cls: type[AriError]
    if status in (401, 403):
        cls = AriAuthError
    elif status == 404:
        cls = AriNotFound
    elif status in (409, 412):  # ARI uses 412 for "channel/recording in invalid state"
        cls = AriConflict
    elif status in (400, 422):
        cls = AriBadRequest
    elif status >= 500:
        cls = AriUnavailable
    else:
        cls = AriError
    return cls(message, method=method, path=path, status=status)
