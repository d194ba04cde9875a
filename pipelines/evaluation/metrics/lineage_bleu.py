"""Corpus BLEU as computed by sacreBLEU, as an `evaluate` metric module.

Lineage loads this file by path (`lineage.evaluation.metrics.load_metric("sacrebleu")`),
so it works with no network. The numbers are sacreBLEU's own: the module only
reshapes the inputs and reads the result back.

Keep one `import` per line: evaluate scans this file for its dependencies and
misreads several modules on one line.
"""

import evaluate
import sacrebleu

from .references import ReferenceInputs, reference_lists, reference_streams, text_features

_CITATION = """\
@inproceedings{papineni-etal-2002-bleu,
    title = "{B}leu: a Method for Automatic Evaluation of Machine Translation",
    author = "Papineni, Kishore and Roukos, Salim and Ward, Todd and Zhu, Wei-Jing",
    booktitle = "Proceedings of the 40th Annual Meeting of the Association for Computational Linguistics",
    year = "2002",
    pages = "311--318",
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
Corpus-level BLEU (Papineni et al., 2002) computed by sacreBLEU (Post, 2018),
which tokenizes the detokenized text itself so that scores are comparable, and
reports a signature string that records every setting that changes the number.
Scores are on sacreBLEU's 0-100 scale.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: list of str, one detokenized system output per example.
    references: per example, a list of str (one or more references), or a
        single str. Examples may have different numbers of references: the
        missing ones are passed to sacreBLEU as None, its way of marking a
        variable reference count, and the signature then says nrefs:var.
        An example with no reference at all is an error.
    tokenize: sacreBLEU tokenizer name ('13a', 'intl', 'zh', 'ja-mecab',
        'char', 'none', ...). Default None means sacreBLEU's default ('13a').
    lowercase: lowercase both sides before scoring. Default False.
    smooth_method: 'exp' (default), 'floor', 'add-k' or 'none'.
    smooth_value: value for 'floor' / 'add-k'; None uses sacreBLEU's default.
    use_effective_order: ignore n-gram orders with no match (for sentence
        BLEU). Default False.
    force: do not warn about input that looks tokenized. Default False.
Returns:
    score: corpus BLEU, 0-100.
    counts: matching n-gram counts, orders 1-4.
    totals: hypothesis n-gram counts, orders 1-4.
    precisions: n-gram precisions, 0-100, orders 1-4.
    bp: brevity penalty.
    sys_len: hypothesis length in tokens.
    ref_len: effective reference length in tokens (closest reference).
    signature: the sacreBLEU signature, e.g.
        'nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0'.
Examples:
    >>> bleu = load_metric("sacrebleu")
    >>> out = bleu.compute(predictions=["a cat sat on the mat"],
    ...                    references=[["a cat sat on the mat", "the cat sat"]])
    >>> round(out["score"], 2), out["signature"]
    (100.0, 'nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0')
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LineageBleu(ReferenceInputs, evaluate.Metric):
    """sacreBLEU corpus BLEU with its signature."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            homepage="https://github.com/mjpost/sacrebleu",
            codebase_urls=["https://github.com/mjpost/sacrebleu"],
            reference_urls=["https://aclanthology.org/W18-6319/"],
            features=text_features(),
        )

    def _compute(
        self,
        predictions,
        references,
        tokenize=None,
        lowercase=False,
        smooth_method="exp",
        smooth_value=None,
        use_effective_order=False,
        force=False,
    ):
        streams = reference_streams(reference_lists(predictions, references))
        bleu = sacrebleu.BLEU(
            lowercase=lowercase,
            force=force,
            tokenize=tokenize,
            smooth_method=smooth_method,
            smooth_value=smooth_value,
            effective_order=use_effective_order,
        )
        result = bleu.corpus_score(list(predictions), streams)
        return {
            "score": float(result.score),
            "counts": [int(c) for c in result.counts],
            "totals": [int(t) for t in result.totals],
            "precisions": [float(p) for p in result.precisions],
            "bp": float(result.bp),
            "sys_len": int(result.sys_len),
            "ref_len": int(result.ref_len),
            "signature": str(bleu.get_signature()),
        }
