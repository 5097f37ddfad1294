"""Settings: defaults, a TOML file, then LEDGERLINE_* variables; every problem names its key."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from pbx.bootstrap import build_call_flow
from pbx.callflow.app import utc_now
from pbx.db.database import Database
from pbx.metrics.prometheus import ProcessMetrics
from pbx.settings import SettingsError, load_settings, redact_url


def test_the_embedded_defaults_need_nothing_and_bind_to_loopback() -> None:
    settings = load_settings(environ={})
    assert settings.database.url.startswith("sqlite+aiosqlite://")
    assert settings.redis.url == ""
    assert settings.agi.host == settings.service.http_host == "127.0.0.1"
    assert settings.agi.port == 4573


def test_a_config_file_overrides_the_defaults(tmp_path: Path) -> None:
    config = tmp_path / "ledgerline.toml"
    config.write_text('[agi]\nport = 5000\n[identification]\ndefault_region = "lt"\n')
    settings = load_settings(config, environ={})
    assert settings.agi.port == 5000
    assert settings.identification.default_region == "LT"
    assert settings.agi.host == "127.0.0.1"


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "ledgerline.toml"
    config.write_text("[agi]\nport = 5000\n")
    settings = load_settings(
        config,
        environ={
            "LEDGERLINE_AGI_PORT": "6000",
            "LEDGERLINE_DATABASE_URL": "postgresql://app:secret@db.internal/ledgerline",
            "LEDGERLINE_REDIS_URL": "redis://127.0.0.1:6379/0",
            "LEDGERLINE_IDENTIFICATION_CACHE_TTL_SECONDS": "0",
            "PATH": "/usr/bin",
        },
    )
    assert settings.agi.port == 6000
    assert settings.database.url == "postgresql+asyncpg://app:secret@db.internal/ledgerline"
    assert settings.redis.url == "redis://127.0.0.1:6379/0"
    assert settings.identification.cache_ttl_seconds == 0


def test_ari_credentials_come_from_settings() -> None:
    settings = load_settings(
        environ={
            "LEDGERLINE_ARI_URL": "http://127.0.0.1:8088/ari/",
            "LEDGERLINE_ARI_PASSWORD": "from-the-environment",
        }
    )
    assert settings.ari.url == "http://127.0.0.1:8088/ari"
    assert settings.ari.password == "from-the-environment"
    assert settings.ari.app == "ledgerline"


def test_other_asterisk_nodes_come_as_a_toml_table_or_a_comma_separated_variable(
    tmp_path: Path,
) -> None:
    config = tmp_path / "ledgerline.toml"
    config.write_text('[ari]\nother_nodes = { "pbx-b" = "http://10.0.0.12:8088/ari/" }\n')
    assert load_settings(config, environ={}).ari.other_nodes == {
        "pbx-b": "http://10.0.0.12:8088/ari"
    }
    variable = "pbx-b=http://10.0.0.12:8088/ari, pbx-c=https://10.0.0.13:8089/ari"
    nodes = load_settings(environ={"LEDGERLINE_ARI_OTHER_NODES": variable}).ari.other_nodes
    assert nodes == {"pbx-b": "http://10.0.0.12:8088/ari", "pbx-c": "https://10.0.0.13:8089/ari"}


def test_the_config_file_can_be_named_by_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "ledgerline.toml"
    config.write_text("[agi]\nport = 5001\n")
    assert load_settings(environ={"LEDGERLINE_CONFIG": str(config)}).agi.port == 5001


@pytest.mark.parametrize(
    ("toml", "environ", "setting", "problem"),
    [
        ("[agi]\nprot = 1\n", {}, "agi.prot", "unknown setting"),
        ("[agii]\nport = 1\n", {}, "agii", "unknown section"),
        ("", {"LEDGERLINE_AGI_PROT": "1"}, "LEDGERLINE_AGI_PROT", "unknown setting"),
        ("", {"LEDGERLINE_NOPE": "1"}, "LEDGERLINE_NOPE", "unknown setting"),
        ("", {"LEDGERLINE_AGI_PORT": "many"}, "agi.port", "integer"),
        ("", {"LEDGERLINE_AGI_PORT": "70000"}, "agi.port", "65535"),
        ("", {"LEDGERLINE_DATABASE_URL": "not a url"}, "database.url", "not a database URL"),
        ("", {"LEDGERLINE_DATABASE_URL": "mysql://x@h/db"}, "database.url", "unsupported"),
        ("", {"LEDGERLINE_DATABASE_URL": "postgresql:///db"}, "database.url", "needs a host"),
        ("", {"LEDGERLINE_REDIS_URL": "http://127.0.0.1"}, "redis.url", "redis://"),
        ("", {"LEDGERLINE_REDIS_URL": "redis://"}, "redis.url", "no host"),
        (
            "",
            {"LEDGERLINE_IDENTIFICATION_DEFAULT_REGION": "XX"},
            "identification.default_region",
            "region",
        ),
        ("", {"LEDGERLINE_SERVICE_LOG_LEVEL": "LOUD"}, "service.log_level", "log level"),
        ("[agi\n", {}, "ledgerline.toml", "not valid TOML"),
        ("", {"LEDGERLINE_ARI_URL": "ws://127.0.0.1:8088"}, "ari.url", "http"),
        ("", {"LEDGERLINE_ARI_URL": "http://u:p@127.0.0.1:8088/ari"}, "ari.url", "ari.password"),
        ("", {"LEDGERLINE_ARI_APP": "bad app"}, "ari.app", "pattern"),
        ("", {"LEDGERLINE_ARI_OTHER_NODES": "west"}, "ari.other_nodes", "node=http"),
        ("", {"LEDGERLINE_ARI_OTHER_NODES": "w=ws://h:8088"}, "ari.other_nodes", "http(s)"),
        ("", {"LEDGERLINE_ARI_OTHER_NODES": "w e=http://h/ari"}, "ari.other_nodes", "node name"),
        ("", {"LEDGERLINE_ARI_OTHER_NODES": "w=http://u:p@h/ari"}, "ari.other_nodes", "password"),
        ("", {"LEDGERLINE_ARI_DRAIN_SECONDS": "-1"}, "ari.drain_seconds", "greater than"),
        ("[ari]\nkeypad_first_digit_seconds = 0\n", {}, "ari.keypad_first_digit_seconds",
         "greater than 0"),
        ("", {"LEDGERLINE_ARI_KEYPAD_FIRST_DIGIT_SECONDS": "121"},
         "ari.keypad_first_digit_seconds", "less than or equal to 120"),
        ("", {"LEDGERLINE_ARI_KEYPAD_BETWEEN_DIGITS_SECONDS": "-5"},
         "ari.keypad_between_digits_seconds", "greater than 0"),
        ("", {"LEDGERLINE_ARI_KEYPAD_BETWEEN_DIGITS_SECONDS": "61"},
         "ari.keypad_between_digits_seconds", "less than or equal to 60"),
        ("[ari]\nkeypad_between_digits_seconds = \"soon\"\n", {},
         "ari.keypad_between_digits_seconds", "number"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_setting(
    tmp_path: Path, toml: str, environ: dict[str, str], setting: str, problem: str
) -> None:
    config = tmp_path / "ledgerline.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError) as caught:
        load_settings(config, environ=environ)
    assert caught.value.setting.endswith(setting)
    assert problem in caught.value.problem
    assert "\n" not in str(caught.value)


async def test_the_keypad_timeouts_reach_the_call_flow_from_the_settings() -> None:
    defaults = load_settings(environ={}).ari
    assert (defaults.keypad_first_digit_seconds, defaults.keypad_between_digits_seconds) == (
        10.0, 5.0)  # fmt: skip
    settings = load_settings(environ={
        "LEDGERLINE_ARI_URL": "http://127.0.0.1:8088/ari",
        "LEDGERLINE_ARI_KEYPAD_FIRST_DIGIT_SECONDS": "7.5",
        "LEDGERLINE_ARI_KEYPAD_BETWEEN_DIGITS_SECONDS": "2",
    })  # fmt: skip
    database = Database("sqlite+aiosqlite:///:memory:")  # built, never connected
    services = SimpleNamespace(settings=settings, database=database, identification=None,
                               metrics=ProcessMetrics(utc_now))  # fmt: skip
    publisher = SimpleNamespace(notify=lambda *_: None, prefetch=lambda *_: None)
    try:
        flow = build_call_flow(services, publisher)  # type: ignore[arg-type]
    finally:
        await database.close()
    assert flow is not None
    assert (flow.keypad_sessions.first_digit_s, flow.keypad_sessions.between_digits_s) == (
        7.5, 2.0)  # fmt: skip


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_passwords_are_hidden_in_messages() -> None:
    assert redact_url("postgresql+asyncpg://app:s3cret@db/x") == "postgresql+asyncpg://app:***@db/x"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_trusted_proxies_come_as_a_toml_list_or_a_comma_separated_variable(
    tmp_path: Path,
) -> None:
    config = tmp_path / "ledgerline.toml"
    config.write_text('[service]\ntrusted_proxies = ["10.0.0.0/8", "192.0.2.7"]\n')
    assert load_settings(config, environ={}).service.trusted_proxies == ["10.0.0.0/8", "192.0.2.7"]
    environ = {"LEDGERLINE_SERVICE_TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::/32"}
    assert load_settings(environ=environ).service.trusted_proxies == ["10.0.0.0/8", "2001:db8::/32"]
    assert load_settings(environ={}).service.trusted_proxies == []  # no proxy believed


@pytest.mark.parametrize(
    ("environ", "setting", "problem"),
    [
        ({"LEDGERLINE_SERVICE_TRUSTED_PROXIES": "0.0.0.0/0"}, "trusted_proxies", "every address"),
        ({"LEDGERLINE_SERVICE_TRUSTED_PROXIES": "::/0"}, "trusted_proxies", "every address"),
        ({"LEDGERLINE_SERVICE_TRUSTED_PROXIES": "proxy.lan"}, "trusted_proxies", "'proxy.lan'"),
        ({"LEDGERLINE_AUTH_LOGIN_DELAY_MAX_SECONDS": "600"}, "auth", "login_window_seconds"),
        ({"LEDGERLINE_AUTH_PASSWORD_WORKERS": "0"}, "auth.password_workers", "1"),
    ],
)
def test_unsafe_sign_in_and_proxy_settings_are_refused(
    environ: dict[str, str], setting: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ)
    assert setting in caught.value.setting and problem in caught.value.problem
