"""The study's numbers by training budget: each cell is also tested at its task's milestones
(`Grid.scores_by_budget`), so a section shows, beside its full-budget answer, who leads at each
smaller budget. A series is one `stats.summary` (or None: not measured) per budget."""

from ..report.plots import band_line, log_axis, plt
from ..report.tables import markdown_table, tokens_text


def table(budgets: list[int], series: dict[str, list[dict | None]], label: str) -> list[str]:
    """Markdown lines: one row per series, the mean (± std over seeds) at each budget."""
    def cell(s):
        return "—" if s is None else f"{s['mean']:.2f}" + (f" ± {s['std']:.2f}" if s["n"] > 1 else "")

    return markdown_table([label] + [f"{tokens_text(b)} tokens" for b in budgets],
                          [[name] + [cell(s) for s in points] for name, points in series.items()])


def draw(axis, budgets: list[int], series: dict[str, list[dict | None]], metric: str) -> None:
    """One line per series (the mean over seeds) and its seeds' range as a band, against budget (log x)."""
    for name, points in series.items():
        band_line(axis, budgets, points, name)
    log_axis(axis, "training target tokens", budgets)
    axis.set_ylabel(f"test {metric}")
    axis.legend(fontsize=7)


def figure(panels: dict[str, tuple[list[int], dict, str]], title: str):
    """One panel per (budgets, series, metric) of `panels`, titled by its key; None when nothing was measured."""
    panels = {name: panel for name, panel in panels.items() if panel[0]}
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for axis, (name, (budgets, series, metric)) in zip(axes[0], panels.items()):
        draw(axis, budgets, series, metric)
        axis.set_title(name, fontsize=9)
    fig.suptitle(title + " (line: mean over seeds; band: their range)")
    return fig
