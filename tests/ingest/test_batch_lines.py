"""A batch's lines read while handing the event loop on (`read_lines`' slices) are exactly
the lines read in one go, numbered as sent across the slices, whatever the body holds."""

from __future__ import annotations

import json

from billing_bridge.ingest.records import Business
from pbx.http.billing_batch import SLICE_LINES, read_lines

BUSINESS = Business(1, "IL", "ILS")


def _invoice(n: int) -> str:
    return json.dumps({"type": "invoice", "ref": f"I-{n}", "account": f"A-{n % 7}",
                       "amount": 1000 + n, "issued": "2026-11-01", "due": "2026-11-30",
                       "version": 1})  # fmt: skip


def _body() -> list[str]:
    """Over two slices of lines: good ones, and blank and bad ones on and around the slices'
    edges."""
    lines = [_invoice(n) for n in range(2 * SLICE_LINES + 37)]
    for at in (0, SLICE_LINES - 1, SLICE_LINES, SLICE_LINES + 1, 2 * SLICE_LINES):
        lines[at] = ""
    lines[SLICE_LINES - 2] = "{not json"
    lines[SLICE_LINES + 2] = json.dumps({"type": "invoice", "ref": "I-x"})  # fields missing
    return lines


async def test_lines_read_in_slices_are_the_lines_read_at_once() -> None:
    body = ("\n".join(_body()) + "\n").encode()

    shared = await read_lines(body, BUSINESS)

    assert shared == await read_lines(body, BUSINESS, slice_lines=len(body))  # in one go
    assert len(shared) == 2 * SLICE_LINES + 37 - 5
    numbers = [line.number for line in shared]
    assert SLICE_LINES not in numbers and SLICE_LINES + 1 not in numbers  # blank, counted
    assert numbers[-1] == 2 * SLICE_LINES + 37
    refused = {line.number: line.error["code"] for line in shared if line.error is not None}
    assert refused == {SLICE_LINES - 1: "bad_json", SLICE_LINES + 3: "invalid"}


async def test_a_body_that_is_not_utf8_is_read_alike_line_by_line() -> None:
    lines = _body()
    lines[SLICE_LINES + 5] = '{"type": "invoice", "ref": "\xff"}'
    body = "\n".join(lines).encode("utf-8").replace(b"\xc3\xbf", b"\xff")

    shared = await read_lines(body, BUSINESS)

    assert shared == await read_lines(body, BUSINESS, slice_lines=len(body))  # in one go
    assert shared[-1].number == 2 * SLICE_LINES + 37
    assert any(line.number == SLICE_LINES + 6 and line.error for line in shared)
