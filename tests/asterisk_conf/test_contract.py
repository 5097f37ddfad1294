"""asterisk-conf/ and Ledgerline agree: the contexts, variables, prompts and settings one
side names exist on the other."""

from __future__ import annotations

import re
from pathlib import Path

from agi_scripts.handlers.caller_lookup import POP_TOKEN_VARIABLE
from billing_bridge.identification import variables
from pbx.callflow import prompts
from pbx.callflow.executor import VOICEMAIL_CONTEXT
from pbx.settings import load_settings

CONF = Path(__file__).resolve().parents[2] / "asterisk-conf"


def _contexts(text: str) -> set[str]:
    return set(re.findall(r"^\[([\w-]+)\]", text, flags=re.MULTILINE))


def test_the_contexts_ledgerline_sends_calls_to_exist() -> None:
    contexts = _contexts((CONF / "extensions.conf").read_text())
    settings = load_settings(environ={})
    outbound = re.fullmatch(r"Local/\{number\}@([\w-]+)", settings.ari.dial_out)
    assert outbound is not None and outbound[1] in contexts
    assert VOICEMAIL_CONTEXT in contexts
    assert "from-pstn" in contexts


def test_the_inbound_context_looks_the_caller_up_then_enters_our_stasis_app() -> None:
    text = (CONF / "extensions.conf").read_text()
    settings = load_settings(environ={})
    assert f"LEDGERLINE_APP={settings.ari.app}" in text
    assert "/caller-lookup," in text and "Stasis(${LEDGERLINE_APP})" in text


def test_ari_sends_every_lookup_variable_the_call_flow_routes_by() -> None:
    ari = (CONF / "ari.conf").read_text()
    configured = re.search(r"^channelvars=(.+)$", ari, flags=re.MULTILINE)
    assert configured is not None
    assert set(configured[1].split(",")) >= set(variables.ROUTING)


def test_the_voicemail_context_uses_mailboxes_that_are_configured() -> None:
    extensions = (CONF / "extensions.conf").read_text()
    voicemail = (CONF / "voicemail.conf").read_text()
    mailbox_context = re.search(r"VoiceMail\(\$\{EXTEN\}@([\w-]+)", extensions)
    assert mailbox_context is not None and mailbox_context[1] in _contexts(voicemail)
    assert "load = app_voicemail.so" in (CONF / "modules.conf").read_text()


def test_every_custom_prompt_is_documented_for_the_business_to_record() -> None:
    readme = (CONF / "README.md").read_text()
    custom = {
        media.removeprefix("sound:")
        for name in dir(prompts) if name.isupper()
        for media in getattr(prompts, name) if media.startswith("sound:ledgerline-")
    }  # fmt: skip
    assert custom and all(f"`{prompt}`" in readme for prompt in custom)


def test_the_music_class_queues_use_by_default_is_defined() -> None:
    from pbx.http.schemas import QueueIn

    assert QueueIn(name="q").music_class in _contexts((CONF / "musiconhold.conf").read_text())


def test_the_screen_pop_gets_the_token_that_caller_lookup_set_for_the_caller() -> None:
    text = (CONF / "extensions.conf").read_text()
    queue = re.search(r"Queue\([^\n]*b\(ledgerline-screen-pop\^s\^1\(([^)]*)\)\)", text)
    assert queue is not None
    token = "${" + POP_TOKEN_VARIABLE + "}"
    assert queue[1].split("^") == ["${UNIQUEID}", "${LL_CUSTOMER_ID}", token]
    pop = re.search(r"AGI\(\$\{LEDGERLINE_FASTAGI\}/screen-pop,([^)\n]*)\)", text)
    assert pop is not None and pop[1].split(",") == ["${member}", "${ARG1}", "${ARG2}", "${ARG3}"]
