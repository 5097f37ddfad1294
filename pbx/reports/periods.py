"""What a report covers and how its quarter hours roll up (pure: no I/O).

A bucket is a quarter hour of UTC: `bucket = seconds since 1970-01-01 UTC // 900`. Every
time zone in use today is a whole number of quarter hours from UTC (+05:30, +05:45 and
+12:45 included), so a UTC quarter hour is also one quarter hour of the business's clock,
and local hours, days and weeks are whole sets of buckets. When the clocks go back, the
repeated local hour is two intervals (told apart by their UTC offset); when they go forward,
the skipped hour is no interval at all, and that day has 23 hours (25 when they go back).
A zone whose offset is not a whole number of quarter hours (only local mean time before
standard time, as Jerusalem's +02:20:54 before 1918) would have buckets straddling its
local intervals: each bucket then counts in the interval its start falls in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from pbx.db.models import WAIT_BANDS

QUARTER_S = 900
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
MAX_DAYS = 366  # a report covers at most this many days
MAX_QUARTER_DAYS = 62  # by quarter hour, at most this many
MAX_IDS = 100  # ids (or numbers) one filter may list
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ID = re.compile(r"[1-9][0-9]{0,17}")
_DID = re.compile(r"\+[1-9][0-9]{1,14}")
BIGINT_MAX = 2**63 - 1


class Interval(Enum):
    QUARTER = "15m"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


class BadFilter(ValueError):
    """A report filter that is not valid: `field` names the parameter."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem


@dataclass(frozen=True)
class Period:
    """Local days `first` to `last` (both included) in `zone`, and the buckets they are."""

    zone: ZoneInfo
    first: date
    last: date

    @property
    def start(self) -> datetime:
        return local_midnight(self.first, self.zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last + timedelta(days=1), self.zone)

    @property
    def buckets(self) -> tuple[int, int]:
        """The first bucket and the one after the last (a zone off the quarter hour: every
        bucket that starts within the days)."""
        return math.ceil(self.start.timestamp() / QUARTER_S), math.ceil(
            self.end.timestamp() / QUARTER_S
        )


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The day's first moment in UTC (a zone that skips midnight: the first local time)."""
    naive = datetime.combine(day, time(0))
    moment = naive.replace(tzinfo=zone).astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) < naive:  # midnight did not exist
        moment = (naive.replace(tzinfo=zone) + timedelta(hours=1)).astimezone(UTC)
    return moment


def bucket_of(moment: datetime) -> int:
    return int(moment.timestamp()) // QUARTER_S


def bucket_start(bucket: int) -> datetime:
    return datetime.fromtimestamp(bucket * QUARTER_S, UTC)


def interval_of(bucket: int, interval: Interval, zone: ZoneInfo) -> datetime:
    """The start of the interval of the business's clock the bucket belongs to, in UTC
    (an instant: the two local 03:00s of a night the clocks go back are two intervals)."""
    local = bucket_start(bucket).astimezone(zone)
    if interval is Interval.QUARTER:
        return bucket_start(bucket)
    if interval is Interval.HOUR:
        # `local` carries its fold: the second 03:00 of such a night stays the second.
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = local.date()
    if interval is Interval.WEEK:
        day -= timedelta(days=day.weekday())  # Monday
    return local_midnight(day, zone)


def parse_day(text: str, field: str) -> date:
    if not _DAY.fullmatch(text):
        raise BadFilter(field, "must be a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadFilter(field, "is not a day of the calendar") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadFilter(field, f"must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def period(zone: ZoneInfo, first: date, last: date, interval: Interval) -> Period:
    if last < first:
        raise BadFilter("to", "must not be before from")
    days = (last - first).days + 1
    most = MAX_QUARTER_DAYS if interval is Interval.QUARTER else MAX_DAYS
    if days > most:
        raise BadFilter("to", f"at most {most} days by {interval.value}")
    return Period(zone, first, last)


def parse_ids(text: str, field: str) -> tuple[int, ...]:
    """A comma-separated list of ids (positive, within BIGINT), at most MAX_IDS."""
    parts = text.split(",")
    if len(parts) > MAX_IDS:
        raise BadFilter(field, f"at most {MAX_IDS} ids")
    ids = []
    for part in parts:
        if not _ID.fullmatch(part) or int(part) > BIGINT_MAX:
            raise BadFilter(field, "must be ids (positive integers) separated by commas")
        ids.append(int(part))
    return tuple(sorted(set(ids)))


def parse_numbers(text: str, field: str) -> tuple[str, ...]:
    """A comma-separated list of dialled numbers in E.164, at most MAX_IDS."""
    parts = text.split(",")
    if len(parts) > MAX_IDS:
        raise BadFilter(field, f"at most {MAX_IDS} numbers")
    if not all(_DID.fullmatch(part) for part in parts):
        raise BadFilter(field, "must be numbers in E.164 (+ and digits) separated by commas")
    return tuple(sorted(set(parts)))


def parse_band_edge(text: str, field: str) -> int:
    """A wait threshold in seconds: one of the band edges, where the counts are exact."""
    if text not in {str(edge) for edge in WAIT_BANDS}:
        raise BadFilter(field, "must be one of " + ", ".join(map(str, WAIT_BANDS)))
    return int(text)


def within(counts: Sequence[int], seconds: int) -> int:
    """How many of a band histogram's waits were at most `seconds` (a band edge)."""
    return sum(counts[: WAIT_BANDS.index(seconds) + 1])


def percentile_bound(counts: Sequence[int], share: float, longest: int) -> int | None:
    """An upper bound of the waits' `share` percentile (nearest rank): the upper edge of the
    band it falls in, or the longest wait when that is lower (or the wait is past the last
    edge). Exact to the band: the percentile is above the band's lower edge."""
    total = sum(counts)
    if total == 0:
        return None
    rank = math.ceil(share * total)
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return min(WAIT_BANDS[index], longest) if index < len(WAIT_BANDS) else longest
    return longest  # not reached: the counts add up to total
