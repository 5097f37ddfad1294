"""The [messages] settings: the senders the composition root builds from them, what is
refused (a gateway without its token, plain http or an open relay off this machine), and no
value this repository ships accepted as a secret by `serve`."""

from __future__ import annotations

import pytest

from billing_bridge.messaging.routing import ByChannel
from billing_bridge.payments.pay_links import OutboxOnlySender
from pbx.bootstrap import message_sender
from pbx.settings import SettingsError, load_settings
from pbx.shipped_secrets import refuse_shipped_secrets

GATEWAY = {"LEDGERLINE_MESSAGES_SMS": "gateway",
           "LEDGERLINE_MESSAGES_SMS_GATEWAY_URL": "https://sms.example.com/v1/messages",
           "LEDGERLINE_MESSAGES_SMS_GATEWAY_TOKEN": "a-token-of-our-own"}  # fmt: skip


def test_by_default_messages_stay_in_the_outbox() -> None:
    assert isinstance(message_sender(load_settings(environ={}).messages), OutboxOnlySender)


def test_smtp_and_a_gateway_configured_send_each_channel_their_way() -> None:
    settings = load_settings(environ=GATEWAY | {
        "LEDGERLINE_MESSAGES_EMAIL": "smtp", "LEDGERLINE_MESSAGES_SMTP_HOST": "smtp.example.com",
        "LEDGERLINE_MESSAGES_SMTP_FROM": "billing@example.com",
    })  # fmt: skip
    assert isinstance(message_sender(settings.messages), ByChannel)


@pytest.mark.parametrize("environ", [
    {"LEDGERLINE_MESSAGES_SMS": "gateway"},
    GATEWAY | {"LEDGERLINE_MESSAGES_SMS_GATEWAY_TOKEN": ""},
    GATEWAY | {"LEDGERLINE_MESSAGES_SMS_GATEWAY_URL": "http://sms.example.com/send"},
    GATEWAY | {"LEDGERLINE_MESSAGES_SMS_GATEWAY_URL": "https://user:pw@sms.example.com/"},
    {"LEDGERLINE_MESSAGES_EMAIL": "smtp"},
    {"LEDGERLINE_MESSAGES_EMAIL": "smtp", "LEDGERLINE_MESSAGES_SMTP_HOST": "smtp.example.com",
     "LEDGERLINE_MESSAGES_SMTP_FROM": "billing@example.com",
     "LEDGERLINE_MESSAGES_SMTP_SECURITY": "none"},
    {"LEDGERLINE_MESSAGES_SMS_INBOUND_TOKEN": "short"},
    {"LEDGERLINE_MESSAGES_PUBLIC_URL": "ftp://example.com"},
    {"LEDGERLINE_MESSAGES_SMS_SENDER": "A-sender-name-too-long"},
], ids=["gateway-no-url", "no-token", "plain-http", "credentials-in-url", "smtp-no-host",
        "open-relay-far", "short-inbound-token", "public-url-scheme", "long-sender"])  # fmt: skip
def test_incomplete_or_unsafe_messages_settings_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(environ=environ)


@pytest.mark.parametrize(("environ", "setting"), [
    (GATEWAY | {"LEDGERLINE_MESSAGES_SMS_GATEWAY_TOKEN": "CHANGE-ME"},
     "messages.sms_gateway_token"),
    ({"LEDGERLINE_MESSAGES_SMS_INBOUND_TOKEN": "CHANGE-ME-TO-A-LONG-TOKEN"},
     "messages.sms_inbound_token"),
    ({"LEDGERLINE_MESSAGES_SMTP_PASSWORD": "CHANGE-ME"}, "messages.smtp_password"),
])  # fmt: skip
def test_the_example_configurations_tokens_are_refused_by_serve(
    environ: dict[str, str], setting: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        refuse_shipped_secrets(load_settings(environ=environ))
    assert refused.value.setting == setting
