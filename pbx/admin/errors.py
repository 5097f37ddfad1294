"""Why an admin change is refused, in the domain's words (`pbx.refusals`, shared with the
call log's service); the HTTP layer picks the status."""

from __future__ import annotations

from pbx.refusals import BadReference, Conflict, NotFound

__all__ = ["BadReference", "Conflict", "NotFound"]
