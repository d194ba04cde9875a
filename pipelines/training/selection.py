"""Which evaluation's model a run keeps as its best: the validation metric, guarded against collapse.

A model that has not yet learned its task often writes one stock output for every source ("#Person1# and
#Person2# are talking about the weather."), and on a small greedy validation sample such a checkpoint can
score more ROUGE-L than a later one that reads its sources: on DialogSum with seed 1, the Transformer's
best checkpoint by validation ROUGE-L stayed at step 200, which wrote one sentence for all 500 test
dialogues (docs/budget-curves). So a checkpoint whose validation outputs are far less varied than the
references never wins over one that is not, whatever its metric; among checkpoints alike in this, the
metric decides (as before: a run whose outputs are all varied picks the same checkpoint as it always did).
"""

from dataclasses import dataclass

# Varied enough: at least half as large a share of distinct outputs as the references have. Relative to the
# references, so that a corpus whose targets repeat (short answers, labels) is not held to distinct outputs
# it cannot have; a model that learned either task writes 90-100% distinct outputs (docs/cpu-summarization).
VARIETY_SHARE = 0.5


@dataclass(frozen=True)
class Candidate:
    """One evaluation of a run, as the choice of best model reads it.

    Args:
        metric: the task's main validation metric (higher is better).
        distinct: the share of distinct outputs on the validation sample; None where a run recorded none
            (checkpoints of earlier versions), which counts as varied.
    """

    metric: float
    distinct: float | None = None


def varied(candidate: Candidate, references_distinct: float) -> bool:
    """Whether `candidate`'s outputs are at least `VARIETY_SHARE` as varied as the references
    (`references_distinct`: their share of distinct texts)."""
    return candidate.distinct is None or candidate.distinct >= VARIETY_SHARE * references_distinct


def better(candidate: Candidate, best: Candidate | None, references_distinct: float) -> bool:
    """Whether `candidate` replaces `best` (None: no best yet) as the run's best model: a varied candidate beats
    a collapsed best; a collapsed one never beats a varied best; otherwise the higher metric wins."""
    if best is None:
        return True

    def rank(item: Candidate) -> tuple[bool, float]:
        return varied(item, references_distinct), item.metric

    return rank(candidate) > rank(best)
