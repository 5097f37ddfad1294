"""Strict field types for the desk's frozen dataclasses (commands, results, the actor), and
their JSON form on the bus.

Only what the desk's messages hold is understood: int (never a bool), str, bool, None,
`X | None`, `Literal[...]`, `tuple[X, ...]`, `dict[str, X]`, an aware `datetime` (ISO 8601
on the wire) and another such dataclass. Anything else is a `FieldError` naming the field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from functools import cache
from typing import Any, Literal, Union


class FieldError(ValueError):
    """A value that is not of its field's type (or a message that is not such a value)."""


@cache
def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_fields(instance: Any) -> None:
    """For `__post_init__`: every field holds a value of its declared type."""
    for name, kind in hints(type(instance)).items():
        decode(kind, getattr(instance, name), name, strict_only=True)


def encode(value: Any) -> Any:
    """JSON-able: dataclasses as objects, tuples as lists, datetimes as ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def decode_dataclass(cls: type, raw: Any, path: str = "") -> Any:
    if not isinstance(raw, dict):
        raise FieldError(f"{path or cls.__name__}: expected an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise FieldError(f"{path or cls.__name__}: unknown field {unknown[0]!r}")
    values = {}
    for name, field in fields.items():
        where = f"{path}.{name}" if path else name
        if name not in raw:
            if field.default is dataclasses.MISSING:
                raise FieldError(f"{where}: missing")
            continue
        values[name] = decode(hints(cls)[name], raw[name], where)
    return cls(**values)


def decode(kind: Any, raw: Any, path: str, *, strict_only: bool = False) -> Any:
    """`raw` as a value of `kind`; with `strict_only`, `raw` must already be one."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if raw is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        if len(options) != 1:
            raise FieldError(f"{path}: unsupported type {kind}")
        return decode(options[0], raw, path, strict_only=strict_only)
    if origin is Literal:
        if raw not in args or type(raw) is not type(next(a for a in args if a == raw)):
            raise FieldError(f"{path}: one of {', '.join(map(repr, args))}")
        return raw
    if origin is tuple:
        if not isinstance(raw, tuple if strict_only else tuple | list):
            raise FieldError(f"{path}: expected a list")
        return tuple(decode(args[0], item, f"{path}[{i}]", strict_only=strict_only)
                     for i, item in enumerate(raw))  # fmt: skip
    if origin is dict:
        if not isinstance(raw, dict) or not all(isinstance(key, str) for key in raw):
            raise FieldError(f"{path}: expected an object")
        return {key: decode(args[1], item, f"{path}.{key}", strict_only=strict_only)
                for key, item in raw.items()}  # fmt: skip
    return _scalar(kind, raw, path, strict_only)


def _scalar(kind: Any, raw: Any, path: str, strict_only: bool) -> Any:
    if kind is int:
        if type(raw) is not int:  # a bool, a float or "1" is not an id or an amount
            raise FieldError(f"{path}: expected an integer")
        return raw
    if kind in (str, bool):
        if type(raw) is not kind:
            raise FieldError(f"{path}: expected {'a string' if kind is str else 'true or false'}")
        return raw
    if kind is datetime:
        return _datetime(raw, path, strict_only)
    if dataclasses.is_dataclass(kind):
        if isinstance(raw, kind):
            return raw
        if strict_only:
            raise FieldError(f"{path}: expected {kind.__name__}")
        return decode_dataclass(kind, raw, path)
    raise FieldError(f"{path}: unsupported type {kind}")


def _datetime(raw: Any, path: str, strict_only: bool) -> datetime:
    if isinstance(raw, datetime):
        return raw
    if strict_only or not isinstance(raw, str):
        raise FieldError(f"{path}: expected a date-time")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise FieldError(f"{path}: expected an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise FieldError(f"{path}: expected a UTC offset")
    return parsed
