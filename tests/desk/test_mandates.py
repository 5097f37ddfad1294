"""Direct-debit mandates in a call, from the desk: by phone or by the provider's link."""

from __future__ import annotations

import pytest

from pbx.desk.commands import SendMandateLink, SetUpMandateByPhone
from pbx.desk.errors import Conflict, Invalid, NotVerified, Unavailable
from pbx.desk.results import MandateStarted
from tests.desk.fakes import a_call, dana, desk_with


async def test_a_mandate_by_phone_uses_the_scheme_of_the_businesss_country() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    started = await desk.run(SetUpMandateByPhone("c-1", 70), dana)

    assert started == MandateStarted("masav")
    assert [what for what, _ in live.done] == ["mandate_capture"]


async def test_a_mandate_by_phone_in_a_country_without_a_scheme_is_invalid() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    with pytest.raises(Invalid) as refused:
        await desk.run(SetUpMandateByPhone("c-1", 70, country="fr"), dana)

    assert "FR" in refused.value.message and live.done == []


async def test_an_unverified_caller_gets_no_mandate() -> None:
    desk, live, money = desk_with(a_call("c-1"), needs_verification=True)

    with pytest.raises(NotVerified):
        await desk.run(SetUpMandateByPhone("c-1", 70), dana)
    with pytest.raises(NotVerified):
        await desk.run(SendMandateLink("c-1", 70), dana)
    assert live.done == [] and money.mandate_links == []


async def test_a_mandate_without_a_provider_is_unavailable() -> None:
    desk, _, _ = desk_with(a_call("c-1"), takes_payments=False)

    with pytest.raises(Unavailable) as refused:
        await desk.run(SendMandateLink("c-1", 70), dana)

    assert refused.value.code == "payments_unavailable"


async def test_a_mandate_link_defaults_to_the_regions_scheme_and_the_number_calling() -> None:
    desk, _, money = desk_with(a_call("c-1"), region="GB")

    sent = await desk.run(SendMandateLink("c-1", 70), dana)

    assert [(o.scheme, o.recipient) for o in money.mandate_links] == [("bacs", "+972502345678")]
    assert sent.to == "+9725•••5678"  # type: ignore[union-attr]


async def test_a_mandate_link_by_email_with_no_address_on_file_is_a_conflict() -> None:
    desk, _, money = desk_with(a_call("c-1"))

    with pytest.raises(Conflict):
        await desk.run(SendMandateLink("c-1", 70, channel="email"), dana)
    assert money.mandate_links == []
