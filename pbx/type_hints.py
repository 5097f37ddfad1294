"""What the small typed codecs (ARI events, desk events) read of a field's type hint."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin


def without_none(hint: Any) -> tuple[Any, bool]:
    """The type inside `X | None` and True, else `hint` itself and False: a codec handles
    None apart from the field's type."""
    if get_origin(hint) in (Union, types.UnionType):
        (inner,) = (arg for arg in get_args(hint) if arg is not type(None))
        return inner, True
    return hint, False
