"""The process-AGI caller lookup's protocol side, served on in-memory streams with a fake
identification service (the agi-bin script's wiring is run for real in
test_caller_lookup_process.py)."""

from __future__ import annotations

import io

from agi_scripts.caller_lookup import serve
from billing_bridge.identification.model import (
    AccountSummary,
    CustomerProfile,
    Identification,
    Match,
)
from pbx.settings import SettingsError

SARA = Identification(
    Match.UNIQUE, "+972502345678", 1,
    CustomerProfile(7, "C-7", 'שרה "השרה" כהן\\', None,
                    (AccountSummary(70, "A-70", "ILS", 45050, "active", False),), "ILS"),
)  # fmt: skip


class FakeIdentification:
    """Answers every lookup with one result (or one failure) and keeps what it was asked."""

    def __init__(self, result: Identification | Exception) -> None:
        self.result = result
        self.asked: list[tuple[str, str, str]] = []

    async def identify(self, caller_id: str, dialed: str, presentation: str) -> Identification:
        self.asked.append((caller_id, dialed, presentation))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


OK = "200 result=1"
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"  # Asterisk's words


def _call(
    service: FakeIdentification, *args: str, replies: tuple[str, ...] = (OK,) * 20
) -> tuple[int, list[str]]:
    env = ["agi_request: caller_lookup.py", "agi_channel: PJSIP/pstn-trunk-00000001",
           "agi_callerid: 050-234-5678", "agi_callingpres: 0", "agi_dnid: unknown",
           "agi_extension: s"]  # fmt: skip
    env += [f"agi_arg_{n}: {arg}" for n, arg in enumerate(args, 1)]
    stdin = io.StringIO("".join(f"{line}\n" for line in (*env, "", *replies)))
    stdout = io.StringIO()
    code = serve(service.identify, stdin, stdout)
    return code, stdout.getvalue().splitlines()


def test_the_caller_is_looked_up_for_the_did_in_the_first_argument() -> None:
    service = FakeIdentification(SARA)

    _call(service, "+97235550100")

    assert service.asked == [("050-234-5678", "+97235550100", "0")]


def test_the_identity_is_set_as_ll_variables_quoted_for_asterisk() -> None:
    code, commands = _call(FakeIdentification(SARA), "+97235550100")

    assert code == 0
    assert commands[0] == 'SET VARIABLE "LL_MATCH" "unique"'
    assert 'SET VARIABLE "LL_CUSTOMER_NAME" "שרה \\"השרה\\" כהן\\\\"' in commands
    assert 'SET VARIABLE "LL_BALANCE_MINOR" "45050"' in commands


def test_a_configuration_error_leaves_the_call_going_with_an_error_flag() -> None:
    code, commands = _call(FakeIdentification(SettingsError("database.url", "missing")))

    assert code == 0
    assert commands == ['SET VARIABLE "LL_MATCH" "none"', 'SET VARIABLE "LL_ERROR" "configuration"']


def test_a_lookup_that_fails_leaves_the_call_going_with_an_error_flag() -> None:
    code, commands = _call(FakeIdentification(ConnectionRefusedError("no database")))

    assert code == 0
    assert commands == ['SET VARIABLE "LL_MATCH" "none"', 'SET VARIABLE "LL_ERROR" "lookup-failed"']


def test_a_caller_who_hangs_up_while_the_variables_are_set_ends_the_script_quietly() -> None:
    code, commands = _call(FakeIdentification(SARA), "+97235550100", replies=(OK, DEAD))

    assert code == 0
    assert commands == ['SET VARIABLE "LL_MATCH" "unique"', 'SET VARIABLE "LL_CUSTOMER_ID" "7"']
