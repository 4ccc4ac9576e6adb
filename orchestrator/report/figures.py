"""Report figures, drawn from the leaderboard and evaluation DataFrames (matplotlib, PNG).

Each function takes data and a path and writes one figure; none computes a result
the report states (that is the job of ``leaderboard`` and ``holdout``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from orchestrator.store import schema as S


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def learning_curves(metrics: pd.DataFrame, trial_ids: list[str], path: Path) -> Path:
    plt = _plt()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.cm.tab10(np.linspace(0, 1, 10))
    for i, tid in enumerate(trial_ids):
        rows = metrics[metrics[S.TRIAL_ID] == tid].sort_values(S.EPOCH)
        if rows.empty:
            continue
        c, fam = colors[i % 10], rows[S.FAMILY].iloc[0]
        ax_loss.plot(rows[S.EPOCH], rows["train_loss"], "--", color=c)
        ax_loss.plot(rows[S.EPOCH], rows["val_loss"], "-", color=c, label=f"{tid} ({fam})")
        ax_acc.plot(rows[S.EPOCH], rows["train_accuracy"], "--", color=c)
        ax_acc.plot(rows[S.EPOCH], rows["val_accuracy"], "-", color=c, label=f"{tid} ({fam})")
    ax_loss.set(title="loss (dashed: train, solid: validation)", xlabel="epoch", ylabel="loss")
    ax_acc.set(title="accuracy (dashed: train, solid: validation)", xlabel="epoch", ylabel="accuracy")
    ax_acc.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def test_accuracy_bars(table: pd.DataFrame, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(table) + 2), 4))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["val_accuracy"], 0.4, label="validation (best epoch)")
    ax.bar(x + 0.2, table["test_accuracy"], 0.4, label="test")
    for xi, v in zip(x, table["test_accuracy"]):
        ax.text(xi + 0.2, v, f"{v:.3f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [f"{t}\n{f}" for t, f in zip(table[S.TRIAL_ID], table[S.FAMILY])], fontsize=7)
    low = float(np.nanmin(table[["val_accuracy", "test_accuracy"]].to_numpy())) if len(table) else 0
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set(title="accuracy of the evaluated trials", ylabel="accuracy")
    ax.legend(fontsize=8)
    return _save(fig, path)


def confusion_matrix(confusion: list[list[int]], class_names: list[str], title: str, path: Path) -> Path:
    plt = _plt()
    cm = np.asarray(confusion)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * n, 0.8 + 0.7 * n))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    return _save(fig, path)


def roc(curves: list[tuple[np.ndarray, np.ndarray, float]], class_names: list[str], title: str,
        path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    for (fpr, tpr, auc), name in zip(curves, class_names):
        ax.plot(fpr, tpr, lw=1, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def _axis_values(values: pd.Series) -> tuple[np.ndarray, list[str] | None, bool]:
    """Numbers to plot, tick labels for categorical values, and whether to use a log axis."""
    numeric = pd.to_numeric(values, errors="coerce")
    if values.dtype != bool and numeric.notna().all() and values.dtype != object:
        v = numeric.to_numpy(dtype=float)
        positive = v[v > 0]
        log = len(positive) == len(v) and len(v) > 1 and positive.max() / positive.min() > 20
        return v, None, log
    labels = sorted({str(x) for x in values})
    return np.array([labels.index(str(x)) for x in values], dtype=float), labels, False


def hyperparameters(overall: pd.DataFrame, columns: list[str], metric: str, path: Path) -> Path:
    plt = _plt()
    scored = overall[overall["score"].notna()]
    cols = [c for c in columns if c in scored and scored[c].notna().any()] or ["params"]
    ncols = min(3, len(cols))
    nrows = int(np.ceil(len(cols) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    families = sorted(scored[S.FAMILY].unique())
    colors = dict(zip(families, plt.cm.tab10(np.arange(len(families)) % 10)))
    for ax, col in zip(axes.flat, cols):
        part = scored[scored[col].notna()]
        x, labels, log = _axis_values(part[col])
        for fam in families:
            mask = (part[S.FAMILY] == fam).to_numpy()
            ax.scatter(x[mask], part["score"].to_numpy()[mask], s=18, color=colors[fam], label=fam)
        if labels is not None:
            ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=30)
        if log:
            ax.set_xscale("log")
        ax.set(xlabel=col.removeprefix(S.CONFIG_PREFIX), ylabel=metric)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"best {metric} of each trial against each searched hyperparameter")
    return _save(fig, path)


def _parallel_panel(ax, rows: pd.DataFrame, columns: list[str], metric: str, norm, cmap) -> None:
    axes_data, names = [], []
    for col in columns + ["score"]:
        x, labels, log = _axis_values(rows[col])
        if log:
            x = np.log10(x)
        span = x.max() - x.min() if len(x) else 0
        axes_data.append((x - x.min()) / span if span > 0 else np.full_like(x, 0.5))
        names.append(metric if col == "score" else col.removeprefix(S.CONFIG_PREFIX) + (" (log)" if log else ""))
    for line, s in zip(np.array(axes_data).T, rows["score"].to_numpy(dtype=float)):
        ax.plot(range(len(names)), line, color=cmap(norm(s)), alpha=0.85)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_yticks([0, 1], ["low", "high"])


def parallel_coordinates(overall: pd.DataFrame, columns: list[str], metric: str, path: Path) -> Path:
    """One panel per family, each with only the parameters that family searched."""
    plt = _plt()
    scored = overall[overall["score"].notna()]
    families = sorted(scored[S.FAMILY].unique())
    fig, axes = plt.subplots(len(families), 1, figsize=(9, 3.4 * len(families)), squeeze=False,
                             layout="constrained")
    score = scored["score"].to_numpy(dtype=float)
    norm = plt.Normalize(np.nanmin(score), np.nanmax(score))
    for ax, fam in zip(axes.flat, families):
        rows = scored[scored[S.FAMILY] == fam]
        cols = [c for c in columns if c in rows and rows[c].notna().all() and rows[c].nunique() > 1]
        _parallel_panel(ax, rows, cols, metric, norm, plt.cm.viridis)
        ax.set_title(f"{fam}: searched parameters (colour: {metric})", fontsize=10)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=list(axes.flat), label=metric)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def asha(metrics: pd.DataFrame, trials: pd.DataFrame, metric: str, path: Path) -> Path:
    plt = _plt()
    families = sorted(trials[S.FAMILY].unique())
    fig, axes = plt.subplots(1, len(families), figsize=(4.5 * len(families), 3.8), squeeze=False)
    status = trials.set_index(S.TRIAL_ID)[S.STATUS]
    for ax, fam in zip(axes.flat, families):
        rows = metrics[metrics[S.FAMILY] == fam]
        for tid, g in rows.groupby(S.TRIAL_ID):
            g = g.sort_values(S.EPOCH).dropna(subset=[metric])
            if g.empty:
                continue
            st = status.get(tid, "")
            color = {S.EARLY_STOPPED: "tab:red", S.COMPLETED: "tab:green"}.get(st, "tab:grey")
            ax.plot(g[S.EPOCH], g[metric], color=color, alpha=0.6, lw=1)
            ax.plot(g[S.EPOCH].iloc[-1], g[metric].iloc[-1], "x" if st == S.EARLY_STOPPED else "o",
                    color=color, ms=5)
        ax.set(title=f"{fam}", xlabel="epoch", ylabel=metric)
    fig.suptitle("every trial by epoch (red x: stopped early by ASHA, green: trained to the end)")
    return _save(fig, path)


def best_per_family(bests: pd.DataFrame, evaluated: pd.DataFrame, metric: str, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(bests) + 2), 3.8))
    x = np.arange(len(bests))
    ax.bar(x - 0.2, bests["score"], 0.4, label=f"best {metric}")
    test = bests[S.TRIAL_ID].map(evaluated.set_index(S.TRIAL_ID)["test_accuracy"]) if len(evaluated) else None
    if test is not None:
        ax.bar(x + 0.2, test, 0.4, label="its test accuracy")
    ax.set_xticks(x, bests["board"])
    ax.set(title="best result per family")
    ax.legend(fontsize=8)
    return _save(fig, path)


def factor_effects(effects: pd.DataFrame, metric: str, path: Path) -> Path:
    """Each one-factor change's mean against the baseline's, with the baseline's spread."""
    plt = _plt()
    families = sorted(effects[S.FAMILY].unique())
    fig, axes = plt.subplots(len(families), 1, figsize=(8, 0.45 * len(effects) + 1.8 * len(families)),
                             squeeze=False, layout="constrained")
    for ax, fam in zip(axes.flat, families):
        rows = effects[(effects[S.FAMILY] == fam) & (effects["factor"] != "baseline")]
        labels = [f"{f}={v}" for f, v in zip(rows["factor"], rows["value"])]
        y = np.arange(len(rows))
        colors = ["tab:green" if d > 0 else "tab:red" for d in rows["delta_vs_baseline"]]
        ax.barh(y, rows["delta_vs_baseline"], xerr=rows["std"].fillna(0), color=colors, alpha=0.8)
        spread = effects[(effects[S.FAMILY] == fam)]["baseline_std"].iloc[0] if len(rows) else float("nan")
        if np.isfinite(spread):
            ax.axvspan(-spread, spread, color="grey", alpha=0.2, label="baseline ± 1 std over its repeats")
            ax.legend(fontsize=7, loc="lower right")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, labels, fontsize=8)
        ax.set(title=f"{fam}: change in mean {metric} from the baseline", xlabel=f"delta {metric}")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def importance(table: pd.DataFrame, path: Path) -> Path:
    plt = _plt()
    families = sorted(table[S.FAMILY].unique())
    fig, axes = plt.subplots(1, len(families), figsize=(4.5 * len(families), 0.35 * table.groupby(S.FAMILY).size().max()
                                                         + 1.5), squeeze=False, layout="constrained")
    for ax, fam in zip(axes.flat, families):
        rows = table[table[S.FAMILY] == fam].sort_values("importance")
        ax.barh(rows["parameter"], rows["importance"], color="tab:blue")
        ax.set(title=f"{fam} ({int(rows['trials'].iloc[0])} trials)", xlabel="share of variance (fANOVA)")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pareto(table: pd.DataFrame, test: pd.DataFrame, metric: str, path: Path) -> Path:
    """Score against parameters and against batch-1 latency; each front drawn as a step line,
    its members labelled with their test accuracy where the report evaluated them."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    test_acc = test.set_index(S.TRIAL_ID)["test_accuracy"] if len(test) else pd.Series(dtype=float)
    panels = [("params", "on_params_front", "parameters (log scale)"),
              ("ms_per_image_batch1", "on_latency_front", "ms per image at batch 1 (log scale, this machine)")]
    for ax, (col, flag, label) in zip(axes, panels):
        rows = table[table[col].notna() & table["score"].notna()]
        for fam, g in rows.groupby(S.FAMILY):
            ax.scatter(g[col], g["score"], s=18, alpha=0.6, label=fam)
        front = rows[rows[flag]].sort_values(col)
        ax.step(front[col], front["score"], where="post", color="black", linewidth=1)
        ax.scatter(front[col], front["score"], s=40, facecolors="none", edgecolors="black")
        for _, r in front.iterrows():
            t = test_acc.get(r[S.TRIAL_ID])
            ax.annotate(f"{r[S.TRIAL_ID]}" + (f"\ntest {t:.3f}" if t is not None and pd.notna(t) else ""),
                        (r[col], r["score"]), fontsize=6, xytext=(3, -10), textcoords="offset points")
        if len(rows) and (rows[col] > 0).all():
            ax.set_xscale("log")
        ax.set(xlabel=label, ylabel=f"{metric} (validation)")
    axes[0].set_title("score against size: the front")
    axes[1].set_title("score against latency: the front")
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def anytime_curves(curves: dict[str, pd.DataFrame], metric: str, path: Path) -> Path:
    """Each run's best validation score so far, against wall seconds and against epochs trained."""
    plt = _plt()
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(11, 4))
    for name, c in curves.items():
        if c.empty:
            continue
        ax_t.step(c["seconds"], c["best"], where="post", label=name)
        ax_e.step(c["epochs"], c["best"], where="post", label=name)
    ax_t.set(xlabel="wall seconds since the run started", ylabel=f"best {metric} so far", title="against time")
    ax_e.set(xlabel="epochs trained (all trials)", ylabel=f"best {metric} so far", title="against epochs")
    ax_t.legend(fontsize=7)
    return _save(fig, path)


def schedule(sched: pd.DataFrame, params: list[str], copies: pd.DataFrame, title: str, path: Path) -> Path:
    """The winner's schedule: each mutated parameter over its epochs (a step per change),
    with the epochs another member trained shaded by trainer."""
    plt = _plt()
    fig, axes = plt.subplots(len(params), 1, figsize=(8, 1.9 * len(params) + 0.8), sharex=True, squeeze=False)
    trainers = list(dict.fromkeys(sched["trained_by"]))
    colours = plt.cm.Pastel1(np.linspace(0, 1, max(len(trainers), 2)))
    for ax, p in zip(axes[:, 0], params):
        for epoch, by in zip(sched[S.EPOCH], sched["trained_by"]):
            ax.axvspan(epoch - 0.5, epoch + 0.5, color=colours[trainers.index(by) % len(colours)], lw=0)
        ax.step(sched[S.EPOCH], sched[p], where="mid", color="black")
        ax.plot(sched[S.EPOCH], sched[p], "o", color="black", ms=3)
        ax.set_ylabel(p, fontsize=8)
        if p == "lr" or (sched[p].dropna() > 0).all() and sched[p].max() / max(sched[p].min(), 1e-12) > 20:
            ax.set_yscale("log")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[i % len(colours)]) for i in range(len(trainers))]
    axes[0, 0].legend(handles, [f"trained by {t}" for t in trainers], fontsize=7, loc="upper right")
    axes[0, 0].set_title(title, fontsize=9)
    axes[-1, 0].set_xlabel("epoch")
    return _save(fig, path)
