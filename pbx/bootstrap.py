"""The composition root: the one place that turns settings into connected adapters.

Domain code receives what it needs from here and never opens a connection of its own.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError

from agi_scripts.fastagi.server import FastAGIServer
from agi_scripts.registry import build_handlers
from billing_bridge.events import envelope
from billing_bridge.events.outbox import when_deliveries_committed
from billing_bridge.identification.cache import (
    IdentificationCache,
    MemoryCache,
    NoCache,
    RedisCache,
)
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.near_cache import NearCache
from billing_bridge.identification.service import CallerIdentification
from billing_bridge.ingest.turns import WriteTurns
from billing_bridge.messaging.routing import ByChannel
from billing_bridge.messaging.sms_gateway import SmsGatewayOptions, SmsGatewaySender
from billing_bridge.messaging.smtp import SmtpOptions, SmtpSender
from billing_bridge.payments.gocardless_provider import GoCardlessProvider
from billing_bridge.payments.pay_links import MessageSender, OutboxOnlySender
from billing_bridge.payments.port import PaymentProvider
from billing_bridge.payments.sandbox import SandboxProvider
from billing_bridge.payments.stripe_provider import StripeProvider
from billing_bridge.reminders.links import OptOutLinks
from billing_bridge.reminders.sending import ReminderSender
from billing_bridge.webhooks_out.sender import Sender
from billing_bridge.webhooks_out.worker import DeliveryWorker, OnDisabled, WorkerSettings
from pbx.ari import AriClient, AriConnection
from pbx.auth.passwords import PasswordWorkers
from pbx.auth.ratelimit import (
    MemorySignInLimits,
    RedisSignInLimits,
    SignInLimits,
    SignInPolicy,
)
from pbx.auth.sessions import SessionStore
from pbx.bus import Bus, MemoryBus, RedisBus
from pbx.callflow.app import CallFlow, FlowParts, FlowTiming, utc_now
from pbx.callflow.call_log import CallLog
from pbx.callflow.card_capture import CardCapture
from pbx.callflow.config import CurrentConfig
from pbx.callflow.executor import Executor
from pbx.callflow.keypad import Keypads
from pbx.callflow.keypad_session import KeypadSessions
from pbx.callflow.lanes import Lanes
from pbx.callflow.live_calls import local_desk
from pbx.callflow.live_figures import FlowFigures, ProcessRole
from pbx.callflow.mandate_capture import MandateCapture
from pbx.callflow.ownership import Lease, Ownership, RedisLease, SoleLease
from pbx.callflow.prompts_player import PromptsPlayer
from pbx.callflow.recorder import CallRecorder
from pbx.callflow.saver import StateSaver
from pbx.callflow.snapshots import SnapshotStore
from pbx.callflow.state import FlowState
from pbx.db.database import Database
from pbx.db.migrate import current_revision, head_revision
from pbx.desk.local import Desk
from pbx.desk.remote import DeskServer, ForwardingDesk
from pbx.events.hub import Hub
from pbx.events.log import EventLog, MemoryEventLog, RedisEventLog
from pbx.events.model import Audience, DeskEvent
from pbx.events.notices import AdminNotices
from pbx.events.payloads import RecordingStored
from pbx.events.publisher import DeskPublisher
from pbx.http.context import ApiContext
from pbx.http.proxies import parse_networks
from pbx.installation_secret import FileSecret, InstallationSecret, RedisSecret, SecretError
from pbx.metrics.backlog import BacklogCache
from pbx.metrics.prometheus import ProcessMetrics
from pbx.reports.agent_states import AgentStateHistory
from pbx.reports.board_feed import BoardFeed
from pbx.settings import (
    MessagesSettings,
    PaymentsSettings,
    RecordingsSettings,
    Settings,
    SettingsError,
    WebhooksSettings,
    redact_url,
)
from pbx.shipped_secrets import sandbox_webhook_secret
from recordings.ari_source import AriRecordingSources
from recordings.jobs import RecordingJobs
from recordings.local_store import LocalFolderStore
from recordings.pipeline import PipelineSettings, RecordingPipeline
from recordings.s3_store import S3Credentials, S3Store
from recordings.store import ObjectStore


@dataclass
class Services:
    settings: Settings
    database: Database
    redis: Redis | None
    directory: CustomerDirectory
    identification: CallerIdentification
    bus: Bus
    sessions: SessionStore
    login_limiter: SignInLimits
    hub: Hub | None = None
    bus_redis: Redis | None = None  # the bus listens on its own connection (no read timeout)
    recordings: ObjectStore | None = None  # where finished recordings are kept
    # Generated per installation, never shipped: signs the screen-pop tokens (FastAGI).
    secret: InstallationSecret | None = None
    # This process's Prometheus registry (`/metrics`), never the client's global one.
    metrics: ProcessMetrics = field(default_factory=lambda: ProcessMetrics(utc_now))

    async def close(self) -> None:
        await self.bus.stop()
        await self.identification.close()
        if self.hub is not None:
            await self.hub.close()
        self.sessions.passwords.close()
        for client in (self.bus_redis, self.redis):
            if client is not None:
                await client.aclose()
        await self.database.close()


@dataclass
class Application:
    """Everything a Ledgerline process runs, built from its services: `pbx.service` starts
    and stops it and builds nothing."""

    services: Services
    publisher: DeskPublisher
    payments: PaymentProvider
    sender: MessageSender
    agi: FastAGIServer
    flow: CallFlow | None = None  # without `[ari] url`, no call flow
    ownership: Ownership | None = None
    # Every process works the recordings queue (claims keep them from doubling up),
    # fetching each recording through the Asterisk node that made it.
    recording_sources: AriRecordingSources | None = None
    recordings: RecordingPipeline | None = None
    context: ApiContext | None = None  # what the HTTP API's handlers work with
    desk_server: DeskServer | None = None  # serves desk commands standbys forward here
    # Delivers the businesses' events to their webhook subscriptions (started if enabled).
    webhooks: DeliveryWorker | None = None
    # Plans and sends the businesses' reminders (None: `messages.public_url` unset, since
    # every reminder's opt-out link must reach this service).
    reminders: ReminderSender | None = None
    board: BoardFeed | None = None  # the wall board's pushes, where desks can be served


def bootstrap(services: Services) -> Application:
    """The process's parts, wired: the desk publisher, the payment provider, the FastAGI
    server and, with an Asterisk configured, the call flow, its ownership and recordings."""
    assert services.hub is not None
    settings = services.settings
    metrics = services.metrics
    publisher = DeskPublisher(services.hub, services.database, utc_now, metrics)
    payments, sender = payment_provider(settings.payments), message_sender(settings.messages)
    agi = FastAGIServer(
        build_handlers(services), host=settings.agi.host, port=settings.agi.port,
        idle_timeout=settings.agi.idle_timeout_seconds, max_sessions=settings.agi.max_sessions,
        metrics=metrics,
    )  # fmt: skip
    application = Application(services, publisher, payments, sender, agi)
    # A subscription the worker disables is told to its business's admins on their desks.
    notices = AdminNotices(services.hub)
    application.webhooks = webhook_worker(services.database, settings.webhooks,
                                          on_disabled=notices.webhooks_disabled)  # fmt: skip
    flow = application.flow = build_call_flow(services, publisher, payments, sender)
    if flow is not None:
        application.ownership = ownership(services, flow)
        metrics.role = ProcessRole(application.ownership)
        metrics.live = FlowFigures(flow, application.ownership)
        if services.bus_redis is not None:
            application.desk_server = DeskServer(local_desk(flow), services.bus_redis)
        if services.recordings is not None:
            application.recording_sources = recording_sources(services, flow.snapshots.node)
            application.recordings = recordings(services, application.recording_sources)
    links = reminder_links(services)
    if links is not None:
        application.reminders = ReminderSender(services.database, payments, sender, links)
    application.context = api_context(application)
    application.context.reminder_links = links
    application.context.sms_inbound_token = settings.messages.sms_inbound_token
    if application.context.desk is not None:
        application.board = BoardFeed(services.hub, services.database,
                                      application.context.desk, utc_now)  # fmt: skip
        application.board.start()
    return application


def message_sender(settings: MessagesSettings) -> MessageSender:
    """Each channel by its configured sender; the outbox-only default for the others."""
    senders: dict[str, MessageSender] = {}
    if settings.email == "smtp":
        senders["email"] = SmtpSender(SmtpOptions(
            settings.smtp_host, settings.smtp_port, settings.smtp_from,
            security=settings.smtp_security, username=settings.smtp_username,
            password=settings.smtp_password,
        ))  # fmt: skip
    if settings.sms == "gateway":
        senders["sms"] = SmsGatewaySender(SmsGatewayOptions(
            settings.sms_gateway_url, settings.sms_gateway_token, settings.sms_sender))
    return ByChannel(senders) if senders else OutboxOnlySender()


def reminder_links(services: Services) -> OptOutLinks | None:
    public_url = services.settings.messages.public_url
    if not public_url or services.secret is None:
        return None
    return OptOutLinks(services.secret, public_url)


def api_context(application: Application) -> ApiContext:
    services, flow = application.services, application.flow
    settings = services.settings
    return ApiContext(
        services.database, services.sessions, services.login_limiter, services.bus,
        flow=flow, desk=desk_for(flow, services.bus, services.bus_redis), hub=services.hub,
        forget_numbers=services.identification.forget_numbers,
        heartbeat_s=settings.events.heartbeat_seconds, recordings=services.recordings,
        playback_url_seconds=settings.recordings.playback_url_seconds,
        agents_play_own=settings.recordings.agents_play_own, payments=application.payments,
        sender=application.sender,
        trusted_proxies=parse_networks(settings.service.trusted_proxies),
        force_secure_cookie=settings.service.force_secure_cookie,
        webhooks=application.webhooks,
        batch_writes=WriteTurns(settings.billing.batch_writes_at_once),
    )  # fmt: skip


def webhook_worker(database: Database, settings: WebhooksSettings, *,
                   on_disabled: OnDisabled | None = None) -> DeliveryWorker:  # fmt: skip
    """The delivery worker (`pbx.service` starts it when `webhooks.enabled`); the API's
    manual redeliveries go through it either way. A commit in this process that writes
    deliveries wakes it at once."""
    sender = Sender(
        timeout_s=settings.timeout_seconds,
        connections=settings.concurrency,
        allow_private=settings.allow_private_http,
    )
    options = WorkerSettings(
        concurrency=settings.concurrency, poll_s=settings.poll_seconds,
        idle_s=settings.idle_poll_seconds, grace_s=settings.timeout_seconds + 2,
        disable_after=timedelta(hours=settings.disable_after_hours),
        allow_private=settings.allow_private_http,
    )  # fmt: skip
    worker = DeliveryWorker(database, sender, envelope, options, on_disabled=on_disabled)
    when_deliveries_committed(database.engine, worker.wake)
    return worker


def desk_for(flow: CallFlow | None, bus: Bus, bus_redis: Redis | None) -> Desk | None:
    """Desk operations run in the process that owns the Asterisk connection: here, or
    forwarded to it through Redis when several processes share the work."""
    if flow is None:
        return None
    if bus_redis is None:
        return local_desk(flow)
    return ForwardingDesk(local_desk(flow), bus, bus_redis, flow.snapshots.node)


def build_services(settings: Settings) -> Services:
    """Wire adapters to ports. Opens no connection yet: see `check_dependencies`."""
    database = Database(settings.database.url, pool_size=settings.database.pool_size)
    redis = _redis_client(settings) if settings.redis.url else None
    bus_redis = _bus_redis(settings) if settings.redis.url else None
    directory = CustomerDirectory(database)
    ident = settings.identification
    identification = CallerIdentification(
        directory,
        _identification_cache(settings, redis, bus_redis),
        fallback_region=ident.default_region,
        max_candidates=ident.max_candidates,
        default_tenant=ident.default_tenant,
    )
    auth = settings.auth
    sessions = SessionStore(
        database,
        passwords=PasswordWorkers(auth.password_workers, auth.password_queue),
        lifetime_s=int(auth.session_hours * 3600),
        idle_s=int(auth.idle_minutes * 60),
    )
    bus: Bus = RedisBus(bus_redis) if bus_redis is not None else MemoryBus()
    policy = SignInPolicy(
        pair_failures=auth.login_attempts, window_s=auth.login_window_seconds,
        user_free_failures=auth.login_delay_after, user_delay_s=auth.login_delay_seconds,
        user_delay_max_s=auth.login_delay_max_seconds,
    )  # fmt: skip
    limiter: SignInLimits = (
        RedisSignInLimits(redis, policy) if redis is not None else MemorySignInLimits(policy)
    )
    retention = settings.events.retention
    events: EventLog = (
        RedisEventLog(bus_redis, retention) if bus_redis is not None else MemoryEventLog(retention)
    )
    metrics = ProcessMetrics(utc_now)
    metrics.backlog = BacklogCache(database)  # recordings and webhooks waiting, per scrape
    return Services(
        settings, database, redis, directory, identification, bus, sessions, limiter,
        Hub(events), bus_redis, recording_store(settings.recordings),
        secret=installation_secret(settings, redis), metrics=metrics,
    )  # fmt: skip


def installation_secret(settings: Settings, redis: Redis | None) -> InstallationSecret:
    """Shared by the deployment through Redis; without Redis, a file of this process's."""
    if redis is not None:
        return RedisSecret(redis)
    return FileSecret(Path(settings.service.secret_file))


def payment_provider(settings: PaymentsSettings) -> PaymentProvider:
    if settings.provider == "stripe":
        return StripeProvider(
            settings.stripe_api_key,
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base or None,
            success_url=settings.return_url,
            cancel_url=settings.return_url,
        )
    if settings.provider == "gocardless":
        return GoCardlessProvider(
            settings.gocardless_access_token, webhook_secret=settings.gocardless_webhook_secret,
            environment=settings.gocardless_environment, redirect_uri=settings.return_url,
            exit_uri=settings.return_url,
        )  # fmt: skip
    return SandboxProvider(webhook_secret=sandbox_webhook_secret(settings.sandbox_webhook_secret))


def build_call_flow(
    services: Services,
    publisher: DeskPublisher,
    payments: PaymentProvider | None = None,
    sender: MessageSender | None = None,
) -> CallFlow | None:
    """The Stasis call flow when an Asterisk is configured (`[ari] url`), else None."""
    ari = services.settings.ari
    if not ari.url:
        return None
    client = AriClient(ari.url, ari.username, ari.password, ari.app)
    connection = AriConnection(
        client,
        reconnect_initial=ari.reconnect_initial_seconds,
        reconnect_max=ari.reconnect_max_seconds,
        metrics=services.metrics,
    )
    node = ari.node or (urlsplit(ari.url).hostname or "asterisk")
    return call_flow(
        client, connection, services.database, services.identification,
        node=node, dial_out=ari.dial_out, notify=publisher.notify, prefetch=publisher.prefetch,
        payments=payments, sender=sender,
        timing=FlowTiming(keypad_first_digit=ari.keypad_first_digit_seconds,
                          keypad_between_digits=ari.keypad_between_digits_seconds),
    )  # fmt: skip


def call_flow(
    client: AriClient,
    connection: AriConnection,
    database: Database,
    identification: CallerIdentification,
    *,
    node: str,
    dial_out: str,
    clock: Callable[[], datetime] = utc_now,
    rng: random.Random | None = None,
    timing: FlowTiming | None = None,
    notify: Callable[[str, dict[str, Any]], None] | None = None,
    prefetch: Callable[[int, int], None] | None = None,
    payments: PaymentProvider | None = None,
    sender: MessageSender | None = None,
) -> CallFlow:
    """The call flow for one Asterisk node over `client`, with its collaborators."""
    timing = timing or FlowTiming()
    config, state, lanes, lock = CurrentConfig(), FlowState.empty(rng), Lanes(), asyncio.Lock()
    call_log, keypads = CallLog(database), Keypads()
    executor = Executor(
        client, state, call_log, config, clock, lanes=lanes, dial_out=dial_out, notify=notify
    )
    executor.history = AgentStateHistory(database, every=timing.save_every)
    saver = StateSaver(state, SnapshotStore(database, node), lock, save_every=timing.save_every,
                       changed=executor.announce_agent_changes)  # fmt: skip
    player = PromptsPlayer(client)  # one for the call flow: it hands it the playbacks' ends
    recorder = CallRecorder(client, database, RecordingJobs(database), clock, node=node,
                            player=player)  # fmt: skip
    sessions = KeypadSessions(
        client, keypads, recorder, saver, executor.notify,
        first_digit_s=timing.keypad_first_digit,
        between_digits_s=timing.keypad_between_digits, player=player,
    )  # fmt: skip
    parts = FlowParts(
        config, state, lanes, lock, keypads, call_log, saver, recorder, executor, sessions,
        sender=sender or OutboxOnlySender(),
    )  # fmt: skip
    if payments is not None:
        take_payments(parts, payments, database, clock)
    return CallFlow(client, connection, database, identification, parts, clock=clock,
                    timing=timing, prefetch=prefetch)  # fmt: skip


def take_payments(
    parts: FlowParts | CallFlow, payments: PaymentProvider, database: Database,
    clock: Callable[[], datetime],
) -> None:  # fmt: skip
    """Card payments and direct-debit mandates by phone through `payments`."""
    sessions = parts.keypad_sessions
    parts.payments = payments
    parts.card_capture = CardCapture(sessions, payments, database, lambda: clock().date())
    parts.mandate_capture = MandateCapture(sessions, payments, database, parts.sender, clock)


def ownership(services: Services, flow: CallFlow) -> Ownership:
    ari = services.settings.ari
    lease: Lease = (
        RedisLease(services.redis, flow.snapshots.node, ari.lease_seconds)
        if services.redis is not None
        else SoleLease()
    )
    return ownership_of(flow, lease, every_s=ari.lease_seconds / 3, drain_s=ari.drain_seconds)


def ownership_of(
    flow: CallFlow, lease: Lease, *, every_s: float, drain_s: float = 0.0
) -> Ownership:
    """`flow` run while `lease` is held, its snapshots fenced by the lease's token."""
    return Ownership(flow, flow.saver, lease, url=flow.client.url, every_s=every_s,
                     drain_s=drain_s)  # fmt: skip


def recording_sources(services: Services, node: str) -> AriRecordingSources:
    """An ARI client per Asterisk node (this one's and `ari.other_nodes`), for recordings
    only: the call flow's own client is fenced to its owner, and every process, standbys
    too, works the recordings queue."""
    ari = services.settings.ari
    urls = dict(ari.other_nodes) | {node: ari.url}
    clients = {name: AriClient(url, ari.username, ari.password, ari.app)
               for name, url in urls.items()}  # fmt: skip
    return AriRecordingSources(clients, default=node)


def recordings(services: Services, sources: AriRecordingSources) -> RecordingPipeline | None:
    """The recordings pipeline; what it finishes is told to the call's agent and the
    supervisors."""
    if services.recordings is None or services.hub is None:
        return None
    hub, settings = services.hub, services.settings.recordings

    async def publish(tenant_id: int, stored: RecordingStored) -> None:
        agents = (stored.agent_id,) if stored.agent_id else ()
        await hub.publish(DeskEvent.of(tenant_id, Audience(agents, supervisors=True), stored))

    pipeline = PipelineSettings(
        Path(settings.spool_path), settings.format, settings.normalise, settings.bitrate or None
    )
    return RecordingPipeline(
        services.database, sources, services.recordings, pipeline,
        utc_now, publish,
    )  # fmt: skip


def recording_store(settings: RecordingsSettings) -> ObjectStore:
    if settings.store == "local":
        return LocalFolderStore(Path(settings.local_path))
    credentials = None
    if settings.s3_access_key_id:
        credentials = S3Credentials(settings.s3_access_key_id, settings.s3_secret_access_key)
    return S3Store(
        settings.s3_bucket,
        region=settings.s3_region,
        endpoint_url=settings.s3_endpoint_url or None,
        credentials=credentials,
        server_side_encryption=settings.s3_server_side_encryption or None,
        kms_key_id=settings.s3_kms_key_id or None,
        prefix=settings.s3_prefix,
    )


async def check_dependencies(services: Services, require_schema: bool = True) -> None:
    """Reach every required service once; the first failure names its setting."""
    settings = services.settings
    await check_database(services.database, require_schema)
    if services.redis is not None:
        try:
            await services.redis.ping()
        except (RedisError, OSError) as exc:
            raise SettingsError(
                "redis.url", f"cannot connect to {redact_url(settings.redis.url)}: {_reason(exc)}"
            ) from None
    if services.secret is not None:
        try:  # generated now if this is the installation's first start
            await services.secret.get()
        except (SecretError, RedisError, OSError) as exc:
            where = "redis.url" if services.redis is not None else "service.secret_file"
            raise SettingsError(where, f"installation secret: {exc}") from None


async def check_database(database: Database, require_schema: bool = True) -> None:
    url = redact_url(database.url)
    try:
        await asyncio.wait_for(database.ping(), timeout=10)
    except Exception as exc:
        raise SettingsError("database.url", f"cannot connect to {url}: {_reason(exc)}") from None
    if require_schema:
        current, head = await current_revision(database), head_revision()
        if current != head:
            raise SettingsError(
                "database.url",
                f"schema of {url} is at {current or 'nothing'}, expected {head}: "
                "run `ledgerline db upgrade`",
            )


def _redis_client(settings: Settings) -> Redis:
    timeout = settings.redis.connect_timeout_seconds
    return Redis.from_url(
        settings.redis.url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
    )


def _bus_redis(settings: Settings) -> Redis:
    """Pub/sub and the desk events' XREAD wait for messages indefinitely: no read timeout
    (said outright: redis-py 8 reads with a 5 s timeout by default, which broke off every
    wait through a quiet 5 s and held desk events back a second), keepalive and health
    checks to notice a dead connection instead."""
    return Redis.from_url(
        settings.redis.url,
        socket_connect_timeout=settings.redis.connect_timeout_seconds,
        socket_timeout=None,
        socket_keepalive=True,
        health_check_interval=30,
    )


def _identification_cache(
    settings: Settings, redis: Redis | None, listener: Redis | None
) -> IdentificationCache:
    """With Redis: an in-process tier in front of it, told of every invalidation over
    pub/sub on the listener's connection (no read timeout, like the bus's)."""
    ttl = settings.identification.cache_ttl_seconds
    if ttl == 0:
        return NoCache()
    if redis is not None and listener is not None:
        return NearCache(RedisCache(redis, ttl), listener, ttl)
    return MemoryCache(ttl)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text and text[0] else type(exc).__name__
