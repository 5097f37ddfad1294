"""The FastAGI codec: environments, argument quoting, commands and replies, without sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agi_scripts.fastagi.errors import AGIProtocolError
from agi_scripts.fastagi.protocol import (
    MAX_COMMAND_BYTES,
    MAX_ENV_LINES,
    AGIEnvironment,
    format_command,
    is_hangup,
    is_usage_end,
    normalise_script_name,
    parse_environment,
    parse_reply,
    quote,
)
from pbx.simulator.fastagi_peer import parse_args
from tests.fixtures import CAPTURES


def captured_sessions() -> list[dict[str, Any]]:
    with (CAPTURES / "fastagi-sessions.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


SESSIONS = captured_sessions()
BASE_ENV = [
    "agi_network: yes",
    "agi_network_script: caller_lookup",
    "agi_request: agi://127.0.0.1:4573/caller_lookup",
    "agi_channel: PJSIP/pstn-trunk-00000001",
    "agi_uniqueid: 1795353335.8",
    "agi_callerid: +15551234567",
]


def env_with(*lines: str, base: list[str] = BASE_ENV) -> AGIEnvironment:
    return AGIEnvironment.from_lines([*base, *lines])


@pytest.mark.parametrize("session", SESSIONS, ids=lambda s: s["agi_env"]["agi_uniqueid"])
def test_every_captured_environment_parses_into_the_call_it_describes(
    session: dict[str, Any],
) -> None:
    expected = session["agi_env"]
    env = AGIEnvironment.from_lines(session["raw_env_lines"])

    assert dict(env.raw) == expected
    assert env.script == "caller-lookup"
    assert env.params == {}
    assert env.channel == expected["agi_channel"]
    assert env.uniqueid == expected["agi_uniqueid"]
    assert env.callerid == expected["agi_callerid"]
    assert env.callingpres == int(expected["agi_callingpres"])
    assert (env.extension, env.context, env.language) == ("100", "from-pstn", "en")
    assert env.args == ()


def test_the_captured_block_parses_the_same_as_its_lines() -> None:
    lines = SESSIONS[0]["raw_env_lines"]
    block = ("\n".join(lines) + "\n\n").encode()

    assert parse_environment(block) == AGIEnvironment.from_lines(lines)


def test_asterisks_word_unknown_means_no_caller_number_name_or_dnid() -> None:
    withheld = next(s for s in SESSIONS if s["agi_env"]["agi_callerid"] == "unknown")
    env = AGIEnvironment.from_lines(withheld["raw_env_lines"])

    assert (env.caller_number, env.caller_name, env.dialed_number) == (None, None, None)
    assert env.callingpres == 67


def test_a_known_caller_and_dnid_are_exposed_as_they_came() -> None:
    pjsip = next(s for s in SESSIONS if s["agi_env"]["agi_dnid"] != "unknown")
    env = AGIEnvironment.from_lines(pjsip["raw_env_lines"])

    assert (env.caller_number, env.caller_name, env.dialed_number) == (
        "+15551234567",
        "Probe Caller",
        "100",
    )


@pytest.mark.parametrize(
    "name", ["caller_lookup", "caller-lookup", "Caller_Lookup", "/caller_lookup/", "CALLER-LOOKUP"]
)
def test_script_names_in_either_spelling_are_the_same_script(name: str) -> None:
    assert normalise_script_name(name) == "caller-lookup"


def test_the_query_string_of_the_agi_url_becomes_params() -> None:
    env = AGIEnvironment.from_lines(
        [
            "agi_network: yes",
            "agi_network_script: caller_lookup?tenant=acme&did=",
            "agi_request: agi://10.0.0.5/caller_lookup?tenant=acme&did=",
            *BASE_ENV[3:],
        ]
    )

    assert env.script == "caller-lookup"
    assert env.params == {"tenant": "acme", "did": ""}


def test_without_agi_network_script_the_script_comes_from_the_request_path() -> None:
    env = AGIEnvironment.from_lines(
        [
            "agi_request: agi://pbx.example:4573/Caller_Lookup?tenant=acme",
            "agi_channel: Local/100@from-pstn-00000000;2",
            "agi_uniqueid: 1.1",
        ]
    )

    assert (env.script, dict(env.params)) == ("caller-lookup", {"tenant": "acme"})


def test_agi_arguments_become_a_tuple_in_order() -> None:
    env = env_with("agi_arg_2: second arg", "agi_arg_1: +97235551234", "agi_arg_3: ")

    assert env.args == ("+97235551234", "second arg", "")


def test_empty_values_and_values_with_colons_are_kept_exactly() -> None:
    env = env_with("agi_accountcode: ", "agi_calleridname: Dr: Who ")

    assert env.raw["agi_accountcode"] == ""
    assert env.calleridname == "Dr: Who "


def test_utf8_caller_names_arrive_intact() -> None:
    env = env_with("agi_calleridname: Žygimantas Šimkūnas")
    block = ("\n".join([*BASE_ENV, "agi_calleridname: שרה כהן"]) + "\n\n").encode()

    assert env.caller_name == "Žygimantas Šimkūnas"
    assert parse_environment(block).caller_name == "שרה כהן"


@pytest.mark.parametrize(
    "line",
    [
        "agi_channel:PJSIP/x",
        "agi_accountcode:",
        "no separator here",
        "Agi_Channel: upper case key",
        ": value without key",
        "x-agi_channel: foreign key",
        "",
    ],
)
def test_a_line_that_is_not_key_colon_space_value_is_refused(line: str) -> None:
    with pytest.raises(AGIProtocolError, match="not an AGI environment line"):
        env_with(line)


def test_a_repeated_key_is_refused_not_overwritten() -> None:
    with pytest.raises(AGIProtocolError, match="repeats 'agi_channel'"):
        env_with("agi_channel: Local/evil")


def test_more_environment_lines_than_the_cap_are_refused() -> None:
    extra = [f"agi_x{index}: y" for index in range(MAX_ENV_LINES)]

    with pytest.raises(AGIProtocolError, match="more than 128 lines"):
        env_with(*extra)


@pytest.mark.parametrize("missing", ["agi_request", "agi_channel", "agi_uniqueid"])
def test_an_environment_without_the_call_identity_is_refused(missing: str) -> None:
    lines = [line for line in BASE_ENV if not line.startswith(missing + ":")]

    with pytest.raises(AGIProtocolError, match=f"lacks '{missing}'"):
        AGIEnvironment.from_lines(lines)


def test_a_non_numeric_calling_presentation_is_refused() -> None:
    with pytest.raises(AGIProtocolError, match="agi_callingpres"):
        env_with("agi_callingpres: allowed")


def test_agi_arguments_with_a_gap_are_refused() -> None:
    with pytest.raises(AGIProtocolError, match="numbered"):
        env_with("agi_arg_1: a", "agi_arg_3: c")


@pytest.mark.parametrize(
    "line",
    [
        "agi_arg_" + "1" * 5000 + ": x",  # int() of it raised ValueError, past Python's cap
        "agi_arg_128: x",  # AGI() takes at most 127 arguments
        "agi_arg_01: x",
    ],
)
def test_an_agi_argument_number_that_asterisk_never_sends_is_a_protocol_error(line: str) -> None:
    with pytest.raises(AGIProtocolError, match="not an AGI argument number"):
        env_with(line)


@pytest.mark.parametrize("value", ["٣", "1_0", " 1", "7" * 5000])
def test_a_calling_presentation_that_is_not_a_short_ascii_number_is_refused(value: str) -> None:
    with pytest.raises(AGIProtocolError, match="agi_callingpres"):
        env_with(f"agi_callingpres: {value}")


def test_a_block_without_the_empty_line_is_refused() -> None:
    with pytest.raises(AGIProtocolError, match="empty line"):
        parse_environment(b"agi_request: agi://x/y\n")


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("42", '"42"'),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\path\\", '"C:\\\\path\\\\"'),
        ("", '""'),
        ("שרה כהן", '"שרה כהן"'),
        ("Žygimantas Šimkūnas", '"Žygimantas Šimkūnas"'),
    ],
)
def test_quote_wraps_in_double_quotes_and_escapes_quotes_and_backslashes(
    arg: str, quoted: str
) -> None:
    assert quote(arg) == quoted


@pytest.mark.parametrize(
    "value",
    [
        "שרה כהן",
        "Žygimantas Šimkūnas",
        'O"Brien \\ "quoted"',
        "\\",
        '\\"',
        "tab\tinside",
        "  spaces  ",
        "",
        "(parens) and = signs",
    ],
)
def test_asterisks_parse_args_reads_a_quoted_argument_back_exactly(value: str) -> None:
    line = format_command("SET VARIABLE", "LL_CUSTOMER_NAME", value).decode()

    assert parse_args(line[:-1]) == ["SET", "VARIABLE", "LL_CUSTOMER_NAME", value]


@pytest.mark.parametrize("bad", ["line\nbreak", "carriage\rreturn", "nul\x00byte"])
def test_an_argument_that_would_end_the_command_early_is_refused(bad: str) -> None:
    with pytest.raises(AGIProtocolError, match="AGI argument contains"):
        format_command("SET VARIABLE", "X", bad)


def test_format_command_quotes_text_leaves_numbers_bare_and_ends_with_a_newline() -> None:
    assert format_command("VERBOSE", "Ledgerline: no AGI script named 'xyz'", 1) == (
        b"VERBOSE \"Ledgerline: no AGI script named 'xyz'\" 1\n"
    )
    assert format_command("ANSWER") == b"ANSWER\n"
    assert format_command("SET VARIABLE", "N", "שרה") == 'SET VARIABLE "N" "שרה"\n'.encode()


@pytest.mark.parametrize(
    "verb", ["set variable", "SET  VARIABLE", "SET\nVARIABLE", "", "GET DATA "]
)
def test_a_verb_that_is_not_upper_case_words_is_refused(verb: str) -> None:
    with pytest.raises(AGIProtocolError, match="not an AGI verb"):
        format_command(verb)


def test_a_command_that_does_not_fit_asterisks_read_buffer_is_refused() -> None:
    overhead = len(b'VERBOSE "" 1\n')
    fits = "x" * (MAX_COMMAND_BYTES - overhead)

    assert len(format_command("VERBOSE", fits, 1)) == MAX_COMMAND_BYTES
    with pytest.raises(AGIProtocolError, match="at most 2047"):
        format_command("VERBOSE", fits + "x", 1)


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "endpos", "text"),
    [
        ("200 result=1", 200, "1", None, None, ""),
        ("200 result=0", 200, "0", None, None, ""),
        ("200 result=-1", 200, "-1", None, None, ""),
        ("200 result=1 (42)", 200, "1", "42", None, ""),
        ("200 result=1 ()", 200, "1", "", None, ""),
        ("200 result=1 (Sarah (VIP) Cohen)", 200, "1", "Sarah (VIP) Cohen", None, ""),
        ("200 result=1 (a) endpos=5)", 200, "1", "a) endpos=5", None, ""),
        ("200 result=1 (שרה כהן)", 200, "1", "שרה כהן", None, ""),
        ("200 result=49 (timeout)", 200, "49", "timeout", None, ""),
        ("200 result=123 (timeout)", 200, "123", "timeout", None, ""),
        ("200 result= (timeout)", 200, "", "timeout", None, ""),
        ("200 result=", 200, "", None, None, ""),
        ("200 result=1 endpos=1234", 200, "1", None, 1234, ""),
        ("200 result=0 endpos=16000", 200, "0", None, 16000, ""),
        ("200 result=-1 endpos=0", 200, "-1", None, 0, ""),
        ("200 result=1 (timeout) endpos=8000", 200, "1", "timeout", 8000, ""),
        ("200 result=0 Gosub complete", 200, "0", None, None, "Gosub complete"),
        (
            "503 result=-2 Memory allocation failure",
            503,
            "-2",
            None,
            None,
            "Memory allocation failure",
        ),
        ("510 Invalid or unknown command", 510, None, None, None, "Invalid or unknown command"),
        (
            "511 Command Not Permitted on a dead channel or intercept routine",
            511,
            None,
            None,
            None,
            "Command Not Permitted on a dead channel or intercept routine",
        ),
    ],
)
def test_reply_lines_parse_into_code_result_data_and_endpos(
    line: str, code: int, result: str | None, data: str | None, endpos: int | None, text: str
) -> None:
    reply = parse_reply(line)

    assert (reply.code, reply.result, reply.data, reply.endpos, reply.text) == (
        code,
        result,
        data,
        endpos,
        text,
    )
    assert not reply.more_follows


def test_a_520_block_says_more_lines_follow_until_the_end_line() -> None:
    block = [
        "520-Invalid command syntax.  Proper usage follows:",
        "Sets a variable to the current channel.",
        "520 End of proper usage.",
    ]

    first = parse_reply(block[0])

    assert (first.code, first.more_follows) == (520, True)
    assert [is_usage_end(line) for line in block[1:]] == [False, True]


def test_a_520_without_usage_is_a_single_line() -> None:
    reply = parse_reply("520 Invalid command syntax.  Proper usage not available.")

    assert (reply.code, reply.more_follows) == (520, False)


def test_the_hangup_line_is_recognised_and_is_not_a_reply() -> None:
    assert is_hangup("HANGUP")
    assert not is_hangup("200 result=1 (HANGUP)")
    with pytest.raises(AGIProtocolError):
        parse_reply("HANGUP")


@pytest.mark.parametrize(
    "line",
    ["", "OK", "200", "200 foo", "20 result=1", "200 result=1 (unclosed", "200 result=1 endpos=x",
     "٢٠٠ result=1", "200 result=1 endpos=٣"],
)
def test_a_line_that_is_not_a_reply_is_a_protocol_error(line: str) -> None:
    with pytest.raises(AGIProtocolError):
        parse_reply(line)
