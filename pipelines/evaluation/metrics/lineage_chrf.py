"""Corpus chrF / chrF++ as computed by sacreBLEU, as an `evaluate` metric module.

Lineage loads this file by path (`lineage.evaluation.metrics.load_metric("chrf")`), so it
works with no network. The numbers are sacreBLEU's own: the module only
reshapes the inputs and reads the result back.

Keep one `import` per line: evaluate scans this file for its dependencies and
misreads several modules on one line.
"""

import evaluate
import sacrebleu

from .references import ReferenceInputs, reference_lists, reference_streams, text_features

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


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LineageChrf(ReferenceInputs, evaluate.Metric):
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
            features=text_features(),
        )

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
        streams = reference_streams(reference_lists(predictions, references))
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
