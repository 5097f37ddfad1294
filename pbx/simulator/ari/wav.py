"""Recording files as Asterisk's `wav` format writes them: 8 kHz, mono, 16-bit PCM.

A recording is a list of (seconds, audible) segments: audible time is a 1004 Hz test tone
(what Milliwatt sends), muted time is digital silence, paused time is simply absent.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Sequence

RATE = 8000
SAMPLE_BYTES = 2
TONE_HZ = 1004
_TONE_SECOND = struct.pack(
    f"<{RATE}h",
    *(round(8000 * math.sin(2 * math.pi * TONE_HZ * n / RATE)) for n in range(RATE)),
)


def _frames(seconds: float, audible: bool) -> bytes:
    count = round(seconds * RATE)
    if not audible:
        return bytes(count * SAMPLE_BYTES)
    whole, rest = divmod(count, RATE)
    return _TONE_SECOND * whole + _TONE_SECOND[: rest * SAMPLE_BYTES]


def render(segments: Sequence[tuple[float, bool]], prefix: bytes = b"") -> bytes:
    """A WAV file of `prefix` (raw frames of an earlier file, for ifExists=append) + segments."""
    frames = prefix + b"".join(_frames(seconds, audible) for seconds, audible in segments)
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(SAMPLE_BYTES)
        writer.setframerate(RATE)
        writer.writeframes(frames)
    return out.getvalue()


def frames_of(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data), "rb") as reader:
        return reader.readframes(reader.getnframes())


def duration(data: bytes) -> float:
    with wave.open(io.BytesIO(data), "rb") as reader:
        return reader.getnframes() / reader.getframerate()
