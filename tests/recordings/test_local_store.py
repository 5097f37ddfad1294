from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path

import pytest

from recordings.local_store import LocalFolderStore
from recordings.store import StoreError

KEY = "acme/2026/03/09/42.opus"
METADATA = {"tenant": "acme", "call": "42", "customer": "דנה כהן", "agent": "7"}


@pytest.fixture
def store(tmp_path: Path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "recordings")


def recording(folder: Path, content: bytes = b"OggS" + bytes(range(256)) * 40) -> Path:
    path = folder / "upload.opus"
    path.write_bytes(content)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def put(store: LocalFolderStore, key: str, source: Path, sha256: str | None = None) -> None:
    await store.put(
        key, source, content_type="audio/ogg", sha256=sha256 or sha256_of(source),
        metadata=METADATA,
    )  # fmt: skip


def leftovers(root: Path) -> list[Path]:
    return [path for path in root.rglob(".*") if path.is_file()]


async def test_put_then_stat_reports_the_size_and_checksum_of_the_stored_bytes(
    store: LocalFolderStore, tmp_path: Path
) -> None:
    source = recording(tmp_path)

    await put(store, KEY, source)

    stored = await store.stat(KEY)
    assert stored is not None
    assert (stored.key, stored.size) == (KEY, source.stat().st_size)
    assert stored.sha256 == sha256_of(source)
    assert stored.content_type == "audio/ogg"
    assert stored.metadata == METADATA  # the Hebrew name as it was given
    assert store.path_of(KEY).read_bytes() == source.read_bytes()
    assert leftovers(store.root) == []


async def test_stat_hashes_the_stored_bytes_not_the_sidecar(
    store: LocalFolderStore, tmp_path: Path
) -> None:
    source = recording(tmp_path)
    await put(store, KEY, source)

    with store.path_of(KEY).open("r+b") as stored:
        stored.seek(100)
        stored.write(b"\xff")  # a flipped byte on disk, sidecar untouched

    stored_object = await store.stat(KEY)
    assert stored_object is not None
    assert stored_object.sha256 != sha256_of(source)
    assert stored_object.sha256 == sha256_of(store.path_of(KEY))


async def test_a_second_put_replaces_the_first(store: LocalFolderStore, tmp_path: Path) -> None:
    await put(store, KEY, recording(tmp_path, b"first"))
    newer = recording(tmp_path, b"second, longer")

    await put(store, KEY, newer)

    stored = await store.stat(KEY)
    assert stored is not None and stored.sha256 == sha256_of(newer)


async def test_a_source_cut_short_mid_copy_stores_nothing_and_leaves_no_temporary_files(
    store: LocalFolderStore, tmp_path: Path
) -> None:
    whole = b"x" * 300_000
    await put(store, KEY, recording(tmp_path, b"the earlier recording"))
    before = await store.stat(KEY)
    pipe = tmp_path / "upload.fifo"
    os.mkfifo(pipe)

    def writer_that_stops_halfway() -> None:
        with pipe.open("wb") as half:
            half.write(whole[:150_000])

    writer = threading.Thread(target=writer_that_stops_halfway)
    writer.start()
    with pytest.raises(StoreError, match="not stored"):
        await put(store, KEY, pipe, sha256=hashlib.sha256(whole).hexdigest())
    writer.join()

    assert await store.stat(KEY) == before
    assert leftovers(store.root) == []


async def test_a_missing_source_is_a_store_error_and_stores_nothing(
    store: LocalFolderStore, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="cannot read"):
        await put(store, KEY, tmp_path / "gone.opus", sha256="0" * 64)

    assert await store.stat(KEY) is None
    assert leftovers(store.root) == []


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../outside.opus", "acme/../../outside.opus", "acme//42.opus",
     "acme/./42.opus", "acme/.42.opus.tmp", "acme\\..\\x", "acme/42.opus.meta.json", "a\0b"],
)  # fmt: skip
async def test_a_key_that_could_escape_or_hide_is_refused(
    store: LocalFolderStore, tmp_path: Path, key: str
) -> None:
    with pytest.raises(StoreError):
        await put(store, key, recording(tmp_path))
    with pytest.raises(StoreError):
        await store.stat(key)
    with pytest.raises(StoreError):
        await store.delete(key)
    assert not (tmp_path / "outside.opus").exists()


async def test_a_symlink_leading_out_of_the_folder_is_refused(
    store: LocalFolderStore, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").mkdir()
    store.root.mkdir(parents=True)
    (store.root / "acme").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(StoreError, match="outside"):
        await put(store, KEY, recording(tmp_path))
    assert list((tmp_path / "elsewhere").iterdir()) == []


async def test_delete_removes_the_recording_and_its_sidecar(
    store: LocalFolderStore, tmp_path: Path
) -> None:
    await put(store, KEY, recording(tmp_path))

    await store.delete(KEY)

    assert await store.stat(KEY) is None
    assert [path for path in store.root.rglob("*") if path.is_file()] == []


async def test_deleting_a_missing_recording_is_not_an_error(store: LocalFolderStore) -> None:
    await store.delete(KEY)
    assert await store.stat(KEY) is None


async def test_there_is_no_playback_url_the_file_is_streamed_by_ledgerline(
    store: LocalFolderStore, tmp_path: Path
) -> None:
    await put(store, KEY, recording(tmp_path))

    assert await store.playback_url(KEY, expires_in=300) is None
    assert store.path_of(KEY) == store.root / "acme" / "2026" / "03" / "09" / "42.opus"


@pytest.mark.parametrize("metadata", [{"Customer": "x"}, {"sha256": "x"}, {"a_b": "x"}])
async def test_metadata_names_that_s3_could_not_carry_are_refused(
    store: LocalFolderStore, tmp_path: Path, metadata: dict[str, str]
) -> None:
    source = recording(tmp_path)
    with pytest.raises(StoreError, match="metadata"):
        await store.put(
            KEY, source, content_type="audio/ogg", sha256=sha256_of(source), metadata=metadata
        )


async def test_the_event_loop_keeps_running_while_a_recording_is_stored(
    store: LocalFolderStore, tmp_path: Path
) -> None:
    source = recording(tmp_path, os.urandom(8 << 20))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(ticker())
    await put(store, KEY, source)
    await store.stat(KEY)
    running.cancel()

    assert ticks > 2
