"""The Asterisk fixtures live in the project, and stay the originals they were copied from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import ARI_SPEC, ASTERISK, CAPTURES

ORIGINALS = Path(__file__).resolve().parents[1].parent / "shared"
COPIES = {"asterisk-ari-spec": ASTERISK / "ari-spec", "asterisk-captures": CAPTURES}


def test_the_spec_and_the_captures_are_inside_the_project() -> None:
    assert (ASTERISK / "ari-spec" / "resources.json").is_file()
    assert len(list(ARI_SPEC.glob("*.json"))) == 11
    assert (CAPTURES / "fastagi-sessions.jsonl").is_file()
    assert len(list(CAPTURES.glob("ari-*.jsonl"))) == 4


@pytest.mark.parametrize("original", sorted(COPIES))
def test_each_fixture_is_byte_for_byte_its_original_where_the_originals_are_beside_us(
    original: str,
) -> None:
    source = ORIGINALS / original
    if not source.is_dir():
        pytest.skip(f"no ../shared/{original} beside this clone to compare with")
    copy = COPIES[original]
    names = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file())
    for name in names:
        assert (copy / name).read_bytes() == (source / name).read_bytes(), name
