"""The batch format of `POST /api/v1/billing/batch` (a codec, no I/O): NDJSON, one record a
line, `{"type": "customer" | "account" | "invoice" | "external_payment" | "adjustment",
...fields}`; and its answer, one result a line in the order sent.

Each line is held to the rules of any request body (JSON, at most 32 levels deep, no NUL)
and read by its type's reader; a line that fails is that line's error, never the batch's.
Blank lines are skipped (their numbers still count).
"""

from __future__ import annotations

import asyncio
import json
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from billing_bridge.ingest.outcomes import IngestRefused, Result
from billing_bridge.ingest.records import READERS, Business, Record, RecordInvalid
from pbx.http.api import ApiError, dumps, parse_json
from pbx.http.idempotency import JsonText

MAX_LINES = 10_000
MAX_BYTES = 16 * 1024 * 1024
CONTENT_TYPE = "application/x-ndjson"
_NUL_TEXT = "\\u0000"  # how JSON writes a NUL: it cannot be in the text as it is
_NUL = _NUL_TEXT.encode()


class Line(NamedTuple):
    """One line as read (a named tuple: a batch makes one per line)."""

    number: int  # 1-based, as an editor counts
    type: str | None
    ref: str | None
    record: Record | None = None
    error: dict[str, Any] | None = None  # {"code", "message", "field"}


# Lines read between hand-overs of the event loop: about 0.6 ms of invoices, the longest the
# batch whose turn it is to write waits behind another batch's reading after each statement.
# The full billing sync took 43-46 s at 500 lines a slice (3 ms), 41-42 s at 50 and 43-45 s
# at 100: two to six runs each, differences within this machine's spread.
SLICE_LINES = 100


async def read_lines(
    body: bytes, business: Business, *, slice_lines: int = SLICE_LINES
) -> list[Line]:
    """Each non-blank line, read into its record or its error, numbered as sent. The body is
    decoded once (a body that is not UTF-8 is read line by line, so only its bad lines are
    refused). The event loop is handed on after every `slice_lines` lines: reading a batch
    of 5,000 invoices takes some 30 ms of CPU, and done in one go it held up every other
    request of the process as long, among them the batch whose turn it is to write
    (`billing_bridge.ingest.turns`), whose database then waited."""
    split = _split(body)
    lines: list[Line] = []
    for start in range(0, len(split), slice_lines):
        if start:
            await asyncio.sleep(0)
        lines += _read(split, start, start + slice_lines, business)
    return lines


def _split(body: bytes) -> list[str] | list[bytes]:
    try:
        return body.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return body.split(b"\n")


def _read(split: list[str] | list[bytes], start: int, stop: int, business: Business) -> list[Line]:
    return [_line(number, raw, business)
            for number, raw in enumerate(split[start:stop], start=start + 1)
            if raw.strip()]  # fmt: skip


def line_count(body: bytes) -> int:
    return body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)


def _line(number: int, raw: str | bytes, business: Business) -> Line:
    try:
        if isinstance(raw, str):
            data = parse_json(raw.encode()) if _NUL_TEXT in raw else _flat_json(raw)
        else:
            data = parse_json(raw) if _NUL in raw else _flat_json(raw)
    except ApiError as exc:
        field = exc.details[0]["field"] if exc.details else None
        return Line(number, None, None, error=_error(exc.code, exc.message, field))
    if not isinstance(data, dict):
        return Line(number, None, None, error=_error("invalid", "a line must be a JSON object"))
    kind, ref = data.get("type"), data.get("ref", data.get("reference"))
    kind = kind if isinstance(kind, str) and kind in READERS else None
    ref = ref[:64] if isinstance(ref, str) else None
    if kind is None:
        message = "type must be one of " + ", ".join(READERS)
        return Line(number, None, ref, error=_error("invalid", message, "type"))
    try:
        record = READERS[kind](data, business)
    except RecordInvalid as exc:
        return Line(number, kind, ref, error=_error("invalid", exc.problem, exc.field))
    return Line(number, kind, ref, record)


def _flat_json(raw: str | bytes) -> Any:
    """A line that holds no NUL (JSON can only write one as an escape): the records' readers
    take no value nested deeper than a list of strings, so the request layer's walk of
    every value (`parse_json`) would find nothing more. What is not JSON is refused alike."""
    try:
        if isinstance(raw, str):
            return _object(raw) if raw[0] == "{" else _DECODER.decode(raw)
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise ApiError(400, "bad_json", "the line nests too deeply") from None
    except ValueError:
        raise ApiError(400, "bad_json", "the line is not valid JSON") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# json.loads with an option builds a decoder per call; a batch's lines share this one.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_SCAN = _DECODER.scan_once
_TRAILING_SPACE = frozenset(" \t\n\r")


def _object(raw: str) -> Any:
    """What `_DECODER.decode` reads from a line that starts with its object: its scanner
    called at once, without the two Python calls and the regex around it (a tenth of the
    time of reading an invoice line). Only JSON's white space may follow, as there."""
    try:
        value, end = _SCAN(raw, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(raw) and not _TRAILING_SPACE.issuperset(raw[end:]):
        raise ValueError("extra data")
    return value


def answer(lines: list[Line], results: list[Result]) -> JsonText:
    """One result per line sent (`results` are the records' own, in order), and the counts,
    written as JSON in one pass: building a dict a line for `json.dumps` to walk again took
    twice the CPU."""
    applied = iter(results)
    out: list[str] = []
    counts: dict[str, int] = {}
    for line in lines:
        head = f'{{"line":{line.number},"type":{_string(line.type)},"ref":{_string(line.ref)}'
        error = line.error
        if error is None:
            result = next(applied)
            if result.refused is None:
                assert result.outcome is not None
                outcome = str(result.outcome)  # its value, without Enum's slow `.value`
                counts[outcome] = counts.get(outcome, 0) + 1
                out.append(f'{head},"outcome":"{outcome}"}}')
                continue
            error = refusal(result.refused)
        counts["failed"] = counts.get("failed", 0) + 1
        out.append(f'{head},"error":{dumps(error)}}}')
    return JsonText(f'{{"results":[{",".join(out)}],"counts":{dumps(counts)}}}')


def _string(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def refusal(refused: IngestRefused) -> dict[str, Any]:
    return _error(refused.code, refused.message, refused.field)


def _error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field}
