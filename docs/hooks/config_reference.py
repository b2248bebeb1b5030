"""MkDocs hook: the configuration reference, generated from `emulator/data/config.schema.json`
when the site is built, so the schema the emulator checks a config against is the one source of
every key, type, default, range and description (nothing is written twice).

A page asks for it with the line `<!-- config-reference -->`; the hook replaces that line with
the reference, between `<!-- config-reference:start -->` and `<!-- config-reference:end -->`
(tests/test_docs_build.py reads the built page between those two comments).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARKER = "<!-- config-reference -->"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"
SCHEMA_PATH = Path("emulator/data/config.schema.json")  # relative to mkdocs.yml

# The reference's sections: heading, anchor, JSON pointer to the table's schema, and a line
# saying where its keys go in the file. Every other object is shown inside one of these.
SECTIONS = (
    ("Top level", "top-level", "", "Keys at the top of the file, before any `[table]`."),
    ("`[auth]`", "auth", "/properties/auth", ""),
    ("`[admin]`", "admin", "/properties/admin", ""),
    ("`[cors]`", "cors", "/properties/cors", ""),
    ("`[replay]`", "replay", "/properties/replay", ""),
    (
        "Settings",
        "settings",
        "/$defs/settings",
        "Each of these may be given in `[defaults]` (every provider), `[providers.ID]` or"
        ' `[providers.ID.models."MODEL"]`, and likewise in a `[profiles.NAME]`; the most'
        " specific wins, then the profile's, then the default shown.",
    ),
    (
        "`[providers.ID]`",
        "providers",
        "/$defs/provider",
        "A table per provider; besides every [setting](#settings):",
    ),
    (
        "`[profiles.NAME]`",
        "profiles",
        "/properties/profiles/additionalProperties",
        'A profile of your own, chosen with `profile = "NAME"`.',
    ),
    (
        "Durations",
        "durations",
        "/$defs/duration",
        "The form of `job_duration`, `queue_duration` and `latency`.",
    ),
)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    schema = json.loads(_schema_file(config).read_text())
    reference = f'<div class="config-reference" markdown>\n\n{render(schema)}\n\n</div>'
    return markdown.replace(MARKER, f"{START}\n\n{reference}\n\n{END}")


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    # `mkdocs serve` rebuilds the page when the schema changes, not only the Markdown.
    server.watch(str(_schema_file(config)))
    return server


def _schema_file(config: Any) -> Path:
    return Path(config["config_file_path"]).parent / SCHEMA_PATH


def render(schema: dict[str, Any]) -> str:
    """The reference as Markdown: a table per section, a row per key."""
    sectioned = {pointer: (title, anchor) for title, anchor, pointer, _ in SECTIONS if pointer}
    renderer = _Renderer(schema, sectioned)
    parts = [
        f"Generated from `{SCHEMA_PATH}` when the site is built: the schema every config file"
        " (and `PUT /_emulator/config`) is checked against. A key not listed here is refused,"
        " naming its path."
    ]
    for title, anchor, pointer, intro in SECTIONS:
        node = renderer.resolve_pointer(pointer)
        parts.append(f"### {title} {{#{anchor}}}")
        if intro:
            parts.append(intro)
        if node.get("description") and pointer:
            parts.append(_text(node["description"]))
        if "oneOf" in node and "properties" not in node:
            forms = [f"- {renderer.kind(branch, limits=True)}" for branch in node["oneOf"]]
            parts.append("It is one of:\n\n" + "\n".join(forms))
        rows = renderer.rows(node, prefix="", top=pointer == "")
        if rows:
            parts.append(_table(rows))
    return "\n\n".join(parts)


class _Renderer:
    def __init__(self, schema: dict[str, Any], sectioned: dict[str, str]) -> None:
        self.schema = schema
        self.sectioned = sectioned  # JSON pointer -> (title, anchor) of its own section

    def resolve_pointer(self, pointer: str) -> dict[str, Any]:
        node: Any = self.schema
        for part in filter(None, pointer.split("/")):
            node = node[part]
        return node

    def ref(self, node: dict[str, Any]) -> dict[str, Any]:
        """The node with its $ref laid under it (its own keywords win)."""
        if "$ref" not in node:
            return node
        target = self.ref(self.resolve_pointer(node["$ref"].removeprefix("#")))
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        merged["properties"] = {**target.get("properties", {}), **node.get("properties", {})}
        return merged

    def rows(self, node: dict[str, Any], prefix: str, top: bool) -> list[tuple[str, ...]]:
        own = dict(node.get("properties", {}))
        ref = node.get("$ref", "").removeprefix("#")
        if ref and ref not in self.sectioned:  # a shared shape shown here: its keys too
            own = {**self.ref(self.resolve_pointer(ref)).get("properties", {}), **own}
        for branch in node.get("oneOf", ()):  # the table form of a key that has several
            own.update(branch.get("properties", {}))
        out = []
        for name, sub in own.items():
            path = f"{prefix}{name}"
            section = self._section_of(sub, top)
            full = self.ref(sub)
            kind = f"table: see [{section[0]}](#{section[1]})" if section else self.kind(sub)
            limits = self.limits(full)
            out.append(
                (
                    f"`{path}`",
                    f"{kind}; {limits}" if limits else kind,
                    _default(full),
                    _text(sub.get("description") or full.get("description", "")),
                )
            )
            if not section and "$ref" not in sub and self._nested(full):
                out.extend(self.rows(full, f"{path}.", top=False))
        return out

    def _section_of(self, sub: dict[str, Any], top: bool) -> tuple[str, str] | None:
        """(title, anchor) of the section a key is shown in, when it has one of its own."""
        pointer = sub.get("$ref", "").removeprefix("#")
        for title, anchor, where, _ in SECTIONS:
            if where and pointer == where and anchor != "durations":
                return title, anchor
        if top:  # the top level's tables: [auth], [profiles.NAME] ...
            for title, anchor, where, _ in SECTIONS:
                if where.startswith("/properties/") and self.resolve_pointer(where) in (
                    sub,
                    sub.get("additionalProperties"),
                ):
                    return title, anchor
        return None

    @staticmethod
    def _nested(node: dict[str, Any]) -> bool:
        return any("properties" in b for b in [node, *node.get("oneOf", ())])

    def kind(self, node: dict[str, Any], limits: bool = False) -> str:
        """The type of a value, in words; with its limits when asked (the items' always)."""
        pointer = node.get("$ref", "").removeprefix("#")
        if pointer == "/$defs/duration":
            return "[duration](#durations)"
        if pointer in self.sectioned:
            title, anchor = self.sectioned[pointer]
            return f"table: see [{title}](#{anchor})"
        node = self.ref(node)
        said = self.limits(node) if limits else ""
        return self._kind(node) + (f" ({said})" if said else "")

    def _kind(self, node: dict[str, Any]) -> str:
        if "oneOf" in node:
            return ", or ".join(self.kind(branch, limits=True) for branch in node["oneOf"])
        if "const" in node:
            return f"`{_toml(node['const'])}`"
        if "enum" in node:
            return "one of " + ", ".join(f"`{_toml(v)}`" for v in node["enum"])
        kind = node.get("type")
        if kind == "array":
            return f"list of {self.kind(node.get('items', {}), limits=True)}"
        if kind == "object":
            names = node.get("propertyNames", {}).get("enum")
            value = node.get("additionalProperties")
            if isinstance(value, dict):
                key = " \\| ".join(f"`{n}`" for n in names) if names else "name"
                return f"table of {key} = {self.kind(value)}"
            if node.get("properties"):
                return "table {" + ", ".join(node["properties"]) + "}"
            return "table"
        if isinstance(kind, str):
            return kind
        return "any (see the description)"

    @staticmethod
    def limits(node: dict[str, Any]) -> str:
        said = []
        low, high = node.get("minimum"), node.get("maximum")
        if low is not None and high is not None:
            said.append(f"{_toml(low)} to {_toml(high)}")
        elif low is not None:
            said.append(f">= {_toml(low)}")
        elif high is not None:
            said.append(f"<= {_toml(high)}")
        if "exclusiveMinimum" in node:
            said.append(f"> {_toml(node['exclusiveMinimum'])}")
        if "minLength" in node:
            said.append(f"at least {node['minLength']} character(s)")
        if "minItems" in node or "maxItems" in node:
            lo, hi = node.get("minItems"), node.get("maxItems")
            said.append(f"exactly {lo} items" if lo == hi else f"{lo or 0} to {hi or 'any'} items")
        if node.get("uniqueItems"):
            said.append("no repeats")
        if "pattern" in node:
            said.append(f"matching `{node['pattern']}`")
        if node.get("required") and node.get("type") == "object":
            said.append("requires " + ", ".join(f"`{r}`" for r in node["required"]))
        return "; ".join(said)


def _default(node: dict[str, Any]) -> str:
    return f"`{_toml(node['default'])}`" if "default" in node else ""


def _toml(value: Any) -> str:
    """A value as the file would spell it (JSON's spelling is TOML's for these)."""
    return json.dumps(value)


def _text(text: str) -> str:
    """A description as a table cell: pipes and asterisks are text, not Markdown."""
    return text.replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def _table(rows: list[tuple[str, ...]]) -> str:
    lines = ["| key | type and range | default | description |", "| --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines)
