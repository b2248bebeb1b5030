"""Hand-made mutation testing: does the suite notice when the product changes?

Each entry of ``bench/mutations.toml`` is one small, realistic change to the code (a file, a
text in it, the text to put instead), the tests that should notice it, and what it breaks for a
user. For each entry, one at a time, this script puts the change into a temporary copy of the
repository (the working tree is never touched), runs the listed tests there, and reports the
mutation **caught** (a test failed) or **survived** (every test passed: a gap in the suite).

    .venv/bin/python -m bench.mutations                   # every entry
    .venv/bin/python -m bench.mutations --only ID [ID ...]
    .venv/bin/python -m bench.mutations --list            # the entries, nothing run
    .venv/bin/python -m bench.mutations --timeout 120     # seconds per entry (default 300)
    .venv/bin/python -m bench.mutations --each            # each listed test on its own
    .venv/bin/python -m bench.mutations --root DIR --data FILE  # another tree, other entries

``--each`` runs every listed test selection of an entry separately, one row each: it shows
whether a behaviour has more than one independent guard (a mutation caught by one test only is
one careless edit away from unguarded). ``--root`` copies another tree instead of this one (an
older commit unpacked with ``git archive``, to show that a mutation survived before a fix).

Before the mutations, the listed tests run once on the unchanged copy (``--no-baseline`` skips
it): a mutation is only "caught" if its tests passed without it. Exit status 0 when every
mutation was caught, 1 when one survived, timed out or could not be applied (``stale``: its
``old`` text no longer occurs exactly once in its file, so the entry needs updating).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).with_name("mutations.toml")
DEFAULT_TIMEOUT = 300.0  # seconds per entry's test run
# Not copied: the virtualenv is used in place, the rest is regenerated or irrelevant.
IGNORED = (
    ".venv",
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    "*.egg-info",
    ".ruff_cache",
)
# The same pytest options for the baseline and every mutation: quiet, stop at the first
# failure (one is enough to call it caught), no random order, no cache written into the copy.
PYTEST_OPTIONS = ("-q", "-x", "-p", "no:randomly", "-p", "no:cacheprovider", "--no-header")


class Outcome(StrEnum):
    CAUGHT = "caught"
    SURVIVED = "survived"
    TIMEOUT = "timeout"
    STALE = "stale"  # the old text is not in the file exactly once
    ERROR = "error"  # pytest could not run the tests (a wrong test id, a usage error)


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str  # relative to the repository's root
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments: paths or node ids
    breaks: str  # what a user would see go wrong


@dataclass(frozen=True)
class Result:
    mutation: Mutation
    outcome: Outcome
    seconds: float
    detail: str  # the first failing test, or why it is not a verdict


def load(path: Path = DATA) -> list[Mutation]:
    """The entries of the data file, checked for shape (not for whether they still apply)."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = raw.get("mutation")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: no [[mutation]] entries")
    mutations = []
    for number, entry in enumerate(entries, 1):
        keys = {"id", "file", "old", "new", "tests", "breaks"}
        if set(entry) != keys:
            raise ValueError(f"{path}: entry {number} has keys {sorted(entry)}, not {sorted(keys)}")
        if entry["old"] == entry["new"] or not entry["tests"]:
            raise ValueError(f"{path}: entry {entry['id']!r} changes nothing or runs no test")
        mutations.append(
            Mutation(
                id=entry["id"],
                file=entry["file"],
                old=entry["old"],
                new=entry["new"],
                tests=tuple(entry["tests"]),
                breaks=" ".join(entry["breaks"].split()),
            )
        )
    ids = [mutation.id for mutation in mutations]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate ids")
    return mutations


def occurrences(mutation: Mutation, root: Path = ROOT) -> int:
    """How often the entry's old text occurs in its file (1 when the entry still applies)."""
    path = root / mutation.file
    return path.read_text(encoding="utf-8").count(mutation.old) if path.is_file() else 0


def copy_repository(destination: Path, root: Path = ROOT) -> Path:
    """The tracked-looking part of the repository, copied (a few MB: no .venv, no .git)."""
    target = destination / "repo"
    shutil.copytree(root, target, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
    return target


def pytest_command(tests: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", *PYTEST_OPTIONS, *tests]


def environment(copy: Path) -> dict[str, str]:
    """The copy's packages first on the path, so its (mutated) code is what gets imported and
    not the editable install of the working tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(copy), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_tests(copy: Path, tests: Sequence[str], timeout: float) -> tuple[int | None, str]:
    """(pytest's exit status, or None on timeout; its output), run in the copy. The run is its
    own process group, so a timeout stops pytest and anything it started."""
    with subprocess.Popen(
        pytest_command(tests),
        cwd=copy,
        env=environment(copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                output, _ = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()
            return None, output
    return process.returncode, output


def first_failure(output: str) -> str:
    """The first FAILED/ERROR line of pytest's short summary, else its last line."""
    for line in output.splitlines():
        if line.startswith(("FAILED tests", "ERROR tests")):  # not a captured log line
            return line.split(" - ")[0]
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def check_imports_from(copy: Path) -> None:
    """Refuse to run if the copy's code would not be the code imported (a mutation would then
    be tested against the unchanged tree and always "survive")."""
    probe = "import emulator, clients, contracts; print(emulator.__file__, clients.__file__)"
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=copy,
        env=environment(copy),
        capture_output=True,
        text=True,
        check=True,
    )
    if not all(Path(path).is_relative_to(copy) for path in answer.stdout.split()):
        raise RuntimeError(f"the copy's packages are not the ones imported: {answer.stdout}")


def mutate(
    copy: Path, mutation: Mutation, timeout: float, tests: Sequence[str] | None = None
) -> Result:
    """Apply the mutation to the copy, run its tests (or ``tests``), undo it."""
    started = time.monotonic()
    path = copy / mutation.file
    count = occurrences(mutation, copy)
    if count != 1:
        return Result(
            mutation, Outcome.STALE, 0.0, f"old text found {count} times in {mutation.file}"
        )
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace(mutation.old, mutation.new), encoding="utf-8")
    try:
        status, output = run_tests(copy, mutation.tests if tests is None else tests, timeout)
    finally:
        path.write_text(original, encoding="utf-8")  # the copy is clean for the next entry
    seconds = time.monotonic() - started
    if status is None:
        return Result(mutation, Outcome.TIMEOUT, seconds, f"no verdict within {timeout:g} s")
    if status == 0:
        return Result(mutation, Outcome.SURVIVED, seconds, "every listed test passed")
    if status in (1, 2):  # tests failed, or collection failed on the changed code
        return Result(mutation, Outcome.CAUGHT, seconds, first_failure(output))
    return Result(
        mutation, Outcome.ERROR, seconds, f"pytest exit {status}: {first_failure(output)}"
    )


def table(results: Sequence[Result]) -> str:
    """A Markdown table: one row per run (per entry; with --each, per entry and test)."""
    rows = ["| id | outcome | seconds | detail |", "| --- | --- | --- | --- |"]
    for result in results:
        detail = result.detail.replace("|", "\\|")
        rows.append(
            f"| {result.mutation.id} | {result.outcome} | {result.seconds:.1f} | {detail} |"
        )
    return "\n".join(rows)


def runs(mutation: Mutation, each: bool) -> list[tuple[str, ...] | None]:
    """The test selections to run for an entry: all at once (None), or each on its own."""
    return [(test,) for test in mutation.tests] if each else [None]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.mutations", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--only", nargs="+", metavar="ID", help="run these entries only")
    parser.add_argument("--list", action="store_true", help="list the entries and exit")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per entry")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--data", type=Path, default=DATA, help="the entries (TOML)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree to copy and mutate")
    parser.add_argument("--each", action="store_true", help="run each listed test on its own")
    args = parser.parse_args(argv)

    mutations = load(args.data)
    if args.only:
        unknown = sorted(set(args.only) - {mutation.id for mutation in mutations})
        if unknown:
            parser.error(f"unknown id(s): {', '.join(unknown)}")
        mutations = [mutation for mutation in mutations if mutation.id in args.only]
    if args.list:
        for mutation in mutations:
            print(f"{mutation.id}: {mutation.file}: {mutation.breaks}")
        return 0

    with tempfile.TemporaryDirectory(prefix="mutations-") as scratch:
        copy = copy_repository(Path(scratch), args.root.resolve())
        check_imports_from(copy)
        if not args.no_baseline:
            tests = list(dict.fromkeys(test for mutation in mutations for test in mutation.tests))
            print(f"baseline: {len(tests)} test selections on the unchanged copy ...", flush=True)
            status, output = run_tests(copy, tests, args.timeout * 2)
            if status != 0:
                print(output[-3000:])
                print("baseline: the listed tests do not pass without any mutation; stopping")
                return 1
        results = []
        for mutation in mutations:
            for tests in runs(mutation, args.each):
                result = mutate(copy, mutation, args.timeout, tests)
                if tests is not None and result.outcome is not Outcome.CAUGHT:
                    result = Result(
                        mutation, result.outcome, result.seconds, f"{tests[0]}: {result.detail}"
                    )
                label = mutation.id if tests is None else f"{mutation.id} / {tests[0]}"
                print(f"{result.outcome:>8}  {label} ({result.seconds:.1f} s)", flush=True)
                results.append(result)
    print()
    print(table(results))
    survived = [result for result in results if result.outcome is not Outcome.CAUGHT]
    print(f"\n{len(results) - len(survived)} of {len(results)} caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
