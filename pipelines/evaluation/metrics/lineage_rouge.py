"""ROUGE-1/2/L/Lsum as computed by Google's rouge_score, as an `evaluate` metric module.

Lineage loads this file by path (`lineage.evaluation.metrics.load_metric("rouge")`), so
it works with no network. Every per-example number is rouge_score's own
(`RougeScorer.score_multi`); this module only splits sentences for ROUGE-Lsum
and averages over examples.

Decisions, so that reports can state them:

- Scale: F-measure times 100 (0-100), like sacreBLEU's BLEU and chrF.
- Stemming: on by default (Porter stemmer inside rouge_score), as in the
  summarization literature.
- Several references: for each example and each ROUGE type, the reference
  with the highest F-measure counts (rouge_score's `score_multi`; the best
  reference may differ between types); the corpus score is the plain mean
  of those per-example maxima. There is no bootstrap resampling.
- ROUGE-Lsum works on sentences, and rouge_score takes sentences to be the
  lines of the text. Model outputs and dialogue summaries (DialogSum,
  SAMSum) have no newlines, which would make Lsum equal to L. With
  split_sentences=True (the default) each line is first split after '.', '!'
  or '?' (optionally followed by a closing quote or bracket) followed by
  whitespace, and the sentences are joined with newlines. No NLTK model is
  needed. Abbreviations such as "Mr. Smith" are split too; existing newlines
  are kept. This does not change ROUGE-1/2/L: rouge_score's tokenizer treats a
  newline like any other separator.
- Tokenization is rouge_score's default: lowercase, then everything that is
  not [a-z0-9] separates tokens. It is meant for English; other scripts lose
  their non-ASCII letters.

Keep one `import` per line: evaluate scans this file for its dependencies and
misreads several modules on one line.
"""

import re
from importlib import metadata

import evaluate
from rouge_score import rouge_scorer

from .references import ReferenceInputs, reference_lists, text_features

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")

# A sentence ends at '.', '!' or '?', possibly followed by one closing quote
# or bracket; the whitespace after it is the boundary.
_SENTENCE_BOUNDARY = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+")

_CITATION = """\
@inproceedings{lin-2004-rouge,
    title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
    author = "Lin, Chin-Yew",
    booktitle = "Text Summarization Branches Out",
    year = "2004",
    pages = "74--81",
}
"""

_DESCRIPTION = """\
ROUGE (Lin, 2004): n-gram (ROUGE-1, ROUGE-2) and longest-common-subsequence
(ROUGE-L on the whole text, ROUGE-Lsum over sentences) overlap between a
summary and reference summaries, computed by Google's rouge_score package.
Reported as mean F-measure over examples on a 0-100 scale.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: list of str, one generated summary per example.
    references: per example, a list of str (one or more references), or a
        single str. With several references the best one counts, per example
        and per ROUGE type. An example with no reference at all is an error.
    rouge_types: ROUGE types to compute. Default
        ("rouge1", "rouge2", "rougeL", "rougeLsum").
    use_stemmer: Porter-stem tokens longer than 3 characters. Default True.
    split_sentences: put each sentence on its own line before scoring, so that
        ROUGE-Lsum sees sentences in text without newlines. Default True.
Returns:
    one float per ROUGE type (e.g. rouge1, rouge2, rougeL, rougeLsum): mean
        over examples of the best-reference F-measure, 0-100.
    signature: the settings, e.g.
        'nrefs:3|stem:yes|split:punct|agg:mean-of-max|scale:100|rouge_score:0.1.2'
        (nrefs:var when examples have different numbers of references;
        split:newline when split_sentences is False).
Examples:
    >>> rouge = load_metric("rouge")
    >>> out = rouge.compute(predictions=["the cat sat on the mat"],
    ...                     references=[["the cat sat on the mat", "a dog"]])
    >>> out["rouge1"], out["rougeLsum"]
    (100.0, 100.0)
"""


def one_sentence_per_line(text):
    """Return text with one sentence per line (see the module docstring)."""
    sentences = []
    for line in text.split("\n"):
        sentences.extend(part for part in _SENTENCE_BOUNDARY.split(line) if part.strip())
    return "\n".join(sentences)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LineageRouge(ReferenceInputs, evaluate.Metric):
    """rouge_score ROUGE-1/2/L/Lsum, best reference per example, mean over examples."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            homepage="https://github.com/google-research/google-research/tree/master/rouge",
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
            reference_urls=["https://aclanthology.org/W04-1013/"],
            features=text_features(),
        )

    def _compute(
        self,
        predictions,
        references,
        rouge_types=ROUGE_TYPES,
        use_stemmer=True,
        split_sentences=True,
    ):
        rouge_types = list(rouge_types)
        ref_lists = reference_lists(predictions, references)
        prepare = one_sentence_per_line if split_sentences else str
        scorer = rouge_scorer.RougeScorer(rouge_types, use_stemmer=use_stemmer)

        totals = dict.fromkeys(rouge_types, 0.0)
        for prediction, refs in zip(predictions, ref_lists):
            best = scorer.score_multi([prepare(r) for r in refs], prepare(prediction))
            for rouge_type in rouge_types:
                totals[rouge_type] += best[rouge_type].fmeasure

        count = len(ref_lists)
        result = {t: 100.0 * float(totals[t]) / count for t in rouge_types}

        nrefs = {len(refs) for refs in ref_lists}
        result["signature"] = "|".join(
            [
                f"nrefs:{nrefs.pop() if len(nrefs) == 1 else 'var'}",
                f"stem:{'yes' if use_stemmer else 'no'}",
                f"split:{'punct' if split_sentences else 'newline'}",
                "agg:mean-of-max",
                "scale:100",
                f"rouge_score:{metadata.version('rouge-score')}",
            ]
        )
        return result
