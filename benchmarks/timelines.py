"""The search comparison's timeline figure: for one run of each tool (its first seed), a
row per slot (worker processes packed by their lifetimes: Ray Tune starts one per trial), a
bar per trained epoch, trials told apart by shade. A gap in a
row is time that slot trained nothing (start-up, model building, evaluation, or waiting
for work), so idle slots at a sweep's tail show."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(peers: dict[str, Any], out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    firsts = {tool: runs[0] for tool, runs in peers["runs"].items() if runs and runs[0].get("epochs")}
    if not firsts:
        return None
    end = max(run["wall_seconds"] for run in firsts.values())
    workers = {tool: lanes(run["epochs"]) for tool, run in firsts.items()}
    heights = [max(1, len(set(w.values()))) * 0.35 + 0.6 for w in workers.values()]
    fig, axes = plt.subplots(len(firsts), 1, figsize=(9, sum(heights) + 0.6), sharex=True,
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (tool, run) in zip(axes[:, 0], firsts.items()):
        order = {t: i for i, t in enumerate(dict.fromkeys(e[0] for e in sorted(run["epochs"], key=lambda e: e[1])))}
        lane = workers[tool]
        rows = sorted(set(lane.values()))
        for e in run["epochs"]:
            grown = len(e) > 4 and (e[4] or 1) > 1
            shade = ("tab:orange", "darkorange") if grown else ("tab:blue", "steelblue")
            ax.barh(lane[e[3]], e[2] - e[1], left=e[1], height=0.7, color=shade[order[e[0]] % 2],
                    edgecolor="white", linewidth=0.3)
        ax.axvline(run["wall_seconds"], color="black", lw=0.8)
        ax.set_yticks(rows, [f"slot {i + 1}" for i in rows], fontsize=6)
        ax.invert_yaxis()
        idle = run.get("idle_slot_share")
        ax.set_title(f"{tool}, seed {run.get('seed', peers['task']['seeds'][0])}: {run['wall_seconds']:.0f} s, "
                     f"{run['slots']} slot(s)" + (f", {idle:.1%} of slot-time idle" if idle is not None else ""),
                     fontsize=8, loc="left")
    axes[-1, 0].set_xlim(0, end * 1.02)
    axes[-1, 0].set_xlabel("seconds since the tool's process started (a bar per epoch; orange: a grown trial; "
                           "black line: search over)", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def lanes(epochs: list[list]) -> dict:
    """Worker -> row: each worker (``e[3]``) lives from its first epoch's start to its last
    one's end and takes the lowest row free when it starts.

    >>> lanes([["a", 0, 5, 10], ["b", 0, 4, 11], ["c", 4, 8, 12], ["d", 6, 9, 13]])
    {11: 0, 10: 1, 12: 0, 13: 1}
    """
    life: dict = {}
    for e in epochs:
        a, b = life.get(e[3], (e[1], e[2]))
        life[e[3]] = (min(a, e[1]), max(b, e[2]))
    free_at: list[float] = []
    out = {}
    for worker, (a, b) in sorted(life.items(), key=lambda kv: kv[1]):
        row = next((i for i, t in enumerate(free_at) if t <= a + 1e-6), len(free_at))
        if row == len(free_at):
            free_at.append(b)
        else:
            free_at[row] = b
        out[worker] = row
    return out
