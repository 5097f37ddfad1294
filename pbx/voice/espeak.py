"""Speech from text with Debian's espeak-ng, as the 8 kHz mono 16-bit PCM WAV that Asterisk
plays without transcoding (its `slin` format, file extension `.wav`).

espeak-ng writes 22,050 Hz; sox (or, without it, the ffmpeg `recordings.media` finds)
resamples to 8 kHz with its low-pass filter and writes a plain 44-byte header (no metadata
chunks). Every result is read back and refused unless it is what Asterisk expects.

Hebrew must be written with vowel points (niqqud): unpointed, espeak-ng 1.51 reads most
words as bare consonants. It also reads some points only in an order and form it knows;
`spoken_text` rewrites the text into that form, and switches voice for a business name in
the other script (which a voice would spell letter by letter).
Text in [[...]] is espeak-ng phonemes (the word prompts use them) and is passed as it is.
"""

from __future__ import annotations

import array
import re
import shutil
import subprocess
import sys
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

RATE = 8000
SAMPLE_WIDTH = 2
WORDS_PER_MINUTE = 150  # espeak-ng's 175 is quick for instructions heard on a phone line
SHORTEST_S = 0.25
QUIETEST_PEAK = 500  # of 32,767: anything quieter is silence, not speech
TIMEOUT_S = 120
VOICES = {"en": "en", "he": "he", "lt": "lt"}  # language -> espeak-ng voice


class SynthesisError(RuntimeError):
    """A prompt could not be turned into a valid sound file."""


@dataclass(frozen=True)
class Synthesiser:
    binary: str
    version: str  # e.g. "eSpeak NG 1.51", kept in the manifest with every file it made

    def voice(self, language: str) -> str:
        return VOICES.get(language, language)


def find_synthesiser() -> Synthesiser:
    """espeak-ng on PATH, with its version; SynthesisError says how to install it."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise SynthesisError("espeak-ng is not installed: apt-get install espeak-ng "
                             "(./dev test installs it)")  # fmt: skip
    answer = subprocess.run([binary, "--version"], capture_output=True, text=True,
                            timeout=TIMEOUT_S, check=False)  # fmt: skip
    match = re.search(r"eSpeak NG[^:]*:\s*(\d[\w.-]*)", answer.stdout)
    if answer.returncode != 0 or match is None:
        raise SynthesisError(f"{binary} --version: {answer.stdout or answer.stderr!r}")
    return Synthesiser(binary, f"eSpeak NG {match.group(1)}")


def synthesise(synthesiser: Synthesiser, language: str, text: str, target: Path) -> None:
    """Speak `text` in `language` into `target` (8 kHz mono 16-bit WAV), replacing it only
    once the new file is complete and checked."""
    raw = target.with_name(f".{target.name}.espeak")
    try:
        _run([synthesiser.binary, "-v", synthesiser.voice(language), "-m", "-b", "1",
              "-s", str(WORDS_PER_MINUTE), "-w", str(raw), "--stdin"],
             stdin=spoken_text(language, text), what=f"espeak-ng ({language})")  # fmt: skip
        convert(raw, target, any_format=False)
    finally:
        raw.unlink(missing_ok=True)


def convert(source: Path, target: Path, *, any_format: bool = True) -> None:
    """An audio file as an 8 kHz mono 16-bit WAV at `target`, replaced only once complete
    and checked. A business's own recording (`any_format`) goes through ffmpeg, which reads
    every format; espeak-ng's WAV through sox where it is installed (a process a few times
    quicker to start, which is most of the time a short word takes)."""
    partial = target.with_name(f".{target.name}.partial")
    sox = None if any_format else shutil.which("sox")
    try:
        if sox is not None:  # -D: no dither, so the same text makes the same file
            _run([sox, "-D", str(source), "-r", str(RATE), "-c", "1", "-b", "16",
                  "-e", "signed-integer", "-t", "wav", str(partial)], what="sox")  # fmt: skip
        else:
            _run([_ffmpeg(), "-nostdin", "-v", "error", "-y", "-i", str(source),
                  "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
                  "-ac", "1", "-ar", str(RATE), "-c:a", "pcm_s16le", "-f", "wav", str(partial)],
                 what=f"ffmpeg ({source.name})")  # fmt: skip
        check_wav(partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _ffmpeg() -> str:
    from recordings.media import MediaError, ffmpeg_path

    try:
        return ffmpeg_path()
    except MediaError as exc:
        raise SynthesisError(str(exc)) from None


def check_wav(path: Path) -> float:
    """The file's length in seconds, if it is 8 kHz mono 16-bit PCM holding speech;
    SynthesisError otherwise."""
    try:
        with wave.open(str(path), "rb") as wav:
            shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getcomptype())
            frames = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise SynthesisError(f"{path.name}: not a WAV file ({exc})") from None
    if shape != (1, SAMPLE_WIDTH, RATE, "NONE"):
        raise SynthesisError(f"{path.name}: channels, bytes a sample, rate, coding {shape}; "
                             f"Asterisk's .wav is (1, 2, {RATE}, 'NONE')")  # fmt: skip
    seconds = len(frames) / SAMPLE_WIDTH / RATE
    if seconds < SHORTEST_S:
        raise SynthesisError(f"{path.name}: {seconds:.2f} s long: no speech")
    samples = array.array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    if max(samples) < QUIETEST_PEAK and -min(samples) < QUIETEST_PEAK:
        raise SynthesisError(f"{path.name}: silent")
    return seconds


def _run(command: list[str], *, what: str, stdin: str | None = None) -> None:
    try:
        answer = subprocess.run(command, input=stdin, capture_output=True, text=True,
                                timeout=TIMEOUT_S, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SynthesisError(f"{what}: {exc}") from None
    if answer.returncode != 0:
        raise SynthesisError(f"{what} failed ({answer.returncode}): {answer.stderr.strip()[:300]}")


# --- the text as espeak-ng reads it --------------------------------------------------------

_PHONEMES = re.compile(r"(\[\[.*?\]\])", re.DOTALL)
_HEBREW_LETTER = re.compile(r"[\u05d0-\u05ea][\u0591-\u05c7]*")
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9&'.\- ]*[A-Za-z0-9]|[A-Za-z]")
_HEBREW_RUN = re.compile("[\u05d0-\u05ea][\u05d0-\u05ea\u0591-\u05c7\u05f3\u05f4'\"\\- ]*"
                         "[\u05d0-\u05ea\u0591-\u05c7]|[\u05d0-\u05ea][\u0591-\u05c7]*")
_FIRST = "\u05bc\u05c1\u05c2"  # dagesh, shin dot, sin dot: espeak-ng reads them only first
_DAGESH_HEARD = "\u05d1\u05db\u05da\u05e4\u05e3"  # b/v, k/kh, p/f: elsewhere it changes nothing
_HOLAM, _QAMATS_QATAN, _PATAH, _QAMATS = "\u05b9", "\u05c7", "\u05b7", "\u05b8"
_SAME_SOUND = {"\u05b1": "\u05b6", "\u05b3": _QAMATS_QATAN}  # hataf segol, hataf qamats


def spoken_text(language: str, text: str) -> str:
    """`text` as SSML for espeak-ng's `-m`: escaped, Hebrew in the form espeak-ng reads, and
    a run in the other script (a business's name) in a voice that reads it: Latin letters in
    the English voice within Hebrew, Hebrew in the Hebrew voice within English or
    Lithuanian (each voice would spell the other's letters one by one)."""
    own = VOICES.get(language, language)
    other, foreign = (VOICES["en"], _LATIN_RUN) if language == "he" else (VOICES["he"], _HEBREW_RUN)
    spans: list[tuple[str, str]] = []  # (voice, text)
    for piece in _PHONEMES.split(unicodedata.normalize("NFC", text)):
        if _PHONEMES.fullmatch(piece):  # espeak-ng phonemes, [[...]]: read as they are
            spans.append((own, piece + " "))  # (a tag right after "]]" is read as text)
            continue
        pointed, last = _HEBREW_LETTER.sub(_espeak_pointing, piece), 0
        for run in foreign.finditer(pointed):
            spans += [(own, pointed[last:run.start()]), (other, run.group())]
            last = run.end()
        spans.append((own, pointed[last:]))
    # Every span in a voice of its own: after a </voice>, espeak-ng 1.51 does not always
    # return to the voice it was started with.
    merged: list[tuple[str, str]] = []
    for voice, words in spans:
        if merged and merged[-1][0] == voice:
            merged[-1] = (voice, merged[-1][1] + words)
        elif words:
            merged.append((voice, words))
    return "<speak>" + "".join(f'<voice name="{voice}">{escape(words)}</voice>'
                               for voice, words in merged) + "</speak>"  # fmt: skip


def _espeak_pointing(match: re.Match[str]) -> str:
    """One letter and its points, as espeak-ng 1.51's Hebrew rules read them."""
    letter, points = match.group()[0], match.group()[1:]
    # Cantillation marks, meteg and rafe are not read; two hataf points read as their vowel.
    points = "".join(_SAME_SOUND.get(p, p) for p in points
                     if not "\u0591" <= p <= "\u05af" and p not in "\u05bd\u05bf")  # fmt: skip
    if letter != "\u05d5":
        points = points.replace(_HOLAM, _QAMATS_QATAN)  # holam on a consonant is not read
    if letter not in _DAGESH_HEARD and letter != "\u05d5":  # (vav's is shuruk: kept)
        points = points.replace("\u05bc", "")
    text, end = match.string, match.end()
    word_final = end >= len(text) or not "\u05d0" <= text[end] <= "\u05ea"
    if letter == "\u05d7" and _PATAH in points and not word_final:
        points = points.replace(_PATAH, _QAMATS)  # it reads a patah under het as furtive
    first = "".join(p for p in points if p in _FIRST)
    return letter + first + "".join(p for p in points if p not in _FIRST)
