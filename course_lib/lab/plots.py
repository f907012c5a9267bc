"""One look for every figure in the course, starting with the race timeline.

Figures are returned, not shown, so a notebook cell ends with the figure (Jupyter renders it) and
a test can inspect it headless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib
from cycler import cycler

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from course_lib.lab.race import RaceResult

PALETTE = ["#3b6ea8", "#e07b39", "#4f9d69", "#b5485d", "#7d5ba6", "#8c7a3c", "#3c8c8c", "#a0a0a0"]
# One colour per backoff policy, course-wide: the same policy looks the same in every chart, whatever
# order a dict lists them in (notebook 03 draws them side by side).
SERIES_COLOURS = {"None": "#a0a0a0", "Constant": "#a0a0a0", "Exponential": "#b5485d", "FullJitter": "#3b6ea8",
                  "EqualJitter": "#4f9d69", "Decorr": "#e07b39"}
# Event labels drawn in a warning colour on every timeline: the moments a lesson points at.
ALARM_PREFIXES = ("error", "blocked", "duplicate", "lost", "stale")
# Past this many callers, per-event labels overlap into noise; only alarming events keep theirs.
MAX_LABELLED_LANES = 8


def style() -> None:
    """The course's figure style: quiet grid, readable fonts, consistent colours."""
    matplotlib.rcParams.update({
        "figure.figsize": (8, 3.2),
        "figure.dpi": 100,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=PALETTE),
        "font.size": 10,
    })


def timeline(result: RaceResult, x: str | None = None, title: str | None = None) -> Figure:
    """Swim lanes: one row per caller, one marker per event, labelled.

    x="step" spaces events evenly in the order they happened (the default in lock step, where
    the order is the story); x="time" places them at their measured time in milliseconds.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend needed

    style()
    x = x or ("step" if result.lockstep else "time")
    if x not in {"step", "time"}:
        raise ValueError("x must be 'step' or 'time'")
    lanes = {name: i for i, name in enumerate(result.callers)}
    labelled = len(lanes) <= MAX_LABELLED_LANES
    height = min(6.0, max(1.6, (0.55 if labelled else 0.3) * len(lanes) + 0.9))
    width = max(6.0, min(12.0, 0.5 * len(result.timeline) + 3)) if x == "step" else 9.0
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    pos = {e.step: (e.step if x == "step" else e.t * 1000) for e in result.timeline}
    for name, lane in lanes.items():
        events = [e for e in result.timeline if e.caller == name]
        if not events:
            continue
        colour = PALETTE[lane % len(PALETTE)]
        xs = [pos[e.step] for e in events]
        ax.plot(xs, [lane] * len(xs), "-", color=colour, alpha=0.35, lw=6, solid_capstyle="round")
        for e in events:
            alarm = e.label.startswith(ALARM_PREFIXES)
            ax.plot(pos[e.step], lane, "o", color="#c0392b" if alarm else colour, ms=7)
            if labelled or alarm:
                ax.annotate(e.label, (pos[e.step], lane), xytext=(0, 8), textcoords="offset points",
                            ha="center", fontsize=8, rotation=20, color="#c0392b" if alarm else "#333")
    ax.set_yticks(list(lanes.values()), list(lanes.keys()))
    ax.set_ylim(-0.9 if labelled else -0.6, len(lanes) - 0.2)  # room above the top lane for its labels
    ax.invert_yaxis()
    ax.set_xlabel("order of events" if x == "step" else "time since release (ms)")
    ax.set_title(title or ("lock-step interleaving" if result.lockstep else "concurrent run"), loc="left")
    fig.tight_layout()
    return fig


def grouped_bars(groups: dict[str, dict[str, float]], title: str) -> Figure:
    """One panel per measure (outer key), one bar per subject (inner key) in the same colour in every panel:
    measures with different units side by side without sharing an axis."""
    from matplotlib.figure import Figure

    style()
    fig = Figure(figsize=(3 * len(groups), 3))
    subjects = list(next(iter(groups.values())))
    for i, (measure, values) in enumerate(groups.items()):
        ax = fig.add_subplot(1, len(groups), i + 1)
        bars_ = ax.bar(subjects, [values[s] for s in subjects], color=PALETTE[:len(subjects)])
        ax.bar_label(bars_, fmt="%.3g", fontsize=8)
        ax.set_title(measure, loc="left", fontsize=10)
    fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def bars(values: dict[str, float], title: str, ylabel: str, reference: float | None = None) -> Figure:
    """One bar per key; `reference` draws the line the bars should sit on (e.g. "exactly once")."""
    from matplotlib.figure import Figure

    style()
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    ax.bar(list(values), list(values.values()), color=PALETTE[0])
    if reference is not None:
        ax.axhline(reference, color="#c0392b", ls="--", lw=1.2, label=f"expected: {reference:g}")
        ax.legend(loc="upper right")
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    fig.tight_layout()
    return fig


def lines(x: list[float], series: dict[str, list[float]], title: str, xlabel: str, ylabel: str,
          logy: bool = False, ax=None) -> Figure | None:
    """One line per series over a shared x axis; draws into `ax` when given (for side-by-side panels)."""
    from matplotlib.figure import Figure

    style()
    fig = None
    if ax is None:
        fig = Figure(figsize=(7, 3.4))
        ax = fig.add_subplot()
    for i, (name, ys) in enumerate(series.items()):
        colour = SERIES_COLOURS.get(name, PALETTE[i % len(PALETTE)])
        ax.plot(x, ys, marker="o", ms=3, lw=1.8, color=colour, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    ax.legend(fontsize=8)
    if fig is not None:
        fig.tight_layout()
    return fig


def panels(count: int, width: float = 12.0, height: float = 3.6) -> tuple[Figure, list]:
    """A row of `count` axes sharing one figure."""
    from matplotlib.figure import Figure

    style()
    fig = Figure(figsize=(width, height))
    return fig, list(fig.subplots(1, count))


def spans(labels: list[str], starts: list[float], ends: list[float], alarms: list[bool], title: str,
          xlabel: str, alarm_label: str = "retried") -> Figure:
    """One horizontal bar per item from start to end (e.g. each part of an upload); alarms in red."""
    from matplotlib.figure import Figure

    style()
    fig = Figure(figsize=(8, min(6.0, 0.9 + 0.22 * len(labels))))
    ax = fig.add_subplot()
    colours = ["#c0392b" if alarm else PALETTE[0] for alarm in alarms]
    ax.barh(labels, [e - s for s, e in zip(starts, ends, strict=True)], left=starts, color=colours, height=0.7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title + (f"  (red: {alarm_label})" if any(alarms) else ""), loc="left")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig
