"""The reference in docs/ is complete, and README.md and docs/ link only to what exists.

- **Sweep-file keys** (docs/sweep-files.md): every key path the schema declares
  (``orchestrator.spec.schema.keys()``: ``scheduler.max_epochs``,
  ``families.<name>.params``, ...) is either a key at that path in one of the page's
  ```yaml examples (parsed as YAML, so a commented-out key does not count; a family's
  label stands for ``<name>``), or written out whole in inline code (`` `decide.trials` ``,
  `` `families.<name>.baseline_repeats` ``, `` `mode` `` for a top-level key). A key's last
  word alone is not enough: ``mode`` would be found in the transfer family's
  ``mode: frozen``, ``trials`` in run.json's ``trials``.
- **Commands and options** (docs/commands.md): every command of the ``tunefm`` group has
  a section headed ``### `tunefm NAME` ``, and every long option of the command
  (``--top-k``, both ``--progress`` and ``--no-progress``) appears in that section as a
  whole word (``--top`` is not found in ``--top-k``). The group's own options
  (``--version``, ``--verbose``) appear in the section headed ``### `tunefm` ``.
  ``--help``, which click gives every command, is documented once and not checked per
  command.
- **Links**: every relative link or image in README.md and docs/*.md (outside code
  blocks) names a file that exists, and a ``#fragment`` into a Markdown file names one of
  its headings (GitHub's anchors: lower case, punctuation dropped, spaces as hyphens).
"""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks."""
    return FENCE.sub("", text)


def _yaml_paths(text: str) -> set[str]:
    """Every key path of the page's ```yaml examples (a family's label as ``<name>``)."""
    import yaml

    def walk(node, prefix: str) -> set[str]:
        out = set()
        if isinstance(node, dict):
            for key, value in node.items():
                path = f"{prefix}{key}"
                out.add(path)
                if path == "families" and isinstance(value, dict):
                    for entry in value.values():
                        out |= walk(entry, "families.<name>.")
                else:
                    out |= walk(value, path + ".")
        return out

    paths: set[str] = set()
    for block in re.findall(r"^```ya?ml[^\n]*\n(.*?)^```", text, re.S | re.M):
        paths |= walk(yaml.safe_load(block), "")
    return paths


def test_every_sweep_file_key_is_in_the_sweep_file_reference():
    from orchestrator.spec import schema

    text = (DOCS / "sweep-files.md").read_text()
    examples, code = _yaml_paths(text), set(re.findall(r"`([^`\s]+)`", _prose(text)))
    paths = schema.keys()
    assert len(paths) > 40, paths            # the schema's walk found the nested blocks
    missing = [p for p in paths if p not in examples and p not in code]
    assert not missing, f"docs/sweep-files.md does not name: {missing}"


def _sections(text: str) -> dict[str | None, str]:
    """``### `tunefm NAME` `` sections of commands.md by NAME (None: the group's own)."""
    out: dict[str | None, str] = {}
    heads = list(re.finditer(r"^(#{1,3}) (.*)$", text, re.M))
    for i, h in enumerate(heads):
        m = re.match(r"`tunefm(?: ([\w-]+))?`", h.group(2))
        if len(h.group(1)) == 3 and m:
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            out[m.group(1)] = text[h.end():end]
    return out


def _long_options(command: click.Command) -> list[str]:
    opts = []
    for p in command.params:
        if isinstance(p, click.Option):
            opts += [o for o in (*p.opts, *p.secondary_opts) if o.startswith("--") and o != "--help"]
    return opts


def _has(option: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def test_every_command_and_option_is_in_the_command_reference():
    from orchestrator.cli import main

    text = (DOCS / "commands.md").read_text()
    sections = _sections(_prose(text))     # the example model card's headings are not sections
    undocumented = sorted(set(main.commands) - set(sections))
    assert not undocumented, f"docs/commands.md needs a ### `tunefm NAME` section for each of {undocumented}"
    gone = sorted(set(sections) - set(main.commands) - {None})
    assert not gone, f"docs/commands.md documents commands tunefm does not have: {gone}"
    missing = [f"{name or 'tunefm'} {o}" for name, cmd in [(None, main), *sorted(main.commands.items())]
               for o in _long_options(cmd) if not _has(o, sections[name])]
    assert not missing, f"docs/commands.md does not document: {missing}"
    assert _has("--help", text)


def _anchors(markdown: Path) -> set[str]:
    out = set()
    for h in re.findall(r"^#{1,6} (.*)$", _prose(markdown.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", h.strip().lower().replace("`", "")).replace(" ", "-")
        out.add(slug)
    return out


def _pages() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_names_a_file_that_exists(page):
    links = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", _prose(page.read_text()))
    broken = []
    for link in links:
        if re.match(r"[a-z][a-z0-9+.-]*:", link):      # http:, https:, mailto:
            continue
        path, _, fragment = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(link)
        elif fragment and target.suffix == ".md" and fragment not in _anchors(target):
            broken.append(link)
    assert not broken, f"{page.relative_to(REPO)}: broken links {broken}"


def test_the_docs_exist_and_the_readme_links_each():
    readme = (REPO / "README.md").read_text()
    pages = sorted(DOCS.glob("*.md"))
    assert {p.name for p in pages} >= {"sweep-files.md", "commands.md", "run-folder.md", "clusters.md",
                                       "architecture.md", "benchmarks.md"}
    assert not [p.name for p in pages if f"(docs/{p.name})" not in readme]
