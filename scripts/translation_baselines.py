"""Translation baselines that learn nothing, scored on a task's full test split with the models' metric code.

    python scripts/translation_baselines.py --task ../shared/data/tatoeba-deu-eng --source_language de --target_language en

- copy: the source sentence itself as the translation (what shared names, numbers and cognates earn);
- most frequent: the training split's most frequent target sentence, for every source.

A model scores above both only by translating. Prints JSON.
"""

import argparse
import json
from collections import Counter

from lineage.data.loading import load_splits, load_test_references
from lineage.data.tasks import get_task
from lineage.evaluation.generation import score


def most_frequent_target(task) -> str:
    """The training split's most frequent target text (counted in Arrow batches, not one list of the corpus)."""
    counts = Counter()
    train = load_splits(task, ("train",))["train"]
    for batch in train.iter(batch_size=10_000):
        counts.update(batch[task.target_column])
    return counts.most_common(1)[0][0]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, help="a task name, Hub dataset id or local folder")
    parser.add_argument("--source_language")
    parser.add_argument("--target_language")
    parser.add_argument("--dataset_config")
    args = parser.parse_args(argv)
    task = get_task(args.task, source_language=args.source_language, target_language=args.target_language,
                    kind="translation", dataset_config=args.dataset_config)
    sources, references = load_test_references(task)
    frequent = most_frequent_target(task)
    results = {
        "task": task.name, "test_examples": len(sources),
        "copy": score(task, sources, references),
        "most_frequent": {"text": frequent, **score(task, [frequent] * len(sources), references)},
    }
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return results


if __name__ == "__main__":
    main()
