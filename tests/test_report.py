"""The report's generated README sections: the README shows what the committed results files hold."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from lineage.report.document import README_SECTION, refresh_readme, results_tables, tokenizer_note
from lineage.report.results import Results

ROOT = Path(__file__).resolve().parents[1]


def test_every_readme_results_section_equals_the_tables_of_its_results_file():
    readme = (ROOT / "README.md").read_text()
    sections = list(README_SECTION.finditer(readme))
    assert {"docs/demo-cpu/results.json", "docs/cpu-summarization/results.json"} <= {s["path"] for s in sections}
    for section in sections:
        results = Results.load(ROOT / section["path"])
        assert section["body"] == results_tables(results), f"README section from {section['path']} is stale: lineage report --readme README.md"


def test_refreshing_a_readme_rewrites_its_sections_and_keeps_the_rest(tmp_path):
    results = Results.load(ROOT / "docs/cpu-summarization/results.json")
    results.save(tmp_path / "results.json")
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nBefore.\n\n<!-- results: results.json -->\nold table\n<!-- end results -->\n\nAfter.\n")
    command = [sys.executable, "-m", "lineage.cli", "report", "--readme", str(readme)]
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "section from results.json" in output
    text = readme.read_text()
    assert text.startswith("# Title\n\nBefore.\n\n<!-- results: results.json -->\n") and text.endswith("<!-- end results -->\n\nAfter.\n")
    assert "old table" not in text and results_tables(results) in text
    assert refresh_readme(readme) == ["results.json"] and readme.read_text() == text  # refreshing again changes nothing


def test_report_command_names_a_missing_results_file_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "lineage.cli", "report", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"lineage report: {tmp_path}/results.json does not exist: is {tmp_path} a "
                                     "`lineage compare` run folder?")


def test_a_report_of_rows_without_validation_evaluations_says_so_and_draws_no_empty_plot(tmp_path):
    """Rows of results files that predate `evaluations` (docs/cpu-summarization's DialogSum rows)."""
    from lineage.report.document import write_report

    results = Results.load(ROOT / "docs" / "demo-cpu" / "results.json")
    for entry in results.tasks.values():
        for model in entry.models.values():
            model.evaluations = []  # as such files load
    plots = write_report(results, tmp_path)
    report = (tmp_path / "report.md").read_text()
    for task, entry in results.tasks.items():
        labels = ", ".join(model.label for model in entry.models.values())
        assert f"Validation curves not recorded (results of an earlier Lineage version): {labels}." in report
        assert f"{task}-validation.png" not in plots and not (tmp_path / f"{task}-validation.png").exists()
        assert (tmp_path / f"{task}-by-length.png").stat().st_size > 0


def test_the_tokenizer_note_names_a_sampled_tokenizers_sentences():
    sample = {"sentences": 1_000_000, "rows": 500_000, "split_rows": 4_000_000, "limit": 1_000_000, "seed": 0}
    assert tokenizer_note(SimpleNamespace(tokenizer_sample=sample)) == [
        "Tokenizer: learned from 1,000,000 sentences, both sides of the training pairs (4,000,000 pairs, a seeded "
        "sample of 500,000: the limit is 1,000,000 sentences).", ""]
    assert tokenizer_note(SimpleNamespace(tokenizer_sample=None)) == []
