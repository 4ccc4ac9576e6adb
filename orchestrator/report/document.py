"""``report.md`` and a self-contained ``report.html`` from the report's tables.

The HTML embeds every figure as a data URI (it opens offline, alone) and links each to
its PNG beside it.
"""
from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class ReportContent:
    title: str
    summary: list[tuple[str, str]]                     # (label, value) lines
    winner_config: dict[str, Any]                      # every setting (shown folded away)
    winner_scores: dict[str, Any]
    tables: list[tuple[str, pd.DataFrame]]             # (heading, table)
    figures: list[tuple[str, Path]]                    # (caption, png path)
    notes: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)    # what makes the numbers doubtful: shown in red, first
    refresh_seconds: int | None = None                 # --watch: the browser reloads the page this often
    winner_chosen: dict[str, Any] = field(default_factory=dict)    # what the sweep searched, as the winner has it
    winner_changed: dict[str, Any] = field(default_factory=dict)   # other settings off the family's defaults


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def markdown_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(none)_"
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def html_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><em>(none)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv(d: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({"setting": list(d), "value": [_cell(v) for v in d.values()]})


def _chosen_lines(content: ReportContent, table) -> list[str]:
    """The searched parameters and the other changed settings, as tables."""
    out = []
    if content.winner_chosen:
        out += ["searched by the sweep:", table(_kv(content.winner_chosen))]
    out += ["set off the family's defaults:", table(_kv(content.winner_changed))] if content.winner_changed else \
        ["every other setting is the family's default" if content.winner_chosen else
         "every setting is the family's default"]
    return out


def write_markdown(content: ReportContent, path: Path) -> Path:
    out = [f"# {content.title}", ""]
    out += [f"- **{k}:** {v}" for k, v in content.summary] + [""]
    out += [f"> **Warning:** {a}" for a in content.alarms] + ([""] if content.alarms else [])
    out += [f"> {n}" for n in content.notes] + ([""] if content.notes else [])
    if content.winner_scores:
        out += ["## Winner on the test split", "", markdown_table(_kv(content.winner_scores)), ""]
    if content.winner_config:
        out += ["## What the winner is", "", *_chosen_lines(content, markdown_table), ""]
    for heading, table in content.tables:
        out += [f"## {heading}", "", markdown_table(table), ""]
    if content.winner_config:
        out += ["## The winner's every setting", "", markdown_table(_kv(content.winner_config)), ""]
    out += ["## Figures", ""]
    for caption, fig in content.figures:
        out += [f"### {caption}", "", f"![{caption}](figures/{fig.name})", ""]
    _write(path, "\n".join(out))
    return path


CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
.note{background:#fff7e0;padding:6px 10px;border-left:4px solid #e0b000}figure{margin:1em 0 2em}
.alarm{background:#ffe8e8;color:#a00000;font-weight:bold;padding:6px 10px;border-left:4px solid #d00000}"""


def write_html(content: ReportContent, path: Path) -> Path:
    refresh = (f"<meta http-equiv='refresh' content='{int(content.refresh_seconds)}'>"
               if content.refresh_seconds else "")
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{refresh}"
             f"<title>{html.escape(content.title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(content.title)}</h1><ul>"]
    parts += [f"<li><b>{html.escape(k)}:</b> {html.escape(v)}</li>" for k, v in content.summary]
    parts.append("</ul>")
    parts += [f"<p class='alarm'>Warning: {html.escape(a)}</p>" for a in content.alarms]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in content.notes]
    if content.winner_scores:
        parts += ["<h2>Winner on the test split</h2>", html_table(_kv(content.winner_scores))]
    if content.winner_config:
        parts += ["<h2>What the winner is</h2>",
                  *[line if line.startswith("<") else f"<p>{html.escape(line)}</p>"
                    for line in _chosen_lines(content, html_table)],
                  f"<details><summary>every setting ({len(content.winner_config)})</summary>"
                  f"{html_table(_kv(content.winner_config))}</details>"]
    for heading, table in content.tables:
        parts += [f"<h2>{html.escape(heading)}</h2>", html_table(table)]
    parts.append("<h2>Figures</h2>")
    for caption, fig in content.figures:
        data = base64.b64encode(fig.read_bytes()).decode()
        parts.append(f"<figure><figcaption><a href='figures/{html.escape(fig.name)}'>{html.escape(caption)}</a>"
                     f"</figcaption><img alt='{html.escape(fig.name)}' src='data:image/png;base64,{data}'></figure>")
    parts.append("</body></html>")
    _write(path, "".join(parts))
    return path


def _write(path: Path, text: str) -> None:
    """Atomically: a browser reloading a --watch'ed page never reads half of one."""
    from orchestrator.store.parquet import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"))
