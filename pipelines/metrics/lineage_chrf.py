"""Corpus chrF / chrF++ as computed by sacreBLEU, as an `evaluate` metric module.

Lineage loads this file by path (`pipelines.metrics.load_metric("chrf")`), so it
works with no network. The numbers are sacreBLEU's own: the module only
reshapes the inputs and reads the result back.

Keep one `import` per line: evaluate scans this file for its dependencies and
misreads several modules on one line.
"""

import datasets
import evaluate
import sacrebleu

_CITATION = """\
@inproceedings{popovic-2015-chrf,
    title = "chr{F}: character n-gram {F}-score for automatic {MT} evaluation",
    author = "Popovi{\\'c}, Maja",
    booktitle = "Proceedings of the Tenth Workshop on Statistical Machine Translation",
    year = "2015",
    pages = "392--395",
}
@inproceedings{popovic-2017-chrf,
    title = "chr{F}++: words helping character n-grams",
    author = "Popovi{\\'c}, Maja",
    booktitle = "Proceedings of the Second Conference on Machine Translation",
    year = "2017",
    pages = "612--618",
}
@inproceedings{post-2018-call,
    title = "A Call for Clarity in Reporting {BLEU} Scores",
    author = "Post, Matt",
    booktitle = "Proceedings of the Third Conference on Machine Translation: Research Papers",
    year = "2018",
    pages = "186--191",
}
"""

_DESCRIPTION = """\
Corpus-level chrF (Popovic, 2015), a character n-gram F-score, computed by
sacreBLEU with its signature string. With word_order=2 it is chrF++
(Popovic, 2017), which adds word unigrams and bigrams. Scores are on
sacreBLEU's 0-100 scale.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: list of str, one detokenized system output per example.
    references: per example, a list of str (one or more references), or a
        single str. Examples may have different numbers of references: the
        missing ones are passed to sacreBLEU as None, its way of marking a
        variable reference count, and the signature then says nrefs:var.
        An example with no reference at all is an error.
    char_order: character n-gram order. Default 6.
    word_order: word n-gram order. Default 0 (chrF); 2 gives chrF++.
    beta: weight of recall relative to precision. Default 2.
    lowercase: lowercase both sides before scoring. Default False.
    whitespace: keep whitespace in character n-grams. Default False.
    eps_smoothing: epsilon smoothing as in chrF++.py / NLTK / Moses instead
        of sacreBLEU's effective-order default. Default False.
Returns:
    score: corpus chrF (or chrF++), 0-100.
    char_order, word_order, beta: the settings used.
    signature: the sacreBLEU signature, e.g.
        'nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0'.
Examples:
    >>> chrf = load_metric("chrf")
    >>> out = chrf.compute(predictions=["a cat sat on the mat"],
    ...                    references=[["a cat sat on the mat"]], word_order=2)
    >>> round(out["score"], 2), out["signature"]
    (100.0, 'nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.6.0')
"""


def _as_reference_list(refs, index):
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


def _check_predictions(predictions):
    for index, prediction in enumerate(predictions):
        if not isinstance(prediction, str):
            raise TypeError(
                f"predictions[{index}] must be a str, got {type(prediction).__name__}"
            )


def _reference_lists(predictions, references):
    """Per-example lists of reference strings, checked."""
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predictions but {len(references)} reference entries"
        )
    if not predictions:
        raise ValueError("no predictions to score")
    ref_lists = [_as_reference_list(refs, index) for index, refs in enumerate(references)]
    for index, refs in enumerate(ref_lists):
        if not refs:
            raise ValueError(f"example {index} has no reference")
    return ref_lists


def _reference_streams(ref_lists):
    """Transpose per-example reference lists into sacreBLEU's reference streams.

    Stream k holds the k-th reference of every example. Examples with fewer
    references get None in the later streams, which sacreBLEU skips.
    """
    width = max(len(refs) for refs in ref_lists)
    return [
        [refs[k] if k < len(refs) else None for refs in ref_lists]
        for k in range(width)
    ]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LineageChrf(evaluate.Metric):
    """sacreBLEU corpus chrF / chrF++ with its signature."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            homepage="https://github.com/mjpost/sacrebleu",
            codebase_urls=["https://github.com/mjpost/sacrebleu"],
            reference_urls=[
                "https://aclanthology.org/W15-3049/",
                "https://aclanthology.org/W17-4770/",
            ],
            # A plain str reference is made a one-element list by add/add_batch
            # below, so one format serves one and several references.
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    # Each row's references may be a str or a list of str. Every row is made a
    # list of str here, before evaluate encodes it: evaluate type-checks only
    # the first row of a batch and would silently split a later str reference
    # into a list of characters.
    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of predictions and references (see below)."""
        if predictions is not None:
            _check_predictions(predictions)
        if references is not None:
            references = [_as_reference_list(r, i) for i, r in enumerate(references)]
        super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one prediction and its reference(s) (see below)."""
        if prediction is not None:
            _check_predictions([prediction])
        if reference is not None:
            reference = _as_reference_list(reference, 0)
        super().add(prediction=prediction, reference=reference, **kwargs)

    def _compute(
        self,
        predictions,
        references,
        char_order=sacrebleu.CHRF.CHAR_ORDER,
        word_order=sacrebleu.CHRF.WORD_ORDER,
        beta=sacrebleu.CHRF.BETA,
        lowercase=False,
        whitespace=False,
        eps_smoothing=False,
    ):
        streams = _reference_streams(_reference_lists(predictions, references))
        chrf = sacrebleu.CHRF(
            char_order=char_order,
            word_order=word_order,
            beta=beta,
            lowercase=lowercase,
            whitespace=whitespace,
            eps_smoothing=eps_smoothing,
        )
        result = chrf.corpus_score(list(predictions), streams)
        return {
            "score": float(result.score),
            "char_order": int(char_order),
            "word_order": int(word_order),
            "beta": int(beta),
            "signature": str(chrf.get_signature()),
        }
