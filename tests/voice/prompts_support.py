"""What the prompt tests share: the prompt names the code can play (found by reading the
code, not by asking it), a WAV header read independently of the builder's own check, and
espeak-ng required (a clear failure, never a skip)."""

from __future__ import annotations

import ast
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("pbx", "billing_bridge", "recordings", "agi_scripts")
# `ledgerline-...` literals that are not sounds, and what each is instead.
NOT_SOUNDS = {
    "ledgerline-call": "the prefix of a call recording's name (recorder.py)",
    "ledgerline-demo": "the demo users' password",
    "ledgerline-recorder": "the recorder snoop's Stasis argument",
    "ledgerline-sandbox": "the sandbox provider's shipped webhook secret",
    "ledgerline-voicemail": "a dialplan context (extensions.conf)",
}
_SOUND = re.compile(r"(?:sound:)?(ledgerline-[a-z0-9_-]+)")
_IN_TEXT = re.compile(r"sound:(ledgerline-[a-z0-9_-]*)")


@dataclass(frozen=True)
class CodePrompts:
    names: dict[str, set[str]]  # sound name -> files that name it
    prefixes: dict[str, set[str]]  # the start of a name built at run time -> files


def code_prompts(roots: tuple[Path, ...] | None = None) -> CodePrompts:
    """Every `sound:ledgerline-...` literal and every bare `ledgerline-...` string (a route's
    default prompt, the recording notice) in the code; f-strings give the prefix they build
    names from (`sound:ledgerline-consent-{scheme}-{slug}`)."""
    names: dict[str, set[str]] = {}
    prefixes: dict[str, set[str]] = {}
    for root in roots or tuple(ROOT / folder for folder in SCANNED):
        for path in sorted(root.rglob("*.py")):
            where = str(path.relative_to(root.parent))
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=where)
            in_fstrings = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.JoinedStr):
                    for index, part in enumerate(node.values):
                        in_fstrings.add(id(part))
                        if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                            continue
                        field_follows = index + 1 < len(node.values)
                        for found in _IN_TEXT.finditer(part.value):
                            built = field_follows and found.end() == len(part.value)
                            into = prefixes if built else names
                            into.setdefault(found.group(1), set()).add(where)
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                    continue
                if id(node) in in_fstrings:
                    continue
                whole = _SOUND.fullmatch(node.value)
                if whole and not whole.group(1).endswith("-"):
                    if node.value.startswith("sound:") or whole.group(1) not in NOT_SOUNDS:
                        names.setdefault(whole.group(1), set()).add(where)
                else:
                    for found in _IN_TEXT.findall(node.value):
                        if found.endswith("-"):
                            continue
                        names.setdefault(found, set()).add(where)
    return CodePrompts(names, prefixes)


@dataclass(frozen=True)
class WavHeader:
    audio_format: int
    channels: int
    rate: int
    bits: int
    data_bytes: int

    @property
    def seconds(self) -> float:
        return self.data_bytes / (self.channels * self.bits // 8) / self.rate


def wav_header(path: Path) -> WavHeader:
    """The RIFF chunks read by hand, so the builder's own check is not what is tested."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", f"{path.name}: not RIFF/WAVE"
    position, fmt, size = 12, None, None
    while position + 8 <= len(data):
        chunk = data[position:position + 4]
        (length,) = struct.unpack("<I", data[position + 4:position + 8])
        if chunk == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[position + 8:position + 24])
        elif chunk == b"data":
            size = length
            assert position + 8 + length <= len(data), f"{path.name}: data chunk cut short"
        position += 8 + length + (length % 2)
    assert fmt is not None and size is not None, f"{path.name}: no fmt or data chunk"
    audio_format, channels, rate, _, _, bits = fmt
    return WavHeader(audio_format, channels, rate, bits, size)


def require_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: the prompt tests need it "
                    "(apt-get install espeak-ng sox; ./dev test installs them)")  # fmt: skip
