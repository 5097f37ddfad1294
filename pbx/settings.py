"""Settings: embedded defaults, then a TOML file, then LEDGERLINE_* environment variables.

Every problem is reported as one `SettingsError` naming the setting (`database.url: ...`), so
start-up can stop with a single clear line instead of a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pbx.networks import parse_networks

ENV_PREFIX = "LEDGERLINE_"
# Names the TOML file when no --config is given (process AGI scripts have no command line).
CONFIG_FILE_ENV = "LEDGERLINE_CONFIG"


class SettingsError(Exception):
    """A setting is unknown, malformed, or names a service that cannot be reached."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSettings(_Section):
    http_host: str
    http_port: int = Field(ge=0, le=65535)
    log_level: str
    trusted_proxies: list[str]
    force_secure_cookie: bool
    secret_file: str = Field(min_length=1)
    # /metrics from other than loopback needs this bearer token; empty: loopback only.
    metrics_token: str

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError("at least 16 characters (or empty: /metrics on loopback only)")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> list[str]:
        """A TOML list of CIDRs, or "10.0.0.0/8,192.0.2.7" (an environment variable)."""
        if isinstance(value, str):
            value = [item for item in value.split(",") if item.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError("expected a list of addresses or CIDRs, e.g. [\"10.0.0.0/8\"]")
        for network in parse_networks(value):
            if network.prefixlen == 0:
                raise ValueError(f"{network} trusts every address: any client could choose "
                                 "the address the sign-in limits see")  # fmt: skip
        return [item.strip() for item in value]

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level


class AgiSettings(_Section):
    host: str
    port: int = Field(ge=0, le=65535)
    idle_timeout_seconds: float = Field(gt=0)
    max_sessions: int = Field(ge=1)


class DatabaseSettings(_Section):
    url: str
    pool_size: int = Field(ge=1)

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalise_database_url(value)


class RedisSettings(_Section):
    url: str
    connect_timeout_seconds: float = Field(gt=0)

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("expected redis://, rediss:// or unix:// (or empty for no Redis)")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("the URL has no host")
        return value


class AriSettings(_Section):
    url: str
    username: str
    password: str
    app: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    reconnect_initial_seconds: float = Field(gt=0)
    reconnect_max_seconds: float = Field(gt=0)
    node: str = Field(pattern=r"^[A-Za-z0-9_.:-]*$", max_length=64)
    dial_out: str
    lease_seconds: float = Field(ge=1, le=300)
    drain_seconds: float = Field(ge=0, le=300)
    other_nodes: dict[str, str]
    # How long a caller keying card or bank details on the keypad in a call has to start,
    # and between digits, before the entry times out.
    keypad_first_digit_seconds: float = Field(gt=0, le=120)
    keypad_between_digits_seconds: float = Field(gt=0, le=60)

    @field_validator("other_nodes", mode="before")
    @classmethod
    def _other_nodes(cls, value: Any) -> dict[str, str]:
        """A TOML table {node = url}, or "node=url,node=url" (an environment variable)."""
        if isinstance(value, str):
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise ValueError("expected node=http://host:port/ari, comma-separated")
            value = {node.strip(): url.strip() for node, _, url in pairs}
        if not isinstance(value, dict):
            raise ValueError("expected a table of node = ARI URL")
        nodes: dict[str, str] = {}
        for node, url in value.items():
            if not isinstance(node, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", node):
                raise ValueError(f"node name {node!r}: letters, digits and _.:- (at most 64)")
            if not isinstance(url, str):
                raise ValueError(f"node {node}: the ARI URL must be a string")
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError(f"node {node}: expected http(s)://host:port/ari")
            if parts.password is not None:
                raise ValueError(f"node {node}: put the password in ari.password, not the URL")
            nodes[node] = url.rstrip("/")
        return nodes

    @field_validator("dial_out")
    @classmethod
    def _dial_out(cls, value: str) -> str:
        if "{number}" not in value or "/" not in value:
            raise ValueError("expected a dial string with {number}, e.g. PJSIP/{number}@trunk")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("expected http(s)://host:port/ari (or empty for no Asterisk)")
        if parts.password is not None:
            raise ValueError("put the password in ari.password, not in the URL")
        return value.rstrip("/")


class IdentificationSettings(_Section):
    default_region: str
    cache_ttl_seconds: int = Field(ge=0)
    max_candidates: int = Field(ge=2, le=100)
    default_tenant: str

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. IL, LT, GB)")
        return region


class BillingSettings(_Section):
    """The billing system's door (`/api/v1/billing/...`).

    `batch_writes_at_once`: how many NDJSON batches write at the same time in one process;
    the others wait their turn, already read (`billing_bridge.ingest.turns`). Each batch
    writing keeps a PostgreSQL backend busy at the database's priority, whatever the
    process's. On two cores, `bench/billing_sync.py` at full size (1,400,000 records, four
    clients, 50 caller lookups a second meanwhile): 2 at once, the lookups' p99 23.5-28.3 ms
    and the sync 45-58 s; 1 at once (the default), 13.4-18.1 ms and 53-68 s. Raise it where
    the database has cores to spare."""

    batch_writes_at_once: int = Field(ge=1, le=64)


class AuthSettings(_Section):
    session_hours: float = Field(gt=0, le=24 * 30)
    idle_minutes: float = Field(gt=0)
    login_attempts: int = Field(ge=1)
    login_window_seconds: int = Field(ge=1)
    login_delay_after: int = Field(ge=1)
    login_delay_seconds: float = Field(gt=0)
    login_delay_max_seconds: float = Field(gt=0)
    password_workers: int = Field(ge=1, le=64)
    password_queue: int = Field(ge=0, le=10_000)

    @model_validator(mode="after")
    def _delays(self) -> AuthSettings:
        delays = (self.login_delay_seconds, self.login_delay_max_seconds)
        if not delays[0] <= delays[1] <= self.login_window_seconds:
            raise ValueError("expected login_delay_seconds <= login_delay_max_seconds <= "
                             "login_window_seconds")  # fmt: skip
        return self


class EventsSettings(_Section):
    retention: int = Field(ge=100)
    heartbeat_seconds: float = Field(gt=0)


class RecordingsSettings(_Section):
    store: Literal["local", "s3"]
    local_path: str = Field(min_length=1)
    spool_path: str = Field(min_length=1)
    format: Literal["opus", "mp3", "wav"]
    normalise: bool
    bitrate: str = Field(pattern=r"^(|[1-9][0-9]{0,2}k)$")
    playback_url_seconds: int = Field(ge=10, le=3600)
    agents_play_own: bool
    purge_every_minutes: float = Field(gt=0)
    s3_bucket: str
    s3_endpoint_url: str
    s3_region: str
    s3_access_key_id: str
    s3_secret_access_key: str
    s3_server_side_encryption: Literal["AES256", "aws:kms", "aws:kms:dsse", ""]
    s3_kms_key_id: str
    s3_prefix: str

    @model_validator(mode="after")
    def _s3_complete(self) -> RecordingsSettings:
        if self.store == "s3" and not self.s3_bucket:
            raise ValueError("recordings.store is s3: set recordings.s3_bucket")
        return self


class PaymentsSettings(_Section):
    provider: Literal["sandbox", "stripe", "gocardless"]
    sandbox_webhook_secret: str  # empty: drawn per process (`pbx.shipped_secrets`)
    stripe_api_key: str
    stripe_webhook_secret: str
    # Where the Stripe API is reached; empty: Stripe's own (https://api.stripe.com).
    stripe_api_base: str
    gocardless_access_token: str
    gocardless_webhook_secret: str
    gocardless_environment: Literal["sandbox", "live"]
    return_url: str
    collect_every_minutes: float = Field(gt=0)

    @field_validator("stripe_api_base")
    @classmethod
    def _stripe_api_base(cls, value: str) -> str:
        """https to a host, or http to this machine only (a local stand-in): the API key
        travels in every request's header."""
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("expected https://host (or http://127.0.0.1:port for a local "
                             "stand-in), or empty for Stripe's own")  # fmt: skip
        if parts.scheme == "http" and parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("http only to this machine (127.0.0.1, localhost, ::1): the API "
                             "key travels in each request")  # fmt: skip
        if parts.username is not None or parts.query or parts.fragment or parts.path.strip("/"):
            raise ValueError("expected only a scheme, a host and a port")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _credentials(self) -> PaymentsSettings:
        if self.provider == "stripe" and not (self.stripe_api_key and self.stripe_webhook_secret):
            raise ValueError("payments.provider is stripe: set stripe_api_key and "
                             "stripe_webhook_secret")  # fmt: skip
        if self.provider == "gocardless" and not (
            self.gocardless_access_token and self.gocardless_webhook_secret
        ):
            raise ValueError("payments.provider is gocardless: set gocardless_access_token and "
                             "gocardless_webhook_secret")  # fmt: skip
        return self


class WebhooksSettings(_Section):
    enabled: bool
    poll_seconds: float = Field(gt=0, le=1)
    idle_poll_seconds: float = Field(gt=0, le=10)
    concurrency: int = Field(ge=1, le=1000)
    timeout_seconds: float = Field(gt=0, le=60)
    disable_after_hours: float = Field(gt=0)
    allow_private_http: bool


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class MessagesSettings(_Section):
    """How the outbox's messages leave (pay links, confirmations, reminders) and the
    reminders' schedule runner (`billing_bridge.messaging`, `billing_bridge.reminders`)."""

    email: Literal["outbox", "smtp"]
    smtp_host: str
    smtp_port: int = Field(ge=1, le=65535)
    smtp_security: Literal["tls", "starttls", "none"]
    smtp_username: str
    smtp_password: str
    smtp_from: str
    sms: Literal["outbox", "gateway"]
    sms_gateway_url: str
    sms_gateway_token: str
    sms_sender: str = Field(max_length=11)
    sms_inbound_token: str
    public_url: str
    reminders_every_minutes: float = Field(gt=0)

    @field_validator("sms_gateway_url", "public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        """https to a host, or http to this machine only (a local stand-in)."""
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("expected https://host/... (or http://127.0.0.1:port/...)")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ValueError("http only to this machine (127.0.0.1, localhost, ::1)")
        if parts.username is not None or parts.fragment:
            raise ValueError("no credentials or fragment in the URL")
        return value

    @model_validator(mode="after")
    def _complete(self) -> MessagesSettings:
        if self.email == "smtp":
            if not (self.smtp_host and "@" in self.smtp_from):
                raise ValueError("messages.email is smtp: set smtp_host and smtp_from")
            if self.smtp_security == "none" and self.smtp_host not in _LOOPBACK:
                raise ValueError("messages.smtp_security none only to a relay on this machine")
        if self.sms == "gateway" and not (self.sms_gateway_url and self.sms_gateway_token):
            raise ValueError("messages.sms is gateway: set sms_gateway_url and "
                             "sms_gateway_token")  # fmt: skip
        if self.sms_inbound_token and len(self.sms_inbound_token) < 16:
            raise ValueError("messages.sms_inbound_token: at least 16 characters")
        return self


class Settings(_Section):
    service: ServiceSettings
    auth: AuthSettings
    events: EventsSettings
    agi: AgiSettings
    database: DatabaseSettings
    redis: RedisSettings
    ari: AriSettings
    identification: IdentificationSettings
    billing: BillingSettings
    recordings: RecordingsSettings
    payments: PaymentsSettings
    webhooks: WebhooksSettings
    messages: MessagesSettings


def normalise_database_url(value: str) -> str:
    """Accept the usual URL spellings and name the async driver Ledgerline runs on."""
    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL ({exc})") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        if not url.host and not url.query.get("host"):
            raise ValueError("a PostgreSQL URL needs a host")
        if not url.database:
            raise ValueError("a PostgreSQL URL needs a database name")
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


def redact_url(value: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(value)
    if parts.password is None:
        return value
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge defaults, the optional TOML file and the environment; validate the result."""
    environ = os.environ if environ is None else environ
    merged = _read_toml(resources.files("config").joinpath("defaults.toml").read_text(), "defaults")
    if config_file is None and environ.get(CONFIG_FILE_ENV):
        config_file = Path(environ[CONFIG_FILE_ENV])
    if config_file is not None:
        try:
            text = config_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError("--config", f"cannot read {config_file}: {exc.strerror}") from None
        _overlay(merged, _read_toml(text, str(config_file)), source=str(config_file))
    _overlay(merged, _from_environment(environ), source="env")
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        setting = ".".join(str(part) for part in error["loc"])
        raise SettingsError(setting, error["msg"].removeprefix("Value error, ")) from None


def _read_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(source, f"not valid TOML: {exc}") from None


def _overlay(base: dict[str, Any], override: Mapping[str, Any], source: str) -> None:
    for section, values in override.items():
        if section not in base:
            raise SettingsError(section, f"unknown section (in {source})")
        if not isinstance(values, Mapping):
            raise SettingsError(section, f"must be a table of settings (in {source})")
        for key, value in values.items():
            if key not in base[section]:
                raise SettingsError(f"{section}.{key}", f"unknown setting (in {source})")
            base[section][key] = value


def _from_environment(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """LEDGERLINE_DATABASE_URL -> {"database": {"url": ...}}; sections are matched longest first."""
    sections = sorted(Settings.model_fields, key=len, reverse=True)
    found: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_ENV:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is None:
            raise SettingsError(name, "unknown setting (environment variable)")
        key = rest[len(section) + 1 :]
        if key not in Settings.model_fields[section].annotation.model_fields:  # type: ignore[union-attr]
            raise SettingsError(name, "unknown setting (environment variable)")
        found.setdefault(section, {})[key] = value
    return found
