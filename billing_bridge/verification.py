"""Identity checks a caller can pass on the keypad: a PIN, or a date of birth (pure).

PINs are stored as salted scrypt hashes (`hash_pin`), never in clear; checking compares in
constant time. Digits are never put in an exception message or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import date

_SCHEME = "scrypt"
# scrypt cost: about 15 ms here. A 4-6 digit PIN cannot resist an offline attack whatever the
# cost; the hash keeps PINs out of sight in the database and in backups.
_N, _R, _P = 2**14, 8, 1
MIN_PIN_DIGITS, MAX_PIN_DIGITS = 4, 8


def hash_pin(pin: str) -> str:
    if not (pin.isdigit() and MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS):
        raise ValueError(f"a PIN is {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"{_SCHEME}${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def pin_matches(stored: str | None, digits: str) -> bool:
    if not stored or not digits.isdigit():
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            digits.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
            dklen=len(expected),
        )  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def date_of_birth_matches(stored: date | None, digits: str) -> bool:
    """The caller keys the date as DDMMYYYY, as the prompt asks."""
    if stored is None or len(digits) != 8 or not digits.isdigit():
        return False
    return hmac.compare_digest(stored.strftime("%d%m%Y"), digits)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
