"""Why a call-log read or change is refused, in the domain's words (`pbx.refusals`, shared
with the admin's service); the HTTP layer picks the status."""

from __future__ import annotations

from pbx.refusals import BadReference, Forbidden, NotFound

__all__ = ["BadReference", "Forbidden", "NotFound"]
