"""The project's evaluate metric modules reproduce sacreBLEU and rouge_score exactly.

Everything runs offline: the modules are loaded by path through
`lineage.evaluation.metrics.load_metric`, and subprocesses prove it with the network
disabled and the working directory elsewhere. The modules share their input
checks through pipelines/evaluation/metrics/references.py, which evaluate must copy into
its modules cache with each of them.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sacrebleu
from lineage.evaluation.metrics import METRIC_FILES, load_metric
from rouge_score import rouge_scorer

SACREBLEU_VERSION = sacrebleu.__version__

# Translation-like outputs (Multi30k style), including an empty one.
PREDICTIONS = [
    "A man in an orange hat is staring at something.",
    "A Boston terrier runs on lush green grass in front of a white fence.",
    "",
    "A girl in a karate uniform breaks a board with a kick.",
    "Five people in winter jackets and helmets stand in the snow with snowmobiles behind them.",
]
REFS_A = [
    "A man in an orange hat starring at something.",
    "A Boston Terrier is running on lush green grass in front of a white fence.",
    "A girl in a karate uniform breaking a stick with a front kick.",
    "A girl wearing a karate uniform is breaking a board with her foot.",
    "Five people wearing winter jackets and helmets stand in the snow, with snowmobiles in the background.",
]
REFS_B = [
    "A man wearing an orange hat looks at something.",
    "A dog runs across the grass near a white fence.",
    "Someone is cooking dinner in a small kitchen.",
    "A young girl kicks through a wooden board during karate practice.",
    "A group of people in helmets stands next to snowmobiles in the snow.",
]
# Per-example reference lists of uneven length: 2, 1, 2, 2, 1.
REFS_VAR = [
    [REFS_A[0], REFS_B[0]],
    [REFS_A[1]],
    [REFS_A[2], REFS_B[2]],
    [REFS_A[3], REFS_B[3]],
    [REFS_A[4]],
]
# The same, as sacreBLEU reference streams with None for a missing reference.
STREAMS_VAR = [REFS_A, [REFS_B[0], None, REFS_B[2], REFS_B[3], None]]


@pytest.fixture(scope="module")
def bleu():
    return load_metric("sacrebleu")


@pytest.fixture(scope="module")
def chrf():
    return load_metric("chrf")


@pytest.fixture(scope="module")
def rouge():
    return load_metric("rouge")


def sacrebleu_reference(metric, streams):
    """sacreBLEU's own result and signature (a signature needs a scored corpus)."""
    result = metric.corpus_score(PREDICTIONS, streams)
    return result, str(metric.get_signature())


def assert_same_bleu(out, expected, signature):
    assert out["score"] == expected.score
    assert out["counts"] == list(expected.counts)
    assert out["totals"] == list(expected.totals)
    assert out["precisions"] == list(expected.precisions)
    assert out["bp"] == expected.bp
    assert out["sys_len"] == expected.sys_len
    assert out["ref_len"] == expected.ref_len
    assert out["signature"] == signature


# ---------------------------------------------------------------- BLEU


def test_bleu_single_reference_matches_sacrebleu(bleu):
    expected = sacrebleu.corpus_bleu(PREDICTIONS, [REFS_A])
    signature = f"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:{SACREBLEU_VERSION}"
    assert sacrebleu_reference(sacrebleu.BLEU(), [REFS_A])[1] == signature
    # references as plain strings and as one-element lists give the same result
    as_strings = bleu.compute(predictions=PREDICTIONS, references=REFS_A)
    as_lists = bleu.compute(predictions=PREDICTIONS, references=[[r] for r in REFS_A])
    assert_same_bleu(as_strings, expected, signature)
    assert as_lists == as_strings
    assert 0.0 < as_strings["score"] < 100.0
    assert set(as_strings) == {
        "score", "counts", "totals", "precisions", "bp", "sys_len", "ref_len", "signature",
    }


def test_bleu_multi_reference_matches_sacrebleu(bleu):
    expected = sacrebleu.corpus_bleu(PREDICTIONS, [REFS_A, REFS_B])
    out = bleu.compute(
        predictions=PREDICTIONS, references=[list(pair) for pair in zip(REFS_A, REFS_B)]
    )
    assert_same_bleu(
        out, expected, f"nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:{SACREBLEU_VERSION}"
    )
    assert out["score"] != bleu.compute(predictions=PREDICTIONS, references=REFS_A)["score"]


def test_bleu_uneven_reference_counts_use_sacrebleu_none_padding(bleu):
    expected, signature = sacrebleu_reference(sacrebleu.BLEU(), STREAMS_VAR)
    out = bleu.compute(predictions=PREDICTIONS, references=REFS_VAR)
    assert_same_bleu(out, expected, signature)
    assert out["signature"].startswith("nrefs:var|")


def test_bleu_options_pass_through(bleu):
    options = dict(tokenize="intl", lowercase=True, smooth_method="floor", smooth_value=0.2)
    expected = sacrebleu.corpus_bleu(PREDICTIONS, [REFS_A, REFS_B], **options)
    signature = sacrebleu_reference(sacrebleu.BLEU(**options), [REFS_A, REFS_B])[1]
    assert "case:lc" in signature and "tok:intl" in signature and "smooth:floor" in signature
    out = bleu.compute(
        predictions=PREDICTIONS, references=[list(p) for p in zip(REFS_A, REFS_B)], **options
    )
    assert_same_bleu(out, expected, signature)

    expected = sacrebleu.corpus_bleu(PREDICTIONS, [REFS_A], smooth_method="none")
    out = bleu.compute(predictions=PREDICTIONS, references=REFS_A, smooth_method="none")
    signature = sacrebleu_reference(sacrebleu.BLEU(smooth_method="none"), [REFS_A])[1]
    assert "smooth:none" in signature
    assert_same_bleu(out, expected, signature)


def test_bleu_mixed_str_and_list_references_in_one_batch(bleu):
    # evaluate checks only a batch's first row; the module normalises every row
    mixed = [REFS_A[0], [REFS_A[1]], REFS_A[2], [REFS_A[3]], REFS_A[4]]
    expected = sacrebleu.corpus_bleu(PREDICTIONS, [REFS_A])
    assert bleu.compute(predictions=PREDICTIONS, references=mixed)["score"] == expected.score
    mixed = [[REFS_A[0]], REFS_A[1], [REFS_A[2]], REFS_A[3], [REFS_A[4]]]
    assert bleu.compute(predictions=PREDICTIONS, references=mixed)["score"] == expected.score


def test_bleu_add_batch_accumulates(bleu):
    bleu.add_batch(predictions=PREDICTIONS[:2], references=REFS_VAR[:2])
    bleu.add_batch(predictions=PREDICTIONS[2:], references=REFS_VAR[2:])
    out = bleu.compute()
    assert out["score"] == sacrebleu.BLEU().corpus_score(PREDICTIONS, STREAMS_VAR).score


# ---------------------------------------------------------------- chrF


def test_chrf_matches_sacrebleu(chrf):
    expected = sacrebleu.corpus_chrf(PREDICTIONS, [REFS_A])
    out = chrf.compute(predictions=PREDICTIONS, references=REFS_A)
    assert out == {
        "score": expected.score,
        "char_order": 6,
        "word_order": 0,
        "beta": 2,
        "signature": f"nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:{SACREBLEU_VERSION}",
    }
    assert out["signature"] == sacrebleu_reference(sacrebleu.CHRF(), [REFS_A])[1]


def test_chrf_plus_plus_multi_reference_matches_sacrebleu(chrf):
    expected = sacrebleu.corpus_chrf(PREDICTIONS, [REFS_A, REFS_B], word_order=2)
    out = chrf.compute(
        predictions=PREDICTIONS, references=[list(p) for p in zip(REFS_A, REFS_B)], word_order=2
    )
    assert out["score"] == expected.score
    assert out["word_order"] == 2
    assert out["signature"] == sacrebleu_reference(sacrebleu.CHRF(word_order=2), [REFS_A, REFS_B])[1]
    assert out["signature"].startswith("nrefs:2|") and "|nw:2|" in out["signature"]


def test_chrf_uneven_references_and_options(chrf):
    metric = sacrebleu.CHRF(char_order=4, word_order=1, beta=1, lowercase=True)
    expected, signature = sacrebleu_reference(metric, STREAMS_VAR)
    out = chrf.compute(
        predictions=PREDICTIONS, references=REFS_VAR,
        char_order=4, word_order=1, beta=1, lowercase=True,
    )
    assert out["score"] == expected.score
    assert out["signature"] == signature
    assert out["signature"].startswith("nrefs:var|case:lc|")


# ---------------------------------------------------------------- ROUGE

# Dialogue summaries in the DialogSum style: three references per example, no
# newlines, one empty prediction.
SUM_PREDICTIONS = [
    "#Person1# asks Mr. Lee for the report. He says it will be ready tomorrow.",
    "#Person2# wants to book a table for two at seven. #Person1# confirms the booking!",
    "",
    "Amanda baked cookies and will bring Jerry some tomorrow.",
]
SUM_REFERENCES = [
    [
        "#Person1# asks Mr. Lee about the sales report. Mr. Lee promises to finish it by tomorrow.",
        "Mr. Lee tells #Person1# that the report will be done tomorrow.",
        "#Person1# needs the report. Mr. Lee will have it ready tomorrow morning.",
    ],
    [
        "#Person2# books a table for two people at 7 pm. #Person1# confirms it.",
        "#Person2# calls the restaurant to reserve a table for two at seven o'clock.",
        "#Person1# helps #Person2# reserve a table for two tonight.",
    ],
    [
        "#Person1# and #Person2# talk about their weekend plans.",
        "They discuss what to do at the weekend.",
        "#Person2# suggests going hiking on Saturday.",
    ],
    [
        "Amanda baked cookies. She will bring Jerry some tomorrow.",
        "Amanda promises Jerry cookies tomorrow.",
        "Jerry will get some of Amanda's cookies tomorrow.",
    ],
]
# What the module's sentence splitting must produce, written out by hand.
SPLIT = {
    SUM_PREDICTIONS[0]: "#Person1# asks Mr.\nLee for the report.\nHe says it will be ready tomorrow.",
    SUM_PREDICTIONS[1]: "#Person2# wants to book a table for two at seven.\n#Person1# confirms the booking!",
    SUM_REFERENCES[0][0]: "#Person1# asks Mr.\nLee about the sales report.\nMr.\nLee promises to finish it by tomorrow.",
    SUM_REFERENCES[0][1]: "Mr.\nLee tells #Person1# that the report will be done tomorrow.",
    SUM_REFERENCES[0][2]: "#Person1# needs the report.\nMr.\nLee will have it ready tomorrow morning.",
    SUM_REFERENCES[1][0]: "#Person2# books a table for two people at 7 pm.\n#Person1# confirms it.",
    SUM_REFERENCES[3][0]: "Amanda baked cookies.\nShe will bring Jerry some tomorrow.",
}
TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


def expected_rouge(predictions, references, use_stemmer=True, prepare=lambda text: text):
    """rouge_score's best reference per example and type, mean over examples, x100."""
    scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=use_stemmer)
    per_example = [
        scorer.score_multi([prepare(r) for r in refs], prepare(pred))
        for pred, refs in zip(predictions, references)
    ]
    return {t: 100.0 * sum(s[t].fmeasure for s in per_example) / len(per_example) for t in TYPES}


def assert_close(out, expected):
    for rouge_type, value in expected.items():
        assert abs(out[rouge_type] - value) < 1e-9, rouge_type


def test_rouge_without_sentence_splitting_matches_rouge_score(rouge):
    out = rouge.compute(
        predictions=SUM_PREDICTIONS, references=SUM_REFERENCES, split_sentences=False
    )
    assert_close(out, expected_rouge(SUM_PREDICTIONS, SUM_REFERENCES))
    # no newlines: rouge_score sees one sentence, so Lsum equals L
    assert abs(out["rougeLsum"] - out["rougeL"]) < 1e-9
    assert out["signature"] == (
        "nrefs:3|stem:yes|split:newline|agg:mean-of-max|scale:100|rouge_score:0.1.2"
    )


def test_rouge_sentence_splitting_for_lsum(rouge):
    out = rouge.compute(predictions=SUM_PREDICTIONS, references=SUM_REFERENCES)
    expected = expected_rouge(
        SUM_PREDICTIONS, SUM_REFERENCES, prepare=lambda text: SPLIT.get(text, text)
    )
    assert_close(out, expected)
    assert set(out) == set(TYPES) | {"signature"}
    assert "|split:punct|" in out["signature"]
    # splitting changes Lsum only
    unsplit = rouge.compute(
        predictions=SUM_PREDICTIONS, references=SUM_REFERENCES, split_sentences=False
    )
    for rouge_type in ["rouge1", "rouge2", "rougeL"]:
        assert out[rouge_type] == unsplit[rouge_type]
    assert out["rougeLsum"] != unsplit["rougeLsum"]
    assert all(0.0 <= out[t] <= 100.0 for t in TYPES)


def test_rouge_single_reference_strings_and_no_stemming(rouge):
    single = [refs[0] for refs in SUM_REFERENCES]
    out = rouge.compute(
        predictions=SUM_PREDICTIONS, references=single, use_stemmer=False, split_sentences=False
    )
    assert_close(out, expected_rouge(SUM_PREDICTIONS, [[r] for r in single], use_stemmer=False))
    assert out["signature"].startswith("nrefs:1|stem:no|")
    stemmed = rouge.compute(
        predictions=SUM_PREDICTIONS, references=single, split_sentences=False
    )
    assert stemmed["rouge1"] != out["rouge1"]


def test_rouge_uneven_references_and_subset_of_types(rouge):
    refs = [SUM_REFERENCES[0], SUM_REFERENCES[1][:1], SUM_REFERENCES[2][:2], SUM_REFERENCES[3]]
    out = rouge.compute(
        predictions=SUM_PREDICTIONS, references=refs, rouge_types=["rouge2"], split_sentences=False
    )
    assert set(out) == {"rouge2", "signature"}
    expected = expected_rouge(SUM_PREDICTIONS, refs)["rouge2"]
    assert abs(out["rouge2"] - expected) < 1e-9
    assert out["signature"].startswith("nrefs:var|")


# ---------------------------------------------------------------- errors and loading


def test_unknown_metric_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown metric 'meteor'.*bleu, chrf, rouge, sacrebleu"):
        load_metric("meteor")


def test_metric_files_exist_and_aliases():
    assert set(METRIC_FILES) == {"sacrebleu", "bleu", "chrf", "rouge"}
    assert METRIC_FILES["bleu"] == METRIC_FILES["sacrebleu"]
    assert all(path.is_file() and path.is_absolute() for path in METRIC_FILES.values())


@pytest.mark.parametrize("name", ["bleu", "chrf", "rouge"])
def test_bad_inputs_raise_clear_errors(name, bleu, chrf, rouge):
    metric = {"bleu": bleu, "chrf": chrf, "rouge": rouge}[name]
    with pytest.raises(ValueError, match="example 1 has no reference"):
        metric.compute(predictions=["a b", "c d"], references=[["a b"], []])
    with pytest.raises(TypeError, match=r"references\[1\] must be a str or a list of str"):
        metric.compute(predictions=["a b", "c d"], references=["a b", 7])
    with pytest.raises(TypeError, match=r"predictions\[1\] must be a str"):
        metric.compute(predictions=["a b", None], references=["a b", "c d"])
    with pytest.raises(ValueError, match="no predictions"):
        metric.compute(predictions=[], references=[])


_EDIT_MARKER = '"beta": int(beta),'
# In references.py: a bare str reference becomes a one-element list.
_SHARED_EDIT_MARKER = "return [refs]"
SHARED_FILE = METRIC_FILES["chrf"].with_name("references.py")


def _load_copy(path):
    import evaluate

    return evaluate.load(str(path)).compute(predictions=["a b"], references=["a b"])


# Inputs the offline script scores with every metric.
OFFLINE_PREDICTIONS = ["a cat sat on the mat today", ""]
OFFLINE_REFERENCES = [["a cat sat on the mat today", "the cat sat"], ["something"]]

# Runs in a fresh interpreter: network calls raise, the Hub is off, the Hub and
# evaluate caches are empty and the working directory is not the repository.
# It also reports the file each metric was loaded from (evaluate's copy).
_OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json
    import socket
    import sys

    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    socket.socket.connect = no_network
    socket.create_connection = no_network
    socket.getaddrinfo = no_network

    import evaluate
    from lineage.evaluation.metrics import load_metric

    result = {"module_files": {}}
    for name in ["sacrebleu", "chrf", "rouge"]:
        metric = load_metric(name)
        result["module_files"][name] = sys.modules[type(metric).__module__].__file__
        result[name] = metric.compute(
            predictions=json.loads(sys.argv[2]), references=json.loads(sys.argv[3])
        )
    result["copy"] = evaluate.load(sys.argv[1]).compute(predictions=["a b"], references=["a b"])
    print(json.dumps(result))
    """
)


def _run_offline_script(tmp_path, metric_path, modules_cache):
    """Run _OFFLINE_SCRIPT from another directory with empty Hub / evaluate caches
    (HF_HOME in `tmp_path`) and evaluate's modules cache `modules_cache`;
    `metric_path` is the module it loads by path as "copy". Returns its result."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    script = tmp_path / "offline_check.py"
    script.write_text(_OFFLINE_SCRIPT, encoding="utf-8")
    env = dict(os.environ)
    env.pop("HF_EVALUATE_CACHE", None)
    env.pop("HF_HUB_CACHE", None)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf_home"),  # empty Hub / evaluate caches
        HF_MODULES_CACHE=str(modules_cache),
        PYTHONPATH="",
    )
    proc = subprocess.run(
        [sys.executable, str(script), str(metric_path),
         json.dumps(OFFLINE_PREDICTIONS), json.dumps(OFFLINE_REFERENCES)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_edited_module_is_reloaded_offline_in_this_and_another_process(tmp_path):
    import evaluate

    copy = tmp_path / "copies" / "lineage_chrf.py"
    copy.parent.mkdir()
    shutil.copy(METRIC_FILES["chrf"], copy)
    # the module's relative import: evaluate copies the sibling along with it
    shared = Path(shutil.copy(SHARED_FILE, copy.parent))
    original = copy.read_text(encoding="utf-8")
    assert _EDIT_MARKER in original
    shared_original = shared.read_text(encoding="utf-8")
    assert _SHARED_EDIT_MARKER in shared_original

    # same process: load, edit the file, load again -> the edit shows
    before = _load_copy(copy)
    copy.write_text(original.replace(_EDIT_MARKER, _EDIT_MARKER + ' "edited": True,'), "utf-8")
    assert _load_copy(copy)["edited"] is True
    assert "edited" not in before

    # the same for the shared module: edit references.py only -> the edit shows
    copy.write_text(original, encoding="utf-8")
    shared.write_text(shared_original.replace(_SHARED_EDIT_MARKER, "return [refs, refs]"), "utf-8")
    assert _load_copy(copy)["signature"].startswith("nrefs:2|")
    assert before["signature"].startswith("nrefs:1|")
    shared.write_text(shared_original, encoding="utf-8")

    # another process sharing the modules cache, where the edited copies are now
    # the newest: after reverting the files it must load the files as they are
    result = _run_offline_script(tmp_path, copy, evaluate.config.HF_MODULES_CACHE)

    assert result["copy"] == before
    assert result["sacrebleu"]["signature"].startswith("nrefs:var|")
    assert result["sacrebleu"]["score"] == sacrebleu.BLEU().corpus_score(
        ["a cat sat on the mat today", ""],
        [["a cat sat on the mat today", "something"], ["the cat sat", None]],
    ).score
    assert set(result["chrf"]) == {"score", "char_order", "word_order", "beta", "signature"}
    assert set(result["rouge"]) == set(TYPES) | {"signature"}


def test_shared_module_is_copied_into_an_empty_modules_cache(tmp_path, bleu, chrf, rouge):
    modules_cache = tmp_path / "modules"
    result = _run_offline_script(tmp_path, METRIC_FILES["chrf"], modules_cache)

    for name, metric in {"sacrebleu": bleu, "chrf": chrf, "rouge": rouge}.items():
        module_file = Path(result["module_files"][name])
        # evaluate's copy of the module, with its own copy of references.py beside it
        assert module_file.is_relative_to(modules_cache)
        assert module_file.read_bytes() == METRIC_FILES[name].read_bytes()
        assert (module_file.parent / "references.py").read_bytes() == SHARED_FILE.read_bytes()
        expected = metric.compute(predictions=OFFLINE_PREDICTIONS, references=OFFLINE_REFERENCES)
        assert result[name] == expected
    assert result["copy"] == chrf.compute(predictions=["a b"], references=["a b"])


def test_the_task_vocabulary_names_what_the_modules_compute(bleu, chrf, rouge):
    """tasks.SCORES is the one metric vocabulary; lineage_rouge.py keeps its own ROUGE_TYPES because evaluate
    loads it alone by path. Every score the vocabulary names is in its module's result."""
    from lineage.data.tasks import SCORES
    from lineage.evaluation.metrics import lineage_rouge

    assert tuple(score.key for score in SCORES["summarization"]) == lineage_rouge.ROUGE_TYPES
    modules = {"sacrebleu": bleu, "chrf": chrf, "rouge": rouge}
    for scores in SCORES.values():
        for score in scores:
            result = modules[score.module].compute(predictions=["a cat sat ."], references=[["a cat sat ."]])
            assert score.output in result and ("signature" in result or not score.signature)
