"""Local copies of Hub datasets' layouts, written from the shared data, for tests and dry runs offline.

    python scripts/layout_copies.py OUT_DIR     # OUT_DIR/wmt14 and OUT_DIR/cnn_dailymail

- `wmt14`: the layout of `wmt/wmt14` (and wmt16, iwslt2017, opus_books): one nested column
  `{"translation": {"de": ..., "en": ...}}`, one configuration per language pair ("de-en", "fr-en"), each
  with train, validation and test splits; the pairs are Multi30k's.
- `cnn_dailymail`: the layout of `abisee/cnn_dailymail`: columns `article`, `highlights`, `id`, configuration
  "3.0.0"; the texts are DialogSum's dialogues and summaries.

The copies hold the first `rows` examples of each split; a README.md with a `configs:` block lets
`datasets.load_dataset(folder, config)` find the splits, as on the Hub.
"""

import json
import sys
from pathlib import Path

SPLITS = ("train", "validation", "test")


def read_jsonl(path: Path, rows: int) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for _, line in zip(range(rows), lines)]


def write_layout(folder: Path, configs: dict[str, dict[str, list[dict]]]) -> Path:
    """`configs`: configuration -> split -> records; writes <config>/<split>.jsonl and the README's configs block."""
    block = ["---", "configs:"]
    for config, splits in configs.items():
        block += [f"- config_name: {config}", "  data_files:"]
        for split, records in splits.items():
            path = folder / config / f"{split}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
            block += [f"  - split: {split}", f"    path: {config}/{split}.jsonl"]
    (folder / "README.md").write_text("\n".join(block + ["---", ""]), encoding="utf-8")
    return folder


def wmt14_copy(data_dir: Path, out: Path, rows: int = 300) -> Path:
    """The wmt14 layout (nested translation column, a configuration per pair) with Multi30k's pairs."""
    configs = {}
    for pair in ("de-en", "fr-en"):
        source, target = pair.split("-")
        configs[pair] = {split: [{"translation": {source: record[source], target: record[target]}}
                                 for record in read_jsonl(data_dir / "multi30k" / f"{split}.jsonl", rows)]
                         for split in SPLITS}
    return write_layout(out / "wmt14", configs)


def cnn_dailymail_copy(data_dir: Path, out: Path, rows: int = 200) -> Path:
    """The cnn_dailymail layout (article, highlights, id; configuration 3.0.0) with DialogSum's texts."""
    splits = {split: [{"article": record["dialogue"], "highlights": record["summary"], "id": f"{split}-{index}"}
                      for index, record in enumerate(read_jsonl(data_dir / "dialogsum" / f"{split}.jsonl", rows))]
              for split in SPLITS}
    return write_layout(out / "cnn_dailymail", {"3.0.0": splits})


def main(argv: list[str]) -> int:
    import os

    data_dir = Path(os.environ.get("LINEAGE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    out = Path(argv[0]) if argv else Path("layout-copies")
    for folder in (wmt14_copy(data_dir, out), cnn_dailymail_copy(data_dir, out)):
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
