"""Desk event payloads to and from the JSON object the desk receives: a small typed codec.

Decoding is strict, as for anything read off a wire: an unknown kind, a missing or unknown
field, or a value of the wrong type is a `DeskCodecError`, never a half-read event. Strict
integers (`true` is not an id), strings, booleans, `None` where the type says so, and a JSON
object for a `Mapping`. Encoding checks the same, so a payload built with a wrong type fails
where it is built, not in a browser. Errors name the field, never its value: a value could
be a caller's details.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from functools import cache
from typing import Any, get_origin, get_type_hints

from pbx.events.payloads import KINDS, DeskPayload
from pbx.type_hints import without_none


class DeskCodecError(ValueError):
    """A desk event that cannot be read or written."""


class UnknownKind(DeskCodecError):
    pass


class MalformedDeskEvent(DeskCodecError):
    pass


Check = Callable[[Any, str], Any]  # a value and where it is -> the value, or raises
# name, required, omitted if None, its scalar type (a value of exactly it passes as it is;
# JSON's and a payload's values mostly are), check
Field = tuple[str, bool, bool, type | None, Check]


def decode_payload(kind: str, data: Any) -> DeskPayload:
    """The JSON object `data` of a `kind` event as its typed payload."""
    return decode(kind, data)[0]


def decode(kind: str, data: Any) -> tuple[DeskPayload, dict[str, Any]]:
    """The payload of `data`, and the JSON object `encode_payload` would give for it (read
    in the same pass: every event read off the bus is both)."""
    classes = KINDS.get(kind)
    if classes is None:
        raise UnknownKind(f"unknown desk event kind {kind[:40]!r}")
    if not isinstance(data, Mapping):
        raise MalformedDeskEvent(f"{kind}: data is not an object")
    first: MalformedDeskEvent | None = None
    for cls in classes:  # a kind sent in more than one shape: the first that fits
        try:
            values, sent = _values(cls, data, kind)
            return cls(**values), sent
        except MalformedDeskEvent as exc:
            first = first or exc
    assert first is not None
    raise first


def encode_payload(payload: DeskPayload) -> dict[str, Any]:
    """`payload` as the JSON object the desk receives (its fields, in order)."""
    cls, kind = type(payload), payload.kind
    if KINDS.get(kind) is None or cls not in KINDS[kind]:
        raise UnknownKind(f"{cls.__name__} is not a desk event payload")
    data: dict[str, Any] = {}
    for name, _, omitted_if_none, scalar, check in _plan(cls):
        value = getattr(payload, name)
        if value is None:
            if not omitted_if_none:
                data[name] = check(value, kind)
            continue
        data[name] = value if type(value) is scalar else check(value, kind)
    return data


def _values(
    cls: type[DeskPayload], data: Mapping[str, Any], kind: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    plan, names = _plan(cls), _names(cls)
    if not names.issuperset(data.keys()):
        unknown = min(str(key) for key in data.keys() - names)  # a dict's keys may be any
        raise MalformedDeskEvent(f"{kind}: unknown field {unknown[:40]!r}")
    values: dict[str, Any] = {}
    sent: dict[str, Any] = {}
    for name, required, omitted_if_none, scalar, check in plan:
        if name in data:
            value = data[name]
            if type(value) is not scalar:
                value = check(value, kind)
            values[name] = value
            if value is not None or not omitted_if_none:
                sent[name] = value
        elif required:
            raise MalformedDeskEvent(f"{kind}.{name}: missing")
    return values, sent


@cache
def _names(cls: type[DeskPayload]) -> frozenset[str]:
    return frozenset(spec.name for spec in fields(cls))


@cache
def _plan(cls: type[DeskPayload]) -> tuple[Field, ...]:
    """Each field of `cls` with its check, worked out once per class: a few events a call
    are encoded where the call flow runs, and decoded in every process with desks."""
    hints = get_type_hints(cls)
    return tuple(
        (spec.name, spec.default is MISSING and spec.default_factory is MISSING,
         bool(spec.metadata.get("omitted_if_none")), _scalar(hints[spec.name]),
         _check(spec.name, hints[spec.name]))
        for spec in fields(cls)
    )  # fmt: skip


def _scalar(hint: Any) -> type | None:
    inner, _ = without_none(hint)
    return inner if inner in _SCALARS else None


def _check(name: str, hint: Any) -> Check:
    hint, nullable = without_none(hint)
    if get_origin(hint) is Mapping:
        accepts, expected = (lambda value: isinstance(value, Mapping)), "an object"
    else:
        accepts, expected = _SCALARS[hint], hint.__name__

    def check(value: Any, kind: str) -> Any:
        if value is None and nullable:
            return None
        if accepts(value):
            # A str enum (a payment's status) is sent as its plain value.
            return str(value) if hint is str and type(value) is not str else value
        raise MalformedDeskEvent(f"{kind}.{name}: expected {expected}")

    return check


_SCALARS: dict[type, Callable[[Any], bool]] = {
    str: lambda value: isinstance(value, str),
    bool: lambda value: isinstance(value, bool),
    int: lambda value: isinstance(value, int) and not isinstance(value, bool),
}
