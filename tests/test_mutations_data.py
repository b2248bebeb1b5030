"""bench/mutations.toml stays applicable (every `old` text still occurs exactly once in its file,
every test it names still exists), and bench/mutations.py tells a caught mutation from a
survivor and a stale entry (slow: it copies the repository and runs pytest twice)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import mutations
from bench.mutations import ROOT, Mutation, Outcome, load, occurrences


@pytest.fixture(scope="module")
def entries() -> list[Mutation]:
    return load()


def test_the_list_holds_issue_23s_twelve_and_more(entries: list[Mutation]) -> None:
    assert len(entries) >= 12
    assert all(entry.breaks and entry.tests for entry in entries)


def test_every_old_text_occurs_exactly_once_in_its_file(entries: list[Mutation]) -> None:
    stale = {entry.id: occurrences(entry) for entry in entries if occurrences(entry) != 1}
    assert stale == {}, "update these entries of bench/mutations.toml (id: times found)"


def test_every_listed_test_exists(entries: list[Mutation]) -> None:
    for entry in entries:
        for test in entry.tests:
            path, _, node = test.partition("::")
            assert (ROOT / path).is_file(), (entry.id, test)
            name = re.sub(r"\[.*\]$", "", node.rpartition("::")[2])
            if name:
                source = (ROOT / path).read_text(encoding="utf-8")
                assert f"def {name}(" in source, (entry.id, test)


def test_a_mutation_changes_its_file(entries: list[Mutation]) -> None:
    for entry in entries:
        text = (ROOT / entry.file).read_text(encoding="utf-8")
        assert text.replace(entry.old, entry.new) != text, entry.id


def test_a_malformed_list_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "m.toml"
    data.write_text('[[mutation]]\nid = "x"\nfile = "a.py"\nold = "a"\nnew = "a"\n')
    with pytest.raises(ValueError, match="has keys"):
        load(data)


SELF_TEST = """
[[mutation]]
id = "caught"
file = "emulator/core/jobs.py"
old = "        if now < self.started_at:"
new = "        if now <= self.started_at:"
tests = ["tests/test_core.py::test_a_job_runs_from_exactly_its_start_instant"]
breaks = "a job reads queued at its start instant"

[[mutation]]
id = "survives"
file = "emulator/core/jobs.py"
old = "    progress: float  # 0..100"
new = "    progress: float  # a comment changed"
tests = ["tests/test_core.py::test_a_job_runs_from_exactly_its_start_instant"]
breaks = "nothing: a comment"

[[mutation]]
id = "stale"
file = "emulator/core/jobs.py"
old = "text that is not in the file"
new = "anything"
tests = ["tests/test_core.py"]
breaks = "nothing: it cannot apply"
"""


@pytest.mark.slow
def test_the_runner_reports_caught_survived_and_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "self-test.toml"
    data.write_text(SELF_TEST)
    jobs = ROOT / "emulator" / "core" / "jobs.py"
    before = jobs.read_text(encoding="utf-8")
    status = mutations.main(["--data", str(data), "--timeout", "120", "--no-baseline"])
    out = capsys.readouterr().out
    assert status == 1  # one survived (and one is stale)
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if " | " in line}
    assert f"| {Outcome.CAUGHT} |" in rows["caught"]
    assert "test_a_job_runs_from_exactly_its_start_instant" in rows["caught"]
    assert f"| {Outcome.SURVIVED} |" in rows["survives"]
    assert f"| {Outcome.STALE} |" in rows["stale"]
    assert "1 of 3 caught" in out
    assert jobs.read_text(encoding="utf-8") == before  # the working tree was never touched
