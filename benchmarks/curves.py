"""The search comparison's figure: each run's anytime curve (best validation accuracy so
far against wall seconds since the command started), one colour per tool, one line per
seed, with the bars every tool is timed against."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def best_so_far(curve: list[list[float]]) -> tuple[list[float], list[float]]:
    xs, ys, best = [], [], float("-inf")
    for t, value in sorted(curve):
        if value > best:
            best = value
            xs.append(t)
            ys.append(best)
    return xs, ys


def draw(peers: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = peers["summary"]
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    end = max((run["wall_seconds"] for runs in peers["runs"].values() for run in runs), default=1.0)
    for i, (tool, runs) in enumerate(peers["runs"].items()):
        for j, run in enumerate(runs):
            xs, ys = best_so_far(run["curve"])
            if xs:
                ax.step(xs + [run["wall_seconds"]], ys + [ys[-1]], where="post", color=colours[i % len(colours)],
                        lw=2.0 if tool.startswith("tunefm") else 1.2, alpha=0.85,
                        label=tool if j == 0 else None)
    if summary.get("bar") is not None:
        ax.axhline(summary["bar"], color="black", lw=0.8, ls="--", label=f"peers' median best {summary['bar']}")
        ax.axhline(summary["bar_minus_half_point"], color="grey", lw=0.8, ls=":", label="0.5 points below")
        top = max((v for runs in peers["runs"].values() for run in runs for _, v in run["curve"]),
                  default=summary["bar"])
        ax.set_ylim(summary["bar"] - 0.06, max(top, summary["bar"]) + 0.005)
    ax.set_xlim(0, end * 1.02)
    ax.set_xlabel("wall seconds since the command started")
    ax.set_ylabel("best validation accuracy so far")
    task = peers["task"]
    ax.set_title(f"Fashion-MNIST {task['train']}/{task['val']}, {task['trials']} configurations, "
                 f"up to {task['max_epochs']} epochs; one line per seed")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
