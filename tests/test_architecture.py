"""The import graph keeps its shape: no cycle between packages, no reaching up.

What a "package" is (billing_bridge, recordings, agi_scripts, each pbx subpackage, pbx's
composition root, each shared top-level pbx module) is set in tools/architecture_report.py,
which prints the whole picture: `python -m tools.architecture_report`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.architecture_report import Report, analyse, edges_between, package_graph, runtime

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def report() -> Report:
    return analyse(ROOT)


def test_no_two_packages_import_each_other_even_through_others(report: Report) -> None:
    cycles = {
        " <-> ".join(members): [
            f"{edge.path}:{edge.line} imports {edge.target}"
            for edge in edges_between(report, members)
        ]
        for members in report.package_cycles
    }
    assert cycles == {}, "import cycles between packages (TYPE_CHECKING imports not counted)"


def test_billing_recordings_and_agi_scripts_do_not_import_the_call_flow_http_or_the_root(
    report: Report,
) -> None:
    edges = [f"{edge.path}:{edge.line} imports {edge.target}" for edge in report.forbidden]
    assert edges == []


def test_the_analysis_sees_the_packages_it_judges(report: Report) -> None:
    """An empty graph would pass the two tests above: the analysis must find the real one."""
    graph = package_graph(runtime(report.imports))
    assert {"billing_bridge", "pbx.db"} <= graph["pbx.root"]
    assert "pbx.db" in graph["recordings"]
