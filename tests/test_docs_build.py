"""The documentation site builds in strict mode, its configuration reference is the schema's,
README.md stays a front page, and every relative link in README and docs/ resolves."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import markdown
import pytest
import yaml

from emulator.config import DEFAULT_WALLET_BALANCE, Config
from emulator.core.faults import DEFAULT_SLOW_BODY_SECONDS, DEFAULT_TIMEOUT_SECONDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCHEMA = ROOT / "emulator" / "data" / "config.schema.json"
README_MAX_LINES = 200
# What the site is not built from (mkdocs.yml's exclude_docs): other branches' fragments, hooks.
NOT_PAGES = ("_incoming", "hooks")
# The hook's comments around the generated reference (docs/hooks/config_reference.py).
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def pages() -> list[Path]:
    return sorted(
        p for p in DOCS.rglob("*.md") if not set(p.relative_to(DOCS).parts) & set(NOT_PAGES)
    )


def build(site_dir: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # A subprocess of the venv's mkdocs, as `make docs` runs it: strict, so any warning (a
    # broken link or anchor, a page missing from the nav) fails the build.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    result = build(site_dir)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-4000:]}"
    return site_dir


def test_the_site_builds_strict_with_a_page_per_topic(site: Path) -> None:
    built = {p.relative_to(DOCS).with_suffix("").as_posix() for p in pages()}
    for page in built:
        target = site / ("index.html" if page == "index" else f"{page}/index.html")
        assert target.is_file(), f"docs/{page}.md was not built into {target}"
    # Fragments waiting to be folded in are not published (exclude_docs).
    assert not (site / "_incoming").exists()
    assert not (site / "hooks").exists()


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    # The project's mkdocs.yml (its strictness and link validation) over a page with a broken
    # link and a broken anchor, in a copy of two pages (other workers build docs/ meanwhile).
    settings = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    settings.update(nav=["index.md", "probe.md"], hooks=[])
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(settings))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\n## Here\n\n[probe](probe.md#here)\n")
    probe = "# Probe\n\n## Here\n\n[nowhere](no-such-page.md), [no anchor](index.md#no-such)\n"
    (tmp_path / "docs" / "probe.md").write_text(probe)
    result = build(tmp_path / "site", cwd=tmp_path)
    assert result.returncode != 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 2, result.stderr
    assert "no-such-page.md" in warnings[0] + warnings[1]
    assert "index.md#no-such" in warnings[0] + warnings[1]


# ------------------------------------------------------------------ configuration reference


def schema_keys(node: Any) -> set[str]:
    """Every key name the schema declares, at any depth (properties of any object)."""
    found: set[str] = set()
    if isinstance(node, dict):
        found |= set(node.get("properties", {}))
        for value in node.values():
            found |= schema_keys(value)
    elif isinstance(node, list):
        for value in node:
            found |= schema_keys(value)
    return found


def described(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(path, schema) of every declared key: `admin.token`, `$defs.settings.latency`,
    `profiles.*.extends` (`*`: any name)."""
    found = []
    for name, sub in node.get("properties", {}).items():
        found += [(f"{path}{name}", sub), *described(sub, f"{path}{name}.")]
    for name, sub in node.get("$defs", {}).items():
        found += described(sub, f"$defs.{name}.")
    for branch in node.get("oneOf", ()):
        found += described(branch, path)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += described(node[key], f"{path}*.")
    return found


def reference_html(site: Path) -> str:
    page = (site / "configuration" / "index.html").read_text()
    assert START in page and END in page, "the configuration page has no generated reference"
    return page.split(START, 1)[1].split(END, 1)[0]


def as_text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def test_the_configuration_reference_lists_every_key_of_the_schema(site: Path) -> None:
    schema = json.loads(SCHEMA.read_text())
    reference = reference_html(site)
    keys = schema_keys(schema)
    assert {"seed", "token", "allowed_origins", "per_seconds", "output_image", "sigma"} <= keys
    # Each key is a row's name, alone or at the end of a dotted path (`rate_limit.requests`).
    missing = sorted(
        k for k in keys if not re.search(rf"<code>(?:[\w.\"-]+\.)?{re.escape(k)}</code>", reference)
    )
    assert not missing, f"keys of the schema missing from the reference: {missing}"


def test_the_reference_shows_each_description_default_and_enum(site: Path) -> None:
    text = as_text(reference_html(site))
    for path, sub in described(json.loads(SCHEMA.read_text())):
        if "description" in sub:
            said = " ".join(sub["description"].replace("`", "").split())
            assert said in text, f"{path}: description missing from the reference"
        if "default" in sub:
            assert json.dumps(sub["default"]) in text, f"{path}: default missing"
        for value in sub.get("enum", ()):
            assert json.dumps(value) in text, f"{path}: enum value {value!r} missing"


def test_the_reference_is_generated_not_committed() -> None:
    # The page's Markdown holds the hook's marker, not a copy of the schema's text.
    source = (DOCS / "configuration.md").read_text()
    assert "<!-- config-reference -->" in source
    descriptions = [
        s["description"] for _, s in described(json.loads(SCHEMA.read_text())) if "description" in s
    ]
    assert not [d for d in descriptions if d in source]


def test_the_schemas_defaults_are_the_codes() -> None:
    # The reference shows the schema's `default`s: each must be what the code does without it.
    config = Config()
    settings = {
        "latency": 0,
        "wallet_balance": DEFAULT_WALLET_BALANCE,
        "rate_limit": False,
        "timeout_seconds": DEFAULT_TIMEOUT_SECONDS,
        "slow_body_seconds": DEFAULT_SLOW_BODY_SECONDS,
    }
    schema = json.loads(SCHEMA.read_text())
    checked = 0
    for path, sub in described(schema):
        if "default" not in sub:
            continue
        name = path.rsplit(".", 1)[-1]
        if path.startswith("$defs.settings."):
            assert name in settings, f"{path}: a default the test does not know; add it"
            assert sub["default"] == settings[name], path
        else:  # top level, or a table's key: Config's field `table_key` (admin_allowed_origins)
            field = path.replace(".", "_")
            assert hasattr(config, field), f"{path}: no Config.{field} to check the default on"
            assert sub["default"] == getattr(config, field), path
        checked += 1
    assert checked >= 15


# ------------------------------------------------------------------ README and links


def test_the_readme_is_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    text = "\n".join(lines)
    assert "make serve" in text and "make test" in text and "make docs" in text
    assert "docs/index.md" in text


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(found["id"] or "")
        for attr in ("href", "src"):
            if tag in ("a", "img") and found.get(attr):
                self.links.append(found[attr] or "")


def parse(path: Path) -> _Links:
    # The site's own Markdown (mkdocs.yml's extensions that shape links and anchors).
    rendered = markdown.markdown(
        path.read_text(), extensions=["toc", "tables", "attr_list", "pymdownx.superfences"]
    )
    parser = _Links()
    parser.feed(rendered)
    return parser


@cache
def relative_links() -> list[tuple[Path, str]]:
    found = []
    for source in [ROOT / "README.md", *pages()]:
        for link in parse(source).links:
            parts = urlsplit(link)
            if not parts.scheme and not parts.netloc and not link.startswith("mailto:"):
                found.append((source, link))
    return found


def test_there_are_links_to_check() -> None:
    sources = {source.name for source, _ in relative_links()}
    assert {"README.md", "index.md", "providers.md"} <= sources


@pytest.mark.parametrize(
    ("source", "link"),
    relative_links(),
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_every_relative_link_resolves(source: Path, link: str, site: Path) -> None:
    parts = urlsplit(link)
    target = (source.parent / unquote(parts.path)).resolve() if parts.path else source
    where = f"{source.relative_to(ROOT)}: {link}"
    assert target.exists(), f"{where}: no {target}"
    assert target.is_relative_to(ROOT), f"{where} leaves the repository"
    if parts.fragment and target.suffix == ".md":
        assert parts.fragment in anchors(target, site), f"{where}: no such anchor"


def anchors(page: Path, site: Path) -> set[str]:
    """The ids a page has: a site page's as built (generated parts included), else its own."""
    if page.is_relative_to(DOCS):
        name = page.relative_to(DOCS).with_suffix("").as_posix()
        built = site / ("index.html" if name == "index" else f"{name}/index.html")
        parser = _Links()
        parser.feed(built.read_text())
        return parser.ids
    return parse(page).ids
