"""Input checks and reference handling shared by Lineage's metric modules.

Not a metric: lineage_bleu.py, lineage_chrf.py and lineage_rouge.py import it
with a relative import (`from .references import ...`). When evaluate loads a
metric module by path it copies the relative imports it finds in that module
into its modules cache beside it, and hashes them with it, so an edit here is
picked up by the next load of every metric, as an edit to the metric itself is.
evaluate does not follow imports further, so this module must not import
siblings of its own.

It must not define a subclass of `evaluate.Metric` either: evaluate takes the
first such class in a metric module's namespace as the metric.
"""

import datasets


def as_reference_list(refs, index):
    """One example's references as a list of str; a bare str becomes [str]."""
    if isinstance(refs, str):
        return [refs]
    try:
        refs = list(refs)
    except TypeError:
        refs = None
    if refs is None or not all(isinstance(r, str) for r in refs):
        raise TypeError(f"references[{index}] must be a str or a list of str")
    return refs


def check_predictions(predictions):
    """Raise TypeError unless every prediction is a str."""
    for index, prediction in enumerate(predictions):
        if not isinstance(prediction, str):
            raise TypeError(
                f"predictions[{index}] must be a str, got {type(prediction).__name__}"
            )


def reference_lists(predictions, references):
    """Per-example lists of reference strings, checked."""
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predictions but {len(references)} reference entries"
        )
    if not predictions:
        raise ValueError("no predictions to score")
    ref_lists = [as_reference_list(refs, index) for index, refs in enumerate(references)]
    for index, refs in enumerate(ref_lists):
        if not refs:
            raise ValueError(f"example {index} has no reference")
    return ref_lists


def reference_streams(ref_lists):
    """Transpose per-example reference lists into sacreBLEU's reference streams.

    Stream k holds the k-th reference of every example. Examples with fewer
    references get None in the later streams, which sacreBLEU skips.
    """
    width = max(len(refs) for refs in ref_lists)
    return [
        [refs[k] if k < len(refs) else None for refs in ref_lists]
        for k in range(width)
    ]


def text_features():
    """The input format of every Lineage metric: a str prediction, a list of str references.

    A plain str reference is made a one-element list by
    `ReferenceInputs.add` / `add_batch`, so one format serves one and several
    references.
    """
    return datasets.Features(
        {
            "predictions": datasets.Value("string"),
            "references": datasets.Sequence(datasets.Value("string")),
        }
    )


class ReferenceInputs:
    """Mixin for an `evaluate.Metric` whose inputs are `text_features()`.

    List it before `evaluate.Metric` in the bases. Each row's references may be
    a str or a list of str. Every row is made a list of str here, before
    evaluate encodes it: evaluate type-checks only the first row of a batch and
    would silently split a later str reference into a list of characters.
    """

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of predictions and references (see below)."""
        if predictions is not None:
            check_predictions(predictions)
        if references is not None:
            references = [as_reference_list(r, i) for i, r in enumerate(references)]
        super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one prediction and its reference(s) (see below)."""
        if prediction is not None:
            check_predictions([prediction])
        if reference is not None:
            reference = as_reference_list(reference, 0)
        super().add(prediction=prediction, reference=reference, **kwargs)
