"""`lineage compare` end to end on the tiny preset: artefacts, agreement, failures, resumption."""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import lineage.comparison.running
import lineage.data.tasks
import pytest
from huggingface_hub import ModelCard
from launch import finish, run_script, two_cpu_processes
from lineage.comparison.config import CompareConfig
from lineage.comparison.presets import PRESETS as COMPARE_PRESETS
from lineage.comparison.running import compare
from lineage.errors import ConfigError
from lineage.report.results import Results

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    results = compare(CompareConfig(preset="test", runs_dir=str(runs)))
    return results.to_dict(), runs / "test"


def test_tiny_compare_writes_every_artefact(tiny_run):
    results, run = tiny_run
    task = "multi30k-de-en"
    assert set(results["tasks"][task]["models"]) == {"rnn", "lstm", "transformer"}
    for name in ("report.md", "results.json", f"{task}-validation.png", f"{task}-by-length.png", "throughput.png"):
        assert (run / name).stat().st_size > 0, name
    for row in ("rnn", "lstm", "transformer"):
        folder = run / "models" / f"{task}-{row}"
        for name in ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "README.md",
                     "text2text_pipeline.py"):
            assert (folder / name).exists(), f"{row}: {name}"
        assert len((run / task / row / "test_predictions.txt").read_text().splitlines()) == 12
        logged = [json.loads(line) for line in (run / task / row / "log.jsonl").read_text().splitlines()]
        evaluations = results["tasks"][task]["models"][row]["evaluations"]
        assert evaluations and evaluations == [event for event in logged if event["event"] == "eval"], row


def test_the_report_says_what_the_shared_tokenizer_learned_from(tiny_run):
    """The task's tokenizer learns from both sides of the whole training split (Multi30k is under the sample
    limit); results.json records it and the report says it."""
    results, run = tiny_run
    sample = results["tasks"]["multi30k-de-en"]["tokenizer_sample"]
    assert (sample["rows"], sample["split_rows"], sample["sentences"]) == (29000, 29000, 58000)
    assert "Tokenizer: learned from 58,000 sentences, both sides of the training pairs (29,000 pairs, all of them)." \
        in (run / "report.md").read_text()


def test_the_report_is_made_from_results_json_alone(tiny_run, tmp_path):
    """`lineage report` on a folder holding nothing but results.json (docs/) writes the run's report again."""
    from lineage.report.document import write_report

    _, run = tiny_run
    (tmp_path / "results.json").write_bytes((run / "results.json").read_bytes())
    plots = write_report(Results.load(tmp_path / "results.json"), tmp_path)
    assert (tmp_path / "report.md").read_text() == (run / "report.md").read_text()
    assert "multi30k-de-en-validation.png" in plots
    assert all((tmp_path / name).stat().st_size > 0 for name in plots)


def test_each_milestone_score_is_the_test_score_of_the_models_kept_there(tiny_run):
    """The tiny preset keeps every row's models at 2k, 4k and 6k target tokens and tests them; a separate
    evaluation of a kept folder gives the same scores, and the last milestone's is the row's own test."""
    from lineage.data.loading import load_test_references
    from lineage.data.tasks import get_task
    from lineage.data.tokenizer import load_tokenizer
    from lineage.evaluation.generation import evaluate_model
    from transformers import AutoModelForSeq2SeqLM

    results, run = tiny_run
    task = get_task("multi30k")
    sources, references = (part[:12] for part in load_test_references(task))
    for row, model in results["tasks"][task.name]["models"].items():
        assert [m["milestone"] for m in model["milestones"]] == [2000, 4000, 6000], row
        first = model["milestones"][0]
        folder = run / task.name / row / "milestones" / "2000" / "model"
        again = evaluate_model(AutoModelForSeq2SeqLM.from_pretrained(folder), load_tokenizer(folder), task, sources,
                               references, show_progress=False)
        assert again["bleu"] == first["test"]["bleu"] and again["chrf"] == first["test"]["chrf"], row
        last = model["milestones"][-1]
        assert last["target_tokens"] == model["training"]["target_tokens"]
        assert last["best_test"]["bleu"] == model["test"]["bleu"], row
    report = (run / "report.md").read_text()
    assert "### Quality against training budget" in report and "| model | 2k | 4k | 6k |" in report
    assert (run / f"{task.name}-budget-curves.png").stat().st_size > 0


def test_runs_with_other_seeds_add_the_seeds_spread_to_the_budget_table(tiny_run, tmp_path):
    """The comparison run again with --seed 1 on a smaller budget reads the seed-0 run (--seed_runs): the
    milestones both seeds reached show mean ± std over the two, the later one seed 0's score alone."""
    results, seed0 = tiny_run
    config = CompareConfig(preset="test", runs_dir=str(tmp_path), name="seed1", archs="lstm,transformer", seed=1,
                           budget_target_tokens=4000, milestones="2k,4k", seed_runs=str(seed0))
    compare(config)
    entry = Results.load(tmp_path / "seed1" / "results.json").task("multi30k-de-en")  # as a fresh process reads it
    report = (tmp_path / "seed1" / "report.md").read_text()
    assert "| model | 2k | 4k | 6k |" in report and "Seeds 0, 1: " in report
    for row in ("lstm", "transformer"):
        ours, theirs = entry.models[row], results["tasks"]["multi30k-de-en"]["models"][row]
        assert [run.training["seed"] for run in entry.other_seeds[row]] == [0] and ours.training["seed"] == 1
        both = [[m.best_test["bleu"] for m in ours.milestones],
                [m["best_test"]["bleu"] for m in theirs["milestones"]]]
        line = next(line for line in report.splitlines() if line.startswith(f"| {ours.label} | ") and " ± " in line)
        expected = [f"{statistics.fmean(pair):.2f} ± {statistics.stdev(pair):.2f}" for pair in zip(*both)]
        assert line.split(" | ")[1:] == expected + [f"{both[1][2]:.2f} |"], line


def test_seed_runs_are_checked_before_anything_trains(tiny_run, tmp_path, monkeypatch):
    _, seed0 = tiny_run
    monkeypatch.setattr(lineage.comparison.running, "train", lambda c: pytest.fail("trained before refusing"))
    base = dict(preset="test", runs_dir=str(tmp_path), archs="lstm", seed=1)
    with pytest.raises(ConfigError, match=r"--seed_runs: .*nowhere/results.json not found"):
        compare(CompareConfig(name="a", seed_runs=str(tmp_path / "nowhere"), **base))
    with pytest.raises(ConfigError, match=r"multi30k-de-en/lstm differs in more than its seed \(.*vocab_size: 400 -> 300"):
        compare(CompareConfig(name="b", seed_runs=str(seed0), vocab_size=300, **base))
    with pytest.raises(ConfigError, match=r"with seed 0, as this run does"):
        compare(CompareConfig(name="c", seed_runs=str(seed0), **{**base, "seed": 0}))


def test_rows_finished_by_another_run_are_reused_and_checked(tiny_run, tmp_path, monkeypatch):
    """--rows_from: a planned row that another run of the comparison finished with the same settings is
    taken from its results.json (scores, milestones, validation curve), the others train here; a row made
    with other settings, or a folder without results, is refused before anything trains, except that
    --overwrite trains a row made with other settings here."""
    results, source = tiny_run
    task, trained, train = "multi30k-de-en", [], lineage.comparison.running.train
    monkeypatch.setattr(lineage.comparison.running, "train", lambda config: trained.append(Path(config.output_dir).name)
                        or train(config))
    compare(CompareConfig(preset="test", runs_dir=str(tmp_path), name="merged", rows="lstm,lstm-no-attention",
                          rows_from=str(source)))
    assert trained == ["lstm-no-attention"]
    entry = Results.load(tmp_path / "merged" / "results.json").task(task)
    ours, theirs = entry.models["lstm"], results["tasks"][task]["models"]["lstm"]
    assert ours.test == theirs["test"] and ours.evaluations == theirs["evaluations"]
    assert [m.to_dict() for m in ours.milestones] == theirs["milestones"]
    assert ours.folder is None and ours.trained_in == str(source) and entry.models["lstm-no-attention"].folder
    assert sorted(path.name for path in (tmp_path / "merged" / "models").iterdir()) == [f"{task}-lstm-no-attention"]
    report = (tmp_path / "merged" / "report.md").read_text()
    assert f"(`--rows_from`): {ours.label} ({source})." in report
    assert sum(line.startswith(f"| {ours.label} | ") for line in report.splitlines()) >= 2  # comparison and settings

    monkeypatch.setattr(lineage.comparison.running, "train", lambda config: pytest.fail("trained before refusing"))
    base = dict(preset="test", runs_dir=str(tmp_path), rows="lstm")
    with pytest.raises(ConfigError, match=r"--rows_from: .*nowhere/results.json not found"):
        compare(CompareConfig(name="a", rows_from=str(tmp_path / "nowhere"), **base))
    with pytest.raises(ConfigError, match=r"multi30k-de-en/lstm was made with other settings \(.*vocab_size: 400 -> "
                                          r"300\); --overwrite trains it here instead"):
        compare(CompareConfig(name="b", rows_from=str(source), vocab_size=300, **base))
    other = tmp_path / "other"  # the same run, but its rows made with another learning rate
    changed = json.loads((source / "results.json").read_text())
    for model in changed["tasks"][task]["models"].values():
        model["settings"]["learning_rate"] = 1e-4
    other.mkdir()
    (other / "results.json").write_text(json.dumps(changed))
    # lstm is in both folders, as planned in the second; rnn only in the first, with another learning rate
    with pytest.raises(ConfigError, match=r"other's multi30k-de-en/rnn .*\(learning_rate: 0.0001 -> 0.003\)"):
        compare(CompareConfig(name="c", rows_from=f"{other},{tmp_path / 'merged'}", rows="lstm,rnn", preset="test",
                              runs_dir=str(tmp_path)))
    assert not (tmp_path / "c" / task / "lstm").exists()  # nothing taken when a row is refused
    monkeypatch.setattr(lineage.comparison.running, "train", train)
    compare(CompareConfig(name="d", rows_from=f"{other},{source}", **base))  # the first folder with the row as planned
    assert Results.load(tmp_path / "d" / "results.json").task(task).models["lstm"].trained_in == str(source)
    # --overwrite: the rows held only with other settings train here, the others are still reused
    trained.clear()
    monkeypatch.setattr(lineage.comparison.running, "train", lambda config: trained.append(Path(config.output_dir).name)
                        or train(config))
    compare(CompareConfig(name="e", rows_from=f"{other},{tmp_path / 'merged'}", rows="lstm,rnn", preset="test",
                          runs_dir=str(tmp_path), overwrite=True))  # what "c" refused
    assert trained == ["rnn"]
    models = Results.load(tmp_path / "e" / "results.json").task(task).models
    assert models["lstm"].trained_in == str(source)
    assert models["rnn"].trained_in is None and models["rnn"].settings["learning_rate"] == 0.003


def test_rows_tested_with_other_decoding_settings_are_tested_again_without_training(tiny_run, tmp_path, monkeypatch,
                                                                                     capsys):
    """The task's decoding settings are part of a row: a row tested with other ones is not reused as it is
    (here or through --rows_from) but tested again, and its model is not trained again."""
    results, source = tiny_run
    task = "multi30k-de-en"
    shutil.copytree(source, tmp_path / "test")
    monkeypatch.setattr(lineage.data.tasks, "TRANSLATION_GENERATION", {**lineage.data.tasks.TRANSLATION_GENERATION,
                                                                    "num_beams": 1})
    with pytest.raises(ConfigError, match=r"multi30k-de-en/lstm was made with other settings \(generation: .*'num_beams': 5"):
        compare(CompareConfig(preset="test", runs_dir=str(tmp_path), name="merged", rows="lstm", rows_from=str(source)))
    capsys.readouterr()
    retested = compare(CompareConfig(preset="test", runs_dir=str(tmp_path))).task(task).models
    assert "lineage compare: 0 models to train, 3 to test again; estimated " in capsys.readouterr().out
    for row, old in results["tasks"][task]["models"].items():
        assert old["test"]["generation"]["num_beams"] == 5 and retested[row].test["generation"]["num_beams"] == 1
        assert retested[row].training["steps"] == old["training"]["steps"], row


def test_the_report_says_which_models_learned_the_task(tiny_run):
    """Each row's "learned the task" cell follows its test scores and the bars (BLEU 15; ROUGE-2 5 and
    90% distinct outputs): the tiny models, trained for seconds, have not learned translation."""
    from lineage.report.results import Baseline, TaskEntry
    from lineage.report.tables import LEARNING_BARS, comparison_table, unlearned

    results, run = tiny_run
    report = (run / "report.md").read_text()
    entry = results["tasks"]["multi30k-de-en"]
    for model in entry["models"].values():
        line = next(line for line in report.splitlines() if line.startswith(f"| {model['label']} |"))
        assert line.endswith(f"| no: BLEU {model['test']['bleu']:.1f} < 15 |"), line
    assert "Learned the task: test BLEU at least 15." in report
    learned = {**entry, "models": {"lstm": {**entry["models"]["lstm"], "test": {**entry["models"]["lstm"]["test"], "bleu": 15.0}}}}
    assert comparison_table(TaskEntry.from_dict(learned))[-1].endswith("| yes |")
    assert unlearned("summarization", {"rouge2": 6.0, "distinct_outputs": 0.5}) == ["distinct 50% < 90%"]
    assert unlearned("summarization", {"rouge2": 4.94, "distinct_outputs": 0.95}) == ["ROUGE-2 4.9 < 5"]
    # A baseline that learns nothing and scores more on every ROUGE than the model: it has not learned the task.
    lead = Baseline(label="LEAD-3", test={"rouge1": 31.3, "rouge2": 8.7, "rougeL": 24.2})
    below = {"rouge1": 27.0, "rouge2": 7.6, "rougeL": 22.3, "distinct_outputs": 1.0}
    assert unlearned("summarization", below, {"lead-3": lead}) == ["LEAD-3 scores more on every ROUGE"]
    assert unlearned("summarization", {**below, "rougeL": 24.9}, {"lead-3": lead}) == []
    assert set(LEARNING_BARS) == {"translation", "summarization"}


def test_report_results_and_cards_agree(tiny_run):
    results, run = tiny_run
    on_disk = json.loads((run / "results.json").read_text())
    assert on_disk["tasks"] == json.loads(json.dumps(results["tasks"]))
    report = (run / "report.md").read_text()
    for row, model in results["tasks"]["multi30k-de-en"]["models"].items():
        bleu = f"{model['test']['bleu']:.2f}"
        assert bleu in report
        card = ModelCard.load(run / model["folder"] / "README.md")
        values = {r.metric_type: r.metric_value for r in card.data.eval_results}
        assert values["sacrebleu"] == pytest.approx(model["test"]["bleu"], abs=0.01)
        assert bleu in card.text
    assert results["tasks"]["multi30k-de-en"]["models"]["lstm"]["test"]["bleu_signature"] in report
    for model in results["tasks"]["multi30k-de-en"]["models"].values():
        training = model["training"]
        assert (f"| {model['label']} | {training['steps']:,} ({training['epochs']}) | {training['stop_reason']} "
                f"| {training['batch_tokens']:,} |") in report


def test_one_failing_architecture_keeps_the_others(tmp_path, monkeypatch):
    real_train = lineage.comparison.running.train

    def train_that_fails_for_lstm(config):
        if config.arch == "lstm":
            raise RuntimeError("simulated crash in the LSTM run")
        return real_train(config)

    monkeypatch.setattr(lineage.comparison.running, "train", train_that_fails_for_lstm)
    results = compare(CompareConfig(preset="test", runs_dir=str(tmp_path), archs="rnn,lstm")).to_dict()
    entry = results["tasks"]["multi30k-de-en"]
    assert set(entry["models"]) == {"rnn"}
    assert "simulated crash in the LSTM run" in entry["errors"]["lstm"]
    assert "lstm failed" in (tmp_path / "test" / "report.md").read_text()
    assert "simulated crash" in (tmp_path / "test" / "multi30k-de-en" / "lstm" / "error.txt").read_text()


def test_interrupted_compare_resumes_and_reuses_finished_rows(tmp_path):
    command = [sys.executable, str(ROOT / "scripts" / "compare.py"), "--preset", "test", "--runs_dir", str(tmp_path),
               "--archs", "rnn,transformer"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished_row = tmp_path / "test" / "multi30k-de-en" / "rnn" / "row.json"
    deadline = time.time() + 300
    while not finished_row.exists():
        assert process.poll() is None and time.time() < deadline, "compare ended before the first row finished"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = finished_row.read_text()
    stamp = finished_row.stat().st_mtime_ns

    rerun = subprocess.run(command, capture_output=True, text=True, env={**os.environ})
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "rnn: finished earlier, reusing" in rerun.stderr
    assert finished_row.read_text() == first and finished_row.stat().st_mtime_ns == stamp
    results = json.loads((tmp_path / "test" / "results.json").read_text())
    assert set(results["tasks"]["multi30k-de-en"]["models"]) == {"rnn", "transformer"}


def test_a_rerun_with_other_settings_is_refused_or_retrains_the_changed_rows(tmp_path):
    """Re-run under the same name with another budget, the old rows' row.json were reused and mixed with
    the new budget in report and cards; another vocabulary size reused the old tokenizer."""
    from transformers import AutoTokenizer

    compare(CompareConfig(preset="test", runs_dir=str(tmp_path), archs="rnn"))
    changed = CompareConfig(preset="test", runs_dir=str(tmp_path), archs="rnn,lstm", budget_target_tokens=9000,
                            vocab_size=300)
    with pytest.raises(ConfigError, match=r"multi30k-de-en/rnn \(tokenizer: '../tokenizer-400' -> '../tokenizer-300'; "
                                          r"vocab_size: 400 -> 300; budget_target_tokens: 6000 -> 9000\).*--overwrite true"):
        compare(changed)
    assert not (tmp_path / "test" / "multi30k-de-en" / "lstm").exists()  # refused before anything trained

    changed.overwrite = True
    results = compare(changed).to_dict()
    models = results["tasks"]["multi30k-de-en"]["models"]
    assert set(models) == {"rnn", "lstm"}
    for model in models.values():
        assert model["settings"]["budget_target_tokens"] == 9000 and model["training"]["target_tokens"] >= 9000
        assert len(AutoTokenizer.from_pretrained(tmp_path / "test" / model["folder"])) == 300
    assert "9,000 target tokens per model" in (tmp_path / "test" / "report.md").read_text()
    stamps = {row: (tmp_path / "test" / "multi30k-de-en" / row / "row.json").stat().st_mtime_ns for row in models}
    compare(changed)  # the same settings again: every row is reused
    assert stamps == {row: (tmp_path / "test" / "multi30k-de-en" / row / "row.json").stat().st_mtime_ns for row in models}


def test_budgets_and_rows_resolve():
    demo = CompareConfig(preset="demo").resolved("multi30k")
    assert demo.budget() == {"kind": "target_tokens", "value": 550_000} and demo.vocab_size == 4000
    assert CompareConfig(preset="demo", budget_minutes=2).resolved().budget() == {"kind": "minutes", "value": 2}
    rows = CompareConfig(preset="demo", variants="no-attention,word2vec").resolved().row_specs()
    assert [r[0] for r in rows] == ["rnn", "lstm", "transformer", "rnn-no-attention", "lstm-no-attention",
                                    "rnn-word2vec", "lstm-word2vec", "transformer-word2vec"]
    with pytest.raises(ValueError, match="unknown variant 'bigger'"):
        CompareConfig(preset="demo", variants="bigger").resolved()
    named = CompareConfig(preset="demo", rows="lstm-pointer-generator,transformer").resolved().row_specs()
    assert named == [("lstm-pointer-generator", "lstm", {"copy_attention": True, "coverage": True}),
                     ("transformer", "transformer", {})]
    for rows, problem in (("gru", "must start with an architecture"), ("lstm-bigger", "unknown variant 'bigger'"),
                          ("transformer-pointer-generator", "recurrent models only"), ("", "--rows is empty")):
        with pytest.raises(ValueError, match=problem):
            CompareConfig(preset="demo", rows=rows).resolved()


def test_a_preset_sets_rows_and_budgets_per_task_and_explicit_values_apply_to_every_task():
    """The demo preset's summarization part has its own rows and budget; what the user gives wins everywhere."""
    demo = CompareConfig(preset="demo")
    translation, summarization = demo.resolved("multi30k"), demo.resolved("dialogsum")
    assert [r[0] for r in translation.row_specs()] == ["rnn", "lstm", "transformer"]
    assert [r[0] for r in summarization.row_specs()] == ["lstm-pointer-generator"]
    assert translation.budget()["value"] != summarization.budget()["value"]
    explicit = CompareConfig(preset="demo", archs="lstm", budget_target_tokens=1000)
    for task in ("multi30k", "dialogsum"):
        assert [r[0] for r in explicit.resolved(task).row_specs()] == ["lstm"]
        assert explicit.resolved(task).budget() == {"kind": "target_tokens", "value": 1000}
    assert CompareConfig(preset="demo", budget_minutes=1).resolved("dialogsum").budget() == {"kind": "minutes", "value": 1}
    for name, preset in COMPARE_PRESETS.items():  # every per-task setting is a compare setting
        for settings in preset.get("per_task", {}).values():
            assert set(settings) <= {f.name for f in fields(CompareConfig)}, name


def test_per_task_settings_apply_to_their_task_alone_and_are_checked():
    """--per_task gives one task its own budget and rows (here SAMSum a larger budget, DialogSum the
    shared one); a task it names must be compared, and only per-task settings may be set."""
    from lineage.configs import parse_config

    config = parse_config(CompareConfig, ["--tasks", "dialogsum,samsum", "--rows", "rnn,lstm", "--budget_minutes", "5",
                                          "--per_task", '{"samsum": {"budget_target_tokens": 1800000, "rows": "lstm"}}'])
    dialogsum, samsum = config.resolved("dialogsum"), config.resolved("samsum")
    assert dialogsum.budget() == {"kind": "minutes", "value": 5} and [r[0] for r in dialogsum.row_specs()] == ["rnn", "lstm"]
    assert samsum.budget() == {"kind": "target_tokens", "value": 1800000} and samsum.budget_minutes is None
    assert [r[0] for r in samsum.row_specs()] == ["lstm"] and samsum.vocab_size == dialogsum.vocab_size
    for per_task, problem in (('{"multi30k": {"seed": 1}}', "names 'multi30k', which --tasks does not list"),
                              ('{"samsum": {"runs_dir": "x"}}', "samsum: runs_dir cannot be set per task"),
                              ("samsum=1", "--per_task is not JSON"), ('{"samsum": 1}', "--per_task: give")):
        with pytest.raises(ConfigError, match=re.escape(problem)):
            CompareConfig(tasks="dialogsum,samsum", per_task=per_task).resolved()


def test_two_process_compare_trains_together_and_tests_and_writes_once(tmp_path):
    """Under `accelerate launch` both processes train each row; only the main one trains the
    tokenizer, tests, writes the results and prints them."""
    flags = ["--preset", "test", "--runs_dir", str(tmp_path), "--archs", "lstm"]
    output = finish(run_script("compare.py", flags, two_cpu_processes(), ACCELERATE_USE_CPU="1"), timeout=600)
    assert output.count("multi30k-de-en: training the shared tokenizer") == 1
    announced = output.index("lineage compare: 1 model to train; estimated ")  # once, before anything trains
    assert output.count("lineage compare: 1 model to train") == 1 and announced < output.index("testing the best model")
    assert output.count("multi30k-de-en/lstm: testing the best model") == 1
    assert output.count("multi30k-de-en lstm: bleu") == 1
    results = json.loads((tmp_path / "test" / "results.json").read_text())
    entry = results["tasks"]["multi30k-de-en"]
    assert entry["errors"] == {}
    assert entry["models"]["lstm"]["training"]["num_processes"] == 2
    row = json.loads((tmp_path / "test" / "multi30k-de-en" / "lstm" / "row.json").read_text())
    assert row == entry["models"]["lstm"]
    assert (tmp_path / "test" / "report.md").exists()



def test_row_labels_name_what_changes_a_recurrent_model():
    from lineage.comparison.rows import row_label

    summarizer = {"attention": "luong-general", "scaled_attention": True, "source_embedding_residual": True}
    assert row_label("rnn", summarizer, "random") == "RNN + scaled luong-general attention + embedding residual"
    copier = {"attention": "luong-general", "copy_attention": True, "coverage": True}
    assert row_label("lstm", copier, "random") == "LSTM + luong-general attention + copy and coverage"
    assert row_label("rnn", {"attention": "none"}, "word2vec") == "RNN (no attention), word2vec embeddings"


def test_summarization_report_has_baselines_copy_rows_and_flags(tmp_path):
    """A summarization compare scores LEAD-3 and LONGEST-3 with the models' metric code, trains the
    pointer-generator row for the LSTM only, and flags every row that falls below a baseline."""
    from lineage.data.loading import load_test_references
    from lineage.data.tasks import get_task
    from lineage.evaluation.baselines import extract
    from lineage.evaluation.generation import score
    from lineage.report.tables import tokens_text

    config = CompareConfig(preset="test", tasks="dialogsum", archs="lstm,transformer",
                           variants="pointer-generator:lstm", runs_dir=str(tmp_path))
    entry = compare(config).to_dict()["tasks"]["dialogsum"]
    assert list(entry["models"]) == ["lstm", "transformer", "lstm-pointer-generator"]
    copier = entry["models"]["lstm-pointer-generator"]["model_config"]
    assert copier["copy_attention"] and copier["coverage"]
    task = get_task("dialogsum")
    sources, references = load_test_references(task)
    lead = score(task, extract("lead-3", sources[:12]), references[:12])
    assert entry["baselines"]["lead-3"]["test"]["rouge2"] == pytest.approx(lead["rouge2"])
    report = (tmp_path / "test" / "report.md").read_text()
    assert "*LEAD-3 (first 3 utterances), no training*" in report and "LONGEST-3" in report
    assert "Rows that copy from the source (pointer-generator): LSTM + luong-general attention + copy and coverage" in report
    assert "and no baseline above it on every ROUGE score. Below that" in report
    for model in entry["models"].values():
        below = [m for m in ("rouge1", "rouge2", "rougeL") if model["test"][m] < lead[m]]
        line = next(line for line in report.splitlines() if line.startswith(f"| {model['label']} |"))
        assert ("below LEAD-3 on" in line) == bool(below), line
        assert 0 <= model["test"]["distinct_outputs"] <= 1
        # The budget section says from which milestone on the model stays above each baseline's ROUGE-L.
        counts = [m["milestone"] for m in model["milestones"]]
        scores = [m["best_test"]["rougeL"] for m in model["milestones"]]
        row = next(line for line in report.splitlines() if line.startswith(f"| {model['label']} | ") and "distinct)" in line)
        assert f"{scores[0]:.2f} ({100 * model['milestones'][0]['best_test']['distinct_outputs']:.0f}% distinct)" in row
        crossing = next(line for line in report.splitlines() if line.startswith(f"- {model['label']}: "))
        for name, baseline in (("LEAD-3", entry["baselines"]["lead-3"]), ("LONGEST-3", entry["baselines"]["longest-3"])):
            value = baseline["test"]["rougeL"]
            stays = [c for i, c in enumerate(counts) if all(v > value for v in scores[i:])]
            expected = (f"above {name} ({value:.2f}) from {tokens_text(stays[0])} on" if stays
                        else f"below {name} ({value:.2f}) at {tokens_text(counts[-1])}")
            assert expected in crossing, crossing
    # A row without milestone scores (from a run made without --milestones) gets no line, and the others keep theirs.
    from lineage.report.curves import baseline_crossings
    from lineage.report.results import TaskEntry
    lstm = entry["models"]["lstm"]
    unscored = TaskEntry.from_dict({**entry, "models": {**entry["models"], "lstm": {**lstm, "milestones": []}}})
    lines = baseline_crossings(unscored)
    assert len(lines) == len(entry["models"]) - 1 and not any(line.startswith(f"- {lstm['label']}: ") for line in lines)


def test_a_larger_budget_continues_each_row_and_a_smaller_one_is_refused(tmp_path):
    """A row trained on 4k target tokens and continued to 6k is the row trained on 6k at once."""
    def tiny(name, **settings):
        return CompareConfig(preset="test", runs_dir=str(tmp_path), name=name, archs="lstm", milestones="2k", **settings)

    straight = compare(tiny("straight")).task("multi30k-de-en").models["lstm"]
    compare(tiny("continued", budget_target_tokens=4000))
    continued = compare(tiny("continued")).task("multi30k-de-en").models["lstm"]
    assert continued.test["bleu"] == straight.test["bleu"] and continued.training["steps"] == straight.training["steps"]
    scores = [[(m.milestone, m.best_test["bleu"], m.best_test["chrf"]) for m in row.milestones] for row in (continued, straight)]
    assert scores[0] == scores[1] and len(scores[0]) == 1
    record = json.loads((tmp_path / "continued" / "multi30k-de-en" / "lstm" / "run.json").read_text())
    assert record["changes"][-1]["changed"] == {"budget_target_tokens": [4000, 6000]}
    with pytest.raises(ConfigError, match=r"budget_target_tokens: 6000 -> 3000"):
        compare(tiny("continued", budget_target_tokens=3000))
