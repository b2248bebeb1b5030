"""Every shell and Python snippet of README.md and docs/ runs against a live emulator, its
output checked where the page shows it (issue 20). One test per fenced block, `page.md:LINE`.

The emulator is `imagegen-emulator serve --port 0 --seed 1 --profile instant` (`make serve`
runs `dev`, whose jobs take seconds of real time: the pages poll or move the clock, so what
they show holds on both, and `instant` keeps the run short) in a subprocess on 127.0.0.1, one
per test process, reset (`POST /_emulator/reset`) before each page. Every
`http://127.0.0.1:8000` and `localhost:8000` in a snippet's text is replaced by its address, so
the snippets stay as a reader pastes them; the rest of what a snippet sees (its environment,
the `imagegen-emulator` and `curl` it runs) is described in tests/docs_snippets.py (`PageRun`).
A page's snippets run in page order, once per test process, on the first of its tests that runs
there (the page's snippets that are not slow run whenever a later one is tested: it may use
what they made); each test then reports its own.
Without curl or jq the snippets that use them skip, saying so (in CI, `CI` set, they fail:
.ci/run installs both).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docs_snippets import Outcome, PageRun, Snippet, collect, collect_all, matches
from tests.serve_process import Served, end_serve, start_serve

SNIPPETS = collect_all()
SEED = "1"
# Jobs finish at once, so the pages run in seconds; what a page shows holds on any profile
# (the tour moves the clock or polls until done).
PROFILE = "instant"


def needs_missing_tool(snippet: Snippet) -> str | None:
    for tool in ("curl", "jq"):
        if re.search(rf"\b{tool}\b", snippet.code) and shutil.which(tool) is None:
            return tool
    return None


class Pages:
    """Each page run once, in order, against the process's emulator; results by snippet id."""

    def __init__(self, served: Served, workdir: Path, selected: set[str]) -> None:
        self.served = served
        self.workdir = workdir
        self.selected = selected  # the ids this run tests (-m "not slow" leaves slow ones out)
        self.results: dict[str, Outcome] = {}
        self.done: set[str] = set()

    def outcome(self, snippet: Snippet) -> Outcome:
        if snippet.page not in self.done:
            self.done.add(snippet.page)
            self.run_page([s for s in SNIPPETS if s.page == snippet.page])
        return self.results[snippet.id]

    def run_page(self, snippets: list[Snippet]) -> None:
        base_url = self.served.base_url
        httpx.post(f"{base_url}/_emulator/reset").raise_for_status()
        run = PageRun(base_url, self.workdir / snippets[0].page.replace("/", "_"))
        wanted = [index for index, s in enumerate(snippets) if s.id in self.selected]
        # Up to the last selected one, the page's other snippets run too, except slow ones:
        # a later snippet may use what an earlier one made (a variable, recordings/).
        for snippet in snippets[: max(wanted, default=-1) + 1]:
            runnable = snippet.skip is None and needs_missing_tool(snippet) is None
            if runnable and (snippet.id in self.selected or not snippet.slow):
                self.results[snippet.id] = run.run(snippet)


@pytest.fixture(scope="session")
def pages(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pages]:
    selected = {
        item.callspec.params["snippet"].id
        for item in request.session.items
        if hasattr(item, "callspec") and isinstance(item.callspec.params.get("snippet"), Snippet)
    }
    served = start_serve("--seed", SEED, "--profile", PROFILE)
    try:
        yield Pages(served, tmp_path_factory.mktemp("snippets"), selected)
    finally:
        end_serve(served)


@pytest.mark.parametrize(
    "snippet",
    [
        pytest.param(snippet, id=snippet.id, marks=[pytest.mark.slow] if snippet.slow else [])
        for snippet in SNIPPETS
    ],
)
def test_snippet_runs(pages: Pages, snippet: Snippet) -> None:
    if snippet.skip is not None:
        pytest.skip(f"marked on the page: {snippet.skip}")
    tool = needs_missing_tool(snippet)
    if tool is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {tool} (.ci/run installs it)", pytrace=False)
        pytest.skip(f"needs {tool} (apt-get install {tool})")
    outcome = pages.outcome(snippet)
    if not outcome.ok:
        pytest.fail(
            f"{snippet.id} ({snippet.mode}):\n{snippet.code}\n{outcome.message}", pytrace=False
        )


# ---------------------------------------------------------------------- the runner itself


def run_page_text(text: str, tmp_path: Path, base_url: str) -> list[Outcome]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    page = tmp_path / "page.md"
    page.write_text(text)
    run = PageRun(base_url, tmp_path / "run")
    return [run.run(snippet) for snippet in collect(page, tmp_path) if snippet.skip is None]


@pytest.fixture
def base_url(pages: Pages) -> str:
    httpx.post(f"{pages.served.base_url}/_emulator/reset").raise_for_status()
    return pages.served.base_url


GOOD_CURL = """```sh
curl -s http://127.0.0.1:8000/api/v1/models/z-image-turbo/generate -H "Authorization: Bearer k" \\
  -H "Content-Type: application/json" -d '{"prompt": "a fox"}' | jq -r .status
```
"""


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_a_curl_to_a_wrong_path_fails(tmp_path: Path, base_url: str) -> None:
    [good] = run_page_text(GOOD_CURL, tmp_path / "good", base_url)
    assert good.ok, good.message
    [broken] = run_page_text(
        GOOD_CURL.replace("/models/", "/modelz/"), tmp_path / "broken", base_url
    )
    assert not broken.ok
    assert "404" in broken.message


SHOWN = """```sh
curl -s http://127.0.0.1:8000/api/v1/models/z-image-turbo/generate -H "Authorization: Bearer k" \\
  -H "Content-Type: application/json" -d '{"prompt": "a fox"}' | jq -r .status,.id
```

<!-- snippet: output -->
```text
STATUS
<uuid>
```
"""


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_shown_output_is_compared(tmp_path: Path, base_url: str) -> None:
    [same] = run_page_text(SHOWN.replace("STATUS", "processing"), tmp_path / "same", base_url)
    assert same.ok, same.message
    [differs] = run_page_text(SHOWN.replace("STATUS", "completed"), tmp_path / "differs", base_url)
    assert not differs.ok
    assert "the output differs from the page's" in differs.message


def test_variables_carry_from_block_to_block(tmp_path: Path, base_url: str) -> None:
    text = '```sh\nX=42; mkdir sub; cd sub\n```\n\n```sh\ntest "$X" = 42; test -d ../sub\n```\n'
    assert [outcome.ok for outcome in run_page_text(text, tmp_path, base_url)] == [True, True]


@pytest.mark.parametrize(
    ("shown", "ok"), [("# webp (1024, 768)", True), ("# png (1024, 768)", False)]
)
def test_a_printed_claim_is_checked(tmp_path: Path, base_url: str, shown: str, ok: bool) -> None:
    text = (
        "```python\nfrom clients import VibedreamClient\n\n"
        'with VibedreamClient(base_url="http://127.0.0.1:8000", api_key="k") as client:\n'
        '    fox = client.generate("a red fox", size="1024*768", output_format="webp")\n'
        f"    print(fox.image.format, fox.image.size)  {shown}\n```\n"
    )
    [outcome] = run_page_text(text, tmp_path, base_url)
    assert outcome.ok is ok, outcome.message


@pytest.mark.parametrize(("shown", "ok"), [("processing", True), ("completed", False)])
def test_a_shell_claim_is_checked(tmp_path: Path, base_url: str, shown: str, ok: bool) -> None:
    text = GOOD_CURL.replace("| jq -r .status", f"| jq -r .status  # {shown}")
    [outcome] = run_page_text(text, tmp_path, base_url)
    assert outcome.ok is ok, outcome.message


@pytest.mark.parametrize(("size", "ok"), [("64x32", True), ("32x64", False)])
def test_an_image_size_claim_is_checked(tmp_path: Path, base_url: str, size: str, ok: bool) -> None:
    text = (
        "```sh\npython -c \"from PIL import Image; Image.new('RGB', (64, 32)).save('x.png')\""
        f"  # writes x.png  # {size}\n```\n"
    )
    [outcome] = run_page_text(text, tmp_path, base_url)
    assert outcome.ok is ok, outcome.message


def test_a_failing_python_snippet_fails(tmp_path: Path, base_url: str) -> None:
    [outcome] = run_page_text(
        "```python\nimport contracts\ncontracts.nosuch()\n```\n", tmp_path, base_url
    )
    assert not outcome.ok
    assert "AttributeError" in outcome.message


def test_a_skip_needs_a_reason(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- snippet: skip -->\n```sh\nmake serve\n```\n")
    with pytest.raises(ValueError, match="needs its reason"):
        collect(page, tmp_path)
    page.write_text("<!-- snippet: skip — never returns -->\n```sh\nmake serve\n```\n")
    assert [snippet.skip for snippet in collect(page, tmp_path)] == ["never returns"]


def test_ellipsis_and_placeholders() -> None:
    base = "http://127.0.0.1:40123"
    actual = f"out/x-9b08923d-10c6-4fd9-94b2-b8fda02f34a6-1.jpeg at {base} 2026-01-02T03:04:05Z"
    assert matches("out/x-<uuid>-1.jpeg at http://127.0.0.1:8000 <time>", actual)
    assert matches("out/x-...-1.jpeg at ...", actual)
    assert not matches("out/y-...", actual)
    assert not matches("out/x-...-2.jpeg at ...", actual)
