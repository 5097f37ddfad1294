"""Shortcuts of record reading for the common case (plain ASCII) answer exactly as the full
screens of `pbx.free_text` do, for plain text and for text those screens change."""

from __future__ import annotations

import random
import string

from billing_bridge.ingest import records
from pbx.free_text import clean_name


def names() -> list[str]:
    rng = random.Random(15)
    alphabet = string.ascii_letters + string.digits + string.punctuation + "     "
    plain = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
             for _ in range(3000)]  # fmt: skip
    odd = ["  Dana   Levi ", "Dana\tLevi", "Dana\nLevi", "Dana\u200bLevi", "Dana\u202eLevi",
           "Dana\x00Levi", "Dana\u00a0Levi", "Cafe\u0301", "דנה  לוי", "Dana\x7fLevi", "\t",
           "Dana\r\nLevi", " ", ""]  # fmt: skip
    return plain + odd


def test_a_name_is_screened_as_clean_name_screens_it() -> None:
    for name in names():
        assert records._screened_name(name) == clean_name(name), repr(name)
