from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from recordings.keys import object_key

STARTED = datetime(2026, 3, 9, 14, 5, tzinfo=UTC)


def test_a_key_is_tenant_then_utc_day_then_call() -> None:
    assert object_key("acme", STARTED, 42, ".opus") == "acme/2026/03/09/42.opus"


def test_the_extension_may_come_with_or_without_its_dot() -> None:
    assert object_key("acme", STARTED, 42, "mp3") == object_key("acme", STARTED, 42, ".mp3")


def test_the_day_is_the_utc_day_not_the_callers() -> None:
    jerusalem = timezone(timedelta(hours=2))
    just_after_midnight = datetime(2026, 1, 1, 0, 30, tzinfo=jerusalem)

    assert object_key("acme", just_after_midnight, 7, "opus") == "acme/2025/12/31/7.opus"


def test_an_asterisk_uniqueid_is_a_call_id() -> None:
    assert object_key("acme", STARTED, "1795352775.12", "wav") == (
        "acme/2026/03/09/1795352775.12.wav"
    )


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        object_key("acme", datetime(2026, 3, 9, 14, 5), 42, "opus")


@pytest.mark.parametrize(
    "tenant", ["", "..", ".", "a/b", "/acme", "acme/", ".hidden", "ac me", "acme\n", "x" * 65]
)
def test_a_tenant_slug_that_could_bend_the_key_is_refused(tenant: str) -> None:
    with pytest.raises(ValueError, match="tenant"):
        object_key(tenant, STARTED, 42, "opus")


@pytest.mark.parametrize("call_id", ["", "..", "../x", "a/b", "1..2", ".5", "5.", "a\n", -1, True])
def test_a_call_id_that_could_bend_the_key_is_refused(call_id: object) -> None:
    with pytest.raises(ValueError, match="call id"):
        object_key("acme", STARTED, call_id, "opus")  # type: ignore[arg-type]


@pytest.mark.parametrize("extension", ["", ".", "..", "op/us", "opus\n", ".OPUS", "a.b"])
def test_an_extension_that_is_not_one_is_refused(extension: str) -> None:
    with pytest.raises(ValueError, match="extension"):
        object_key("acme", STARTED, 42, extension)
