"""Recordings for the tests, written the way Asterisk writes them (16-bit PCM WAV), and an
independent look at what a transcode produced (ffmpeg itself, not the code under test)."""

from __future__ import annotations

import array
import math
import random
import re
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

from recordings.media import ffmpeg_path


def speech_like(seconds: float, rate: int = 8000, level: float = 0.3, seed: int = 1) -> array.array:
    """Voiced tones under a syllable-rate envelope, with noise and pauses: compresses like a
    call, not like silence or a pure tone."""
    rng = random.Random(seed)
    samples = array.array("h")
    peak = 32767 * level
    for n in range(int(seconds * rate)):
        t = n / rate
        syllable = max(0.0, math.sin(2 * math.pi * 3.7 * t)) * (0.4 if (t % 2.5) > 2.1 else 1.0)
        voiced = math.sin(2 * math.pi * 140 * t) + 0.5 * math.sin(2 * math.pi * 420 * t)
        value = peak * (syllable * voiced / 1.5 * 0.8 + rng.uniform(-0.05, 0.05))
        samples.append(max(-32768, min(32767, int(value))))
    return samples


def write_wav(
    path: Path, seconds: float, rate: int = 8000, channels: int = 1, level: float = 0.3
) -> Path:
    if level > 0:
        mono = speech_like(seconds, rate, level)
    else:
        mono = array.array("h", bytes(int(seconds * rate) * 2))
    if channels == 2:
        other = speech_like(seconds, rate, level, seed=2) if level > 0 else mono
        frames = array.array("h", (s for pair in zip(mono, other, strict=True) for s in pair))
    else:
        frames = mono
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames.tobytes())
    return path


@dataclass(frozen=True)
class Decoded:
    codec: str
    rate: int
    channels: int
    samples: bytes  # s16le, interleaved

    @property
    def duration_ms(self) -> float:
        return len(self.samples) / 2 / self.channels * 1000 / self.rate


def decode(path: Path) -> Decoded:
    """What any player would get out of the file, by ffmpeg alone."""
    result = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostdin", "-i", str(path), "-f", "s16le", "pipe:1"],
        capture_output=True,
        check=True,
    )
    stream = re.search(
        r"Stream #0:0.*?: Audio: (\w+).*?, (\d+) Hz, (mono|stereo)", result.stderr.decode()
    )
    assert stream, result.stderr.decode()
    channels = 1 if stream.group(3) == "mono" else 2
    return Decoded(stream.group(1), int(stream.group(2)), channels, result.stdout)
