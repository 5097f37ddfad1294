from __future__ import annotations

import array
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recordings.media import FORMATS, MediaError, NoAudio, ffmpeg_path, transcode
from tests.recordings.audio import decode, write_wav

TOLERANCE_MS = 60


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("fmt", ["opus", "mp3", "wav"])
def test_each_format_decodes_back_to_mono_audio_of_the_same_length(
    tmp_path: Path, outbox: Path, fmt: str
) -> None:
    call = write_wav(tmp_path / "1795352775.12.wav", seconds=3.0)

    result = transcode(call, outbox, fmt)

    assert result.path == outbox / f"1795352775.12{FORMATS[fmt].extension}"
    assert result.format is FORMATS[fmt]
    assert abs(result.duration_ms - 3000) <= TOLERANCE_MS
    decoded = decode(result.path)
    assert decoded.codec == {"opus": "opus", "mp3": "mp3", "wav": "pcm_s16le"}[fmt]
    assert decoded.channels == 1
    assert abs(decoded.duration_ms - 3000) <= TOLERANCE_MS
    assert max(array.array("h", decoded.samples)) > 1000  # sound, not silence


def test_reported_size_and_sha256_are_those_of_the_written_file(
    tmp_path: Path, outbox: Path
) -> None:
    result = transcode(write_wav(tmp_path / "call.wav", seconds=2.0), outbox)

    written = result.path.read_bytes()
    assert result.size == len(written)
    assert result.sha256 == hashlib.sha256(written).hexdigest()


def test_opus_is_ogg_opus_at_a_speech_bitrate(tmp_path: Path, outbox: Path) -> None:
    result = transcode(write_wav(tmp_path / "call.wav", seconds=4.0), outbox, "opus")

    assert result.path.read_bytes()[:4] == b"OggS"
    assert result.format.content_type == "audio/ogg"
    kbit_per_second = result.size * 8 / 4.0 / 1000
    assert kbit_per_second < 40  # 24 kbit/s and the container's overhead


def test_the_same_recording_transcodes_to_the_same_bytes(tmp_path: Path) -> None:
    call = write_wav(tmp_path / "call.wav", seconds=1.0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    first = transcode(call, tmp_path / "a", "opus")
    second = transcode(call, tmp_path / "b", "opus")

    assert first.sha256 == second.sha256


def test_a_stereo_recording_becomes_mono_with_both_parties(tmp_path: Path, outbox: Path) -> None:
    call = write_wav(tmp_path / "call.wav", seconds=2.0, channels=2)

    result = transcode(call, outbox, "wav")

    decoded = decode(result.path)
    assert decoded.channels == 1
    assert abs(decoded.duration_ms - 2000) <= TOLERANCE_MS


def test_a_16_khz_recording_keeps_its_rate_and_length(tmp_path: Path, outbox: Path) -> None:
    call = write_wav(tmp_path / "call.wav", seconds=2.0, rate=16000)

    result = transcode(call, outbox, "mp3")

    decoded = decode(result.path)
    assert decoded.rate == 16000
    assert abs(decoded.duration_ms - 2000) <= TOLERANCE_MS


def test_a_silent_recording_normalises_to_silence(tmp_path: Path, outbox: Path) -> None:
    call = write_wav(tmp_path / "call.wav", seconds=1.0, level=0)

    result = transcode(call, outbox, "wav", normalise=True)

    assert result.duration_ms == 1000
    assert set(decode(result.path).samples) == {0}


def test_a_recording_with_no_audio_is_reported_as_such_not_encoded(
    tmp_path: Path, outbox: Path
) -> None:
    call = write_wav(tmp_path / "call.wav", seconds=0)

    with pytest.raises(NoAudio, match=r"call\.wav: the recording holds no audio"):
        transcode(call, outbox, "opus", normalise=True)
    assert list(outbox.iterdir()) == []


def test_normalising_brings_a_quiet_call_up_without_clipping(tmp_path: Path, outbox: Path) -> None:
    call = write_wav(tmp_path / "call.wav", seconds=2.0, level=0.02)

    plain = array.array("h", decode(transcode(call, outbox, "wav").path).samples)
    loud = array.array("h", decode(transcode(call, outbox, "wav", normalise=True).path).samples)

    assert max(map(abs, loud)) > 5 * max(map(abs, plain))
    assert max(map(abs, loud)) < 32767 * 0.9  # the -1 dBFS ceiling, with room to spare


def test_a_header_left_unfinished_by_a_crash_keeps_the_audio(tmp_path: Path, outbox: Path) -> None:
    call = write_wav(tmp_path / "call.wav", seconds=2.0)
    damaged = bytearray(call.read_bytes())
    damaged[4:8] = damaged[40:44] = bytes(4)  # Asterisk fills the sizes in only on close
    call.write_bytes(bytes(damaged) + b"\x01")  # and a half-written sample

    result = transcode(call, outbox, "wav")

    assert abs(result.duration_ms - 2000) <= 1


def test_a_g711_wav_is_decoded_through_ffmpeg(tmp_path: Path, outbox: Path) -> None:
    pcm = write_wav(tmp_path / "pcm.wav", seconds=2.0)
    mulaw = tmp_path / "call.wav"
    subprocess.run(
        [ffmpeg_path(), "-loglevel", "error", "-i", str(pcm), "-c:a", "pcm_mulaw", str(mulaw)],
        check=True,
    )

    result = transcode(mulaw, outbox, "opus")

    assert abs(decode(result.path).duration_ms - 2000) <= TOLERANCE_MS


def test_a_corrupt_recording_is_a_media_error_naming_the_file_and_ffmpegs_complaint(
    tmp_path: Path, outbox: Path
) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVE" + os.urandom(2000))

    with pytest.raises(MediaError) as raised:
        transcode(corrupt, outbox)

    assert str(corrupt) in str(raised.value)
    assert "Invalid data found when processing input" in str(raised.value)
    assert list(outbox.iterdir()) == []  # nothing half-written left behind


def test_a_missing_recording_is_a_media_error(tmp_path: Path, outbox: Path) -> None:
    with pytest.raises(MediaError, match=r"missing\.wav: cannot read"):
        transcode(tmp_path / "missing.wav", outbox)


def test_an_unknown_format_or_bitrate_is_refused(tmp_path: Path, outbox: Path) -> None:
    call = write_wav(tmp_path / "call.wav", seconds=0.5)
    with pytest.raises(ValueError, match="unknown recording format"):
        transcode(call, outbox, "flac")
    with pytest.raises(ValueError, match="bitrate"):
        transcode(call, outbox, "opus", bitrate="24k -f null")


def test_a_wav_transcode_never_overwrites_its_source(tmp_path: Path) -> None:
    call = write_wav(tmp_path / "call.wav", seconds=0.5)
    with pytest.raises(ValueError, match="overwrite"):
        transcode(call, tmp_path, "wav")


def test_importing_media_without_ffmpeg_on_path_warns_nothing(tmp_path: Path) -> None:
    environment = {**os.environ, "PATH": str(tmp_path)}  # no ffmpeg anywhere on PATH
    completed = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import recordings.media as m; m.ffmpeg_path()"],
        cwd=Path(__file__).resolve().parents[2],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
