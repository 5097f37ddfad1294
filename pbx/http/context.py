"""What the API handlers reach: set once by the composition root on the aiohttp app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from billing_bridge.ingest.turns import WriteTurns
from billing_bridge.payments.pay_links import MessageSender
from billing_bridge.payments.port import PaymentProvider
from billing_bridge.reminders.links import OptOutLinks
from billing_bridge.webhooks_out.worker import DeliveryWorker
from pbx.audit import Target, record
from pbx.auth.ratelimit import SignInLimits
from pbx.auth.roles import Principal
from pbx.auth.sessions import SessionStore
from pbx.bus.port import Bus
from pbx.db.database import Database
from pbx.desk.local import Desk
from pbx.events.hub import Hub
from pbx.http.desk_sessions import DeskSessions
from pbx.http.proxies import Network
from recordings.store import ObjectStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from pbx.callflow.app import CallFlow

CONFIG_TOPIC = "config"


@dataclass
class ApiContext:
    database: Database
    sessions: SessionStore
    login_limiter: SignInLimits
    bus: Bus
    flow: CallFlow | None = None  # None: this process has no Asterisk (FastAGI only)
    desk: Desk | None = None  # agent states and call control, run where the call flow is
    hub: Hub | None = None  # desk events for WebSockets
    # The caller lookup forgets these numbers of a business (in every process), after a
    # change to their customers commits; None: no cache to clear.
    forget_numbers: Callable[[int, Iterable[str]], Awaitable[None]] | None = None
    heartbeat_s: float = 20.0
    # Origins allowed to call the API with a session cookie (the UI is served same-origin).
    allowed_origins: frozenset[str] = frozenset()
    recordings: ObjectStore | None = None  # where recordings are played from
    payments: PaymentProvider | None = None  # whose webhooks this deployment receives
    sender: MessageSender | None = None  # SMS and email (pay links)
    playback_url_seconds: int = 300
    agents_play_own: bool = False
    # Our TLS proxies: only they are believed about the client's address and scheme.
    trusted_proxies: tuple[Network, ...] = ()
    force_secure_cookie: bool = False  # Secure even when no request says https
    webhooks: DeliveryWorker | None = None  # delivers the business's events; redelivers by hand
    # Reminders' opt-out links (made and checked with the installation's secret); None: the
    # opt-out endpoint answers 404. The SMS gateway's bearer token for inbound messages (a
    # customer's STOP); empty: no inbound endpoint.
    reminder_links: OptOutLinks | None = None
    sms_inbound_token: str = ""
    # The desk sockets' sessions, checked together (built from `sessions` unless given).
    desk_sessions: DeskSessions | None = None
    # The billing system's batches taking turns to write (`billing.batch_writes_at_once`).
    batch_writes: WriteTurns = field(default_factory=lambda: WriteTurns(1))

    def __post_init__(self) -> None:
        if self.desk_sessions is None:
            self.desk_sessions = DeskSessions(self.sessions)

    async def config_changed(self, tenant_id: int, what: str) -> None:
        """Tell every process (this one included) to reload the call flow's configuration."""
        await self.bus.publish(CONFIG_TOPIC, {"tenant_id": tenant_id, "what": what})


CONTEXT = web.AppKey("api_context", ApiContext)


def origin_allowed(request: web.Request, origin: str) -> bool:
    """A browser's Origin is this site itself, or one the deployment allows."""
    return urlsplit(origin).netloc == request.host or origin in context(request).allowed_origins


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


def audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    target_type: str,
    target_id: Any,
    details: dict[str, Any] | None = None,
) -> None:
    """The signed-in user's audit entry, through `pbx.audit.record` (the one helper): it joins
    the session's transaction and commits with the change itself."""
    record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal,
        action=action,
        target=Target(target_type, target_id),
        details=details,
    )
