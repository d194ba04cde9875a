"""Lineage's evaluation metrics: `evaluate` modules kept in the project.

`evaluate.load("sacrebleu")` needs the Hugging Face Hub (the evaluate wheel
ships no metric scripts), so Lineage keeps its own metric modules beside this
file and loads them by path, which works offline and from any working
directory:

    from lineage.evaluation.metrics import load_metric
    bleu = load_metric("sacrebleu")
    bleu.compute(predictions=[...], references=[[...], ...])

The input checks the modules share are in references.py, which each module
imports relatively (`from .references import ...`). evaluate copies a module
and its relative imports into its modules cache (HF_MODULES_CACHE) under a
hash of their code, so an edited module or references.py is picked up by the
next load, in the same process or another one.
"""

from pathlib import Path

_HERE = Path(__file__).resolve().parent

# Metric name -> the module file that implements it.
METRIC_FILES = {
    "sacrebleu": _HERE / "lineage_bleu.py",
    "bleu": _HERE / "lineage_bleu.py",
    "chrf": _HERE / "lineage_chrf.py",
    "rouge": _HERE / "lineage_rouge.py",
}


def load_metric(name, **kwargs):
    """Load metric `name` ("sacrebleu"/"bleu", "chrf", "rouge") through `evaluate`.

    Keyword arguments go to `evaluate.load` (e.g. `experiment_id`,
    `num_process`, `process_id`). In a single process the default is
    `keep_in_memory=True`, so predictions are not written to evaluate's cache
    folder; with `num_process > 1` evaluate's file-based default is kept.
    """
    try:
        path = METRIC_FILES[name]
    except (KeyError, TypeError):
        choices = ", ".join(sorted(METRIC_FILES))
        raise ValueError(f"unknown metric {name!r}; choose one of: {choices}") from None
    import evaluate

    if kwargs.get("num_process", 1) == 1:
        kwargs.setdefault("keep_in_memory", True)
    return evaluate.load(str(path), **kwargs)


__all__ = ["METRIC_FILES", "load_metric"]
