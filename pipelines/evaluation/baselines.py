"""Extractive summarization baselines that learn nothing: LEAD-3 and LONGEST-3.

A trained summarizer is worth showing only if it beats copying parts of its
input. The units are the source's utterances (one per line, as dialogues
are written) or, for a text on a single line, its sentences:

- LEAD-3: the first three units;
- LONGEST-3: the three longest units (in words), in their original order
  (Gliwa et al. 2019, SAMSum's strongest trivial baseline).

They are scored with the same metric code as the models (`evaluation.score`).
"""

import re

BASELINES = ("lead-3", "longest-3")
LABELS = {"lead-3": "LEAD-3 (first 3 utterances)", "longest-3": "LONGEST-3 (3 longest utterances)"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def units(text: str) -> list[str]:
    """The source's utterances (non-empty lines), or its sentences if it has a single line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        return lines
    return [sentence for sentence in _SENTENCE_END.split(text.strip()) if sentence]


def lead(text: str, count: int = 3) -> str:
    """The first `count` units, joined by newlines."""
    return "\n".join(units(text)[:count])


def longest(text: str, count: int = 3) -> str:
    """The `count` longest units (by word count; earlier first on ties), in source order."""
    parts = units(text)
    ranked = sorted(range(len(parts)), key=lambda i: (-len(parts[i].split()), i))[:count]
    return "\n".join(parts[i] for i in sorted(ranked))


EXTRACTORS = {"lead-3": lead, "longest-3": longest}


def extract(name: str, sources: list[str]) -> list[str]:
    """Baseline `name`'s summary of every source."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown baseline {name!r}: choose one of {', '.join(BASELINES)}")
    return [EXTRACTORS[name](source) for source in sources]
