"""Transcoding a finished call recording: Asterisk's WAV in, a small mono file out.

Blocking by design (pydub and an ffmpeg child process); the pipeline runs `transcode` in a
thread. pydub reads the WAV and does the sample work (mono, loudness); ffmpeg encodes, fed
raw PCM on its stdin and writing straight into `target_dir`, so no copy of the call is left
in the system temp folder when something fails (pydub's own `export` leaks its temp files on
an encoder error and reads the whole output back into memory).

ffmpeg comes from imageio-ffmpeg (a pip wheel, so no system package is needed), else from
PATH. There is no ffprobe in that wheel and nothing here needs one: pydub parses PCM WAV
itself, and anything else (GSM or G.711 in WAV, a damaged file) is decoded by ffmpeg.

Outputs are byte-for-byte reproducible (bitexact, no metadata): transcoding the same call
again gives the same SHA-256, so a retried upload is recognisably the same object.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

# pydub looks for a binary called `ffmpeg` on PATH while its module is imported (a class
# attribute), before anyone can set the converter, and warns when it is missing. The wheel's
# binary has another name, so that warning is always a false alarm here: silence exactly it,
# for exactly this import, then point pydub at the real binary in `ffmpeg_path`.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Couldn't find ffmpeg or avconv", RuntimeWarning)
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    from pydub import AudioSegment
    from pydub.audio_segment import extract_wav_headers, fix_wav_headers
    from pydub.exceptions import CouldntDecodeError

SPEECH_TARGET_DBFS = -20.0  # average loudness a normalised call is brought to
PEAK_CEILING_DBFS = -1.0  # never amplify a peak past this: no clipping
_BITRATE = re.compile(r"[1-9][0-9]{0,3}k")
WAVE_FORMAT_PCM = 1


class MediaError(Exception):
    """A recording could not be read or encoded; the message names the file."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class NoAudio(MediaError):
    """The recording is well formed and empty: there is nothing to keep."""


@dataclass(frozen=True)
class AudioFormat:
    name: str
    extension: str  # with the dot, as it ends an object key
    content_type: str
    muxer: str  # ffmpeg's -f
    codec: str  # ffmpeg's -c:a
    bitrate: str | None  # default -b:a; None for PCM
    options: tuple[str, ...] = ()


FORMATS: Mapping[str, AudioFormat] = MappingProxyType({
    # Ogg Opus. ".opus" as RFC 7845 recommends for audio-only Ogg Opus: players and tools take
    # ".ogg" to mean Vorbis. The media type stays audio/ogg (same RFC), which browsers play.
    # voip mode favours intelligibility; 24 kbit/s is transparent for 8 and 16 kHz speech.
    "opus": AudioFormat(
        "opus", ".opus", "audio/ogg", "opus", "libopus", "24k", ("-application", "voip")
    ),
    # For players without Opus. 8 kHz input makes MPEG-2.5, which every mp3 decoder plays.
    "mp3": AudioFormat("mp3", ".mp3", "audio/mpeg", "mp3", "libmp3lame", "32k"),
    "wav": AudioFormat("wav", ".wav", "audio/wav", "wav", "pcm_s16le", None),
})  # fmt: skip


def content_type_for(key: str) -> str | None:
    """The media type of a stored recording, from its key's extension."""
    extension = os.path.splitext(key)[1].lower()
    for audio_format in FORMATS.values():
        if audio_format.extension == extension:
            return audio_format.content_type
    return None


@dataclass(frozen=True)
class TranscodedAudio:
    path: Path
    format: AudioFormat
    duration_ms: int
    size: int
    sha256: str  # hex


@functools.cache
def ffmpeg_path() -> str:
    """The ffmpeg binary: imageio-ffmpeg's (or IMAGEIO_FFMPEG_EXE), else `ffmpeg` on PATH."""
    try:
        import imageio_ffmpeg

        binary: str | None = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        binary = shutil.which("ffmpeg")
    if not binary:
        raise MediaError(Path("ffmpeg"), "not found: install imageio-ffmpeg or put it on PATH")
    AudioSegment.converter = binary  # for any other pydub use in this process
    return binary


def transcode(
    source: Path,
    target_dir: Path,
    fmt: str = "opus",
    *,
    normalise: bool = False,
    bitrate: str | None = None,
) -> TranscodedAudio:
    """Encode `source` as mono `fmt` into `target_dir/<source stem><extension>`.

    The output appears under its name only once complete. Raises MediaError for an unreadable
    or corrupt source and for any ffmpeg failure (with ffmpeg's own last word, so a full disk
    shows as such); ValueError for a bad format or bitrate; OSError when `target_dir` cannot
    be written at all; NoAudio (a MediaError) for a recording without a single sample (a
    call hung up as recording started): an encoder would write headers no player opens.
    """
    audio_format = FORMATS.get(fmt)
    if audio_format is None:
        raise ValueError(f"unknown recording format {fmt!r}; known: {', '.join(FORMATS)}")
    if bitrate is not None and not _BITRATE.fullmatch(bitrate):
        raise ValueError(f"bitrate must look like '24k', not {bitrate!r}")
    target = target_dir / f"{source.stem}{audio_format.extension}"
    if target.resolve() == source.resolve():
        raise ValueError(f"transcoding {source} would overwrite it; choose another folder")

    speech = _as_mono_s16(read_audio(source))
    if not speech.raw_data:
        raise NoAudio(source, "the recording holds no audio")
    if normalise:
        speech = normalised(speech)
    _encode(speech, source, target, audio_format, bitrate or audio_format.bitrate)
    size, sha256 = _size_and_sha256(target)
    duration_ms = round(speech.frame_count() * 1000 / speech.frame_rate)
    return TranscodedAudio(target, audio_format, duration_ms, size, sha256)


def read_audio(source: Path) -> AudioSegment:
    """The recording's samples: PCM WAV parsed by pydub, anything else decoded by ffmpeg."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise MediaError(source, f"cannot read: {exc.strerror or exc}") from exc
    if _is_pcm_wav(data):
        try:
            return _parse_pcm_wav(data)
        except (CouldntDecodeError, ValueError, IndexError, struct.error):
            pass  # damaged: ffmpeg reads what it can, or says precisely what is wrong
    # GSM or G.711 in WAV (Asterisk's WAV and wav49), other containers, damaged files.
    return _decode_with_ffmpeg(source, timeout=60 + len(data) / 16_000)


def normalised(speech: AudioSegment) -> AudioSegment:
    """Bring the call to SPEECH_TARGET_DBFS on average without pushing any peak past
    PEAK_CEILING_DBFS. Silence stays silence (its loudness is minus infinity)."""
    if speech.rms == 0:
        return speech
    gain = min(SPEECH_TARGET_DBFS - speech.dBFS, PEAK_CEILING_DBFS - speech.max_dBFS)
    return speech.apply_gain(gain)


def _parse_pcm_wav(data: bytes) -> AudioSegment:
    headers = extract_wav_headers(data)
    if headers and headers[-1].id == b"data":
        start, declared = headers[-1].position + 8, headers[-1].size
        if declared == 0 or start + declared > len(data):
            # Asterisk writes the sizes when it closes the file: a recording cut short by a
            # crash says "0 bytes" (or more than is there). Take the samples that are there.
            repaired = bytearray(data)
            fix_wav_headers(repaired)
            data = bytes(repaired)
    speech = AudioSegment(data=data)
    if speech.frame_rate <= 0 or speech.frame_width <= 0:
        raise ValueError("no sample rate or sample size in the header")
    samples = speech.raw_data
    if len(samples) % speech.frame_width:  # a half-written last sample
        samples = samples[: len(samples) - len(samples) % speech.frame_width]
        speech = AudioSegment(
            samples,
            sample_width=speech.sample_width,
            frame_rate=speech.frame_rate,
            channels=speech.channels,
        )
    return speech


def _is_pcm_wav(data: bytes) -> bool:
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    fmt = next((chunk for chunk in extract_wav_headers(data) if chunk.id == b"fmt "), None)
    if fmt is None or fmt.position + 10 > len(data):
        return False
    return struct.unpack_from("<H", data, fmt.position + 8)[0] == WAVE_FORMAT_PCM


def _decode_with_ffmpeg(source: Path, timeout: float) -> AudioSegment:
    command = [
        ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(source),
        "-vn", "-c:a", "pcm_s16le", "-f", "wav", "pipe:1",
    ]  # fmt: skip
    result = _run(command, source, stdin=None, timeout=timeout)
    wav = bytearray(result.stdout)
    fix_wav_headers(wav)  # a WAV written to a pipe carries no sizes
    try:
        return AudioSegment(data=bytes(wav))
    except (CouldntDecodeError, ValueError, IndexError) as exc:
        raise MediaError(source, f"ffmpeg decoded no audio ({exc})") from exc


def _as_mono_s16(speech: AudioSegment) -> AudioSegment:
    if speech.sample_width != 2:
        speech = speech.set_sample_width(2)
    if speech.channels != 1:
        speech = speech.set_channels(1)  # the average of the channels: both parties audible
    return speech


def _encode(
    speech: AudioSegment, source: Path, target: Path, fmt: AudioFormat, bitrate: str | None
) -> None:
    descriptor, partial_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    os.close(descriptor)
    partial = Path(partial_name)
    command = [
        ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "s16le", "-ar", str(speech.frame_rate), "-ac", "1", "-i", "pipe:0",
        # Reproducible bytes: no encoder tag, no random Ogg serial, no copied metadata.
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
        "-c:a", fmt.codec, *(["-b:a", bitrate] if bitrate else []), *fmt.options,
        "-f", fmt.muxer, str(partial),
    ]  # fmt: skip
    try:
        # Generous: ffmpeg encodes a call hundreds of times faster than real time.
        _run(command, source, stdin=speech.raw_data, timeout=60 + len(speech.raw_data) / 16_000)
        if partial.stat().st_size == 0:
            raise MediaError(source, "ffmpeg wrote an empty file")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _run(
    command: list[str], source: Path, stdin: bytes | None, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout, check=False, **feed)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(source, f"ffmpeg gave no result within {timeout:.0f} s") from exc
    except OSError as exc:
        raise MediaError(source, f"cannot run ffmpeg ({exc.strerror or exc})") from exc
    if result.returncode != 0:
        raise MediaError(
            source, f"ffmpeg failed (exit {result.returncode}): {_last_line(result.stderr)}"
        )
    return result


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "no message")


def _size_and_sha256(path: Path) -> tuple[int, str]:
    with path.open("rb") as stored:
        digest = hashlib.file_digest(stored, "sha256")  # reads in chunks
        return stored.tell(), digest.hexdigest()
