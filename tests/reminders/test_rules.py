"""The pure rules: the step an account has reached, quiet hours on the wall clock across
both DST changes (Vilnius, Jerusalem), the customer's zone from their number, templates
refused and filled."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from billing_bridge.collections.errors import Invalid
from billing_bridge.reminders import rules

VILNIUS = ZoneInfo("Europe/Vilnius")
STEPS = (rules.Step(1, "email"), rules.Step(5, "sms"), rules.Step(10, "worklist"))


@pytest.mark.parametrize(("days", "day"), [(0, None), (1, 1), (4, 1), (5, 5), (9, 5),
                                           (10, 10), (400, 10)])  # fmt: skip
def test_an_account_is_at_the_last_step_it_has_reached(days: int, day: int | None) -> None:
    step = rules.step_for(days, STEPS)
    assert (step.day if step else None) == day


JERUSALEM = ZoneInfo("Asia/Jerusalem")  # +03:00 from Friday 26 March 2027 to 31 October


@pytest.mark.parametrize(("zone", "moment", "quiet"), [
    (VILNIUS, datetime(2027, 3, 27, 5, 59, tzinfo=UTC), True),   # 07:59 EET
    (VILNIUS, datetime(2027, 3, 27, 6, 0, tzinfo=UTC), False),   # 08:00 EET
    (VILNIUS, datetime(2027, 3, 28, 5, 0, tzinfo=UTC), False),   # 08:00 EEST, clocks go on
    (VILNIUS, datetime(2027, 3, 28, 17, 59, tzinfo=UTC), False),  # 20:59 EEST
    (VILNIUS, datetime(2027, 3, 28, 18, 0, tzinfo=UTC), True),   # 21:00 EEST
    (VILNIUS, datetime(2027, 10, 31, 5, 30, tzinfo=UTC), True),  # 07:30 EET, back at 01:00 UTC
    (VILNIUS, datetime(2027, 10, 31, 6, 0, tzinfo=UTC), False),  # 08:00 EET
    (VILNIUS, datetime(2027, 10, 31, 19, 0, tzinfo=UTC), True),  # 21:00 EET, clocks went back
    (VILNIUS, datetime(2027, 10, 31, 18, 59, tzinfo=UTC), False),
    (JERUSALEM, datetime(2027, 3, 25, 5, 59, tzinfo=UTC), True),   # 07:59 IST
    (JERUSALEM, datetime(2027, 3, 25, 6, 0, tzinfo=UTC), False),   # 08:00 IST
    (JERUSALEM, datetime(2027, 3, 26, 4, 59, tzinfo=UTC), True),   # 07:59 IDT, clocks go on
    (JERUSALEM, datetime(2027, 3, 26, 5, 0, tzinfo=UTC), False),   # 08:00 IDT
    (JERUSALEM, datetime(2027, 3, 26, 18, 0, tzinfo=UTC), True),   # 21:00 IDT
    (JERUSALEM, datetime(2027, 10, 31, 5, 0, tzinfo=UTC), True),   # 07:00 IST, back 23:00 UTC
    (JERUSALEM, datetime(2027, 10, 31, 6, 0, tzinfo=UTC), False),  # 08:00 IST
    (JERUSALEM, datetime(2027, 10, 31, 18, 59, tzinfo=UTC), False),  # 20:59 IST
    (JERUSALEM, datetime(2027, 10, 31, 19, 0, tzinfo=UTC), True),  # 21:00 IST
], ids=["vilnius-before-8-winter", "vilnius-8-winter", "vilnius-8-summer",
        "vilnius-before-21-summer", "vilnius-21-summer", "vilnius-before-8-autumn",
        "vilnius-8-autumn", "vilnius-21-autumn", "vilnius-before-21-autumn",
        "jerusalem-before-8-winter", "jerusalem-8-winter", "jerusalem-before-8-spring",
        "jerusalem-8-spring", "jerusalem-21-spring", "jerusalem-before-8-autumn",
        "jerusalem-8-autumn", "jerusalem-before-21-autumn", "jerusalem-21-autumn"])  # fmt: skip
def test_quiet_hours_are_on_the_wall_clock_across_dst(
    zone: ZoneInfo, moment: datetime, quiet: bool
) -> None:
    local = moment.astimezone(zone).time()
    assert rules.is_quiet(moment, zone, "21:00", "08:00") is quiet, local


def test_a_holiday_is_the_customers_local_date_across_the_autumn_change() -> None:
    """23:30 UTC on 30 October is already 31 October in Vilnius (02:30, still summer time)
    and in Jerusalem (01:30, winter time since 23:00 UTC): a holiday on the 31st holds on
    both clocks, not on UTC's."""
    schedule = rules.Schedule(steps=(), holidays=frozenset({date(2027, 10, 31)}),
                              quiet_from="23:59", quiet_until="00:00")  # fmt: skip
    moment = datetime(2027, 10, 30, 23, 30, tzinfo=UTC)
    assert not rules.may_send(moment, VILNIUS, schedule)
    assert not rules.may_send(moment, JERUSALEM, schedule)
    assert rules.may_send(moment, ZoneInfo("UTC"), schedule)


def test_quiet_hours_within_one_day_are_read_too() -> None:
    noon = datetime(2027, 1, 5, 10, 30, tzinfo=UTC)  # 12:30 in Vilnius
    assert rules.is_quiet(noon, VILNIUS, "12:00", "13:00")
    assert not rules.is_quiet(noon, VILNIUS, "13:00", "14:00")


def test_the_customers_zone_is_their_numbers_when_it_tells_one() -> None:
    business = ZoneInfo("Europe/London")
    assert rules.customer_zone("+12125550100", business) == ZoneInfo("America/New_York")
    assert rules.customer_zone("+447700900123", business) == business  # no single zone
    assert rules.customer_zone(None, business) == business
    assert rules.customer_zone("not a number", business) == business


def test_a_template_is_filled_with_only_its_placeholders() -> None:
    template = rules.Template("{business}", "{amount} {days} {pay_link} {opt_out_link} {{x}}")
    filled = rules.render(template, {"business": "Ofek {pay_link}", "amount": "1.00 EUR",
                                     "days": "3", "pay_link": "P", "opt_out_link": "O"})
    assert filled == rules.Template("Ofek {pay_link}", "1.00 EUR 3 P O {x}")


@pytest.mark.parametrize("body", ["{pay_link}", "{pay_link} {opt_out_link} {0}",
                                  "{pay_link} {opt_out_link:>10}", "{pay_link} {opt_out_link} }"])
def test_a_template_lacking_a_link_or_using_format_tricks_is_refused(body: str) -> None:
    with pytest.raises(Invalid):
        rules.check_template(rules.Template("", body), "sms", "t")


def test_an_admins_template_may_have_line_breaks_but_no_hidden_characters() -> None:
    body = "Hello,\n\npay {pay_link}\n\nstop: {opt_out_link}"
    rules.check_template(rules.Template("Overdue", body), "email", "t")
    with pytest.raises(Invalid):
        rules.check_template(rules.Template("Overdue", "\u200b" + body), "email", "t")


def test_every_built_in_template_carries_both_links_and_passes_its_own_check() -> None:
    for language, by_channel in rules.DEFAULT_TEMPLATES.items():
        for channel, (subject, body) in by_channel.items():
            rules.check_template(rules.Template(subject, body), channel, language)
    assert set(rules.DEFAULT_TEMPLATES) == set(rules.LANGUAGES)
