"""Plot files: matplotlib without a display, figures written atomically, and the shapes every plot shares."""

import io
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from ..files import write_bytes  # noqa: E402
from .tables import tokens_text  # noqa: E402

__all__ = ["plt", "save", "band_line", "log_axis"]


def save(figure, run_dir: Path, name: str) -> str:
    """Write `figure` as the PNG `run_dir`/`name` (atomically) and close it; returns `name`."""
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=110)
    plt.close(figure)
    write_bytes(run_dir / name, image.getvalue())
    return name


def band_line(axis, x: list, scores: list[dict | None], label: str) -> None:
    """The mean over seeds against `x` (points where a score is None are left out) and, where seeds
    differ, their range as a band."""
    points = [(a, s) for a, s in zip(x, scores) if a is not None and s is not None]
    if not points:
        return
    xs = [a for a, _ in points]
    line, = axis.plot(xs, [s["mean"] for _, s in points], marker="o", label=label)
    if any(s["n"] > 1 for _, s in points):
        axis.fill_between(xs, [s["min"] for _, s in points], [s["max"] for _, s in points],
                          color=line.get_color(), alpha=0.2, linewidth=0)


def log_axis(axis, label: str, ticks: list[int] | None = None) -> None:
    """A log x axis labelled at `ticks` (budgets in target tokens, written as in the tables) or, without them,
    at 1, 2 and 5 times each power of ten; no minor labels, which overlap on a span of less than two decades."""
    axis.set_xscale("log")
    axis.set_xlabel(label)
    if ticks:
        axis.set_xticks(ticks, [tokens_text(t) for t in ticks])
    else:
        axis.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
        axis.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.grid(alpha=0.3, which="both")
