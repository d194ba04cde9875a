"""LEAD-3 and LONGEST-3: the extractive baselines every summarization report shows."""

import pytest
from lineage.evaluation.baselines import extract, lead, longest, units

DIALOGUE = "#Person1#: Hi.\n#Person2#: Hello, how are you today?\n#Person1#: Fine, thanks.\n#Person2#: Shall we go to the cinema tonight?\n#Person1#: Yes."


def test_units_are_utterances_or_sentences():
    assert len(units(DIALOGUE)) == 5
    assert units("One sentence. Another one! A third? Yes.") == ["One sentence.", "Another one!", "A third?", "Yes."]


def test_lead_takes_the_first_three_utterances():
    assert lead(DIALOGUE) == "#Person1#: Hi.\n#Person2#: Hello, how are you today?\n#Person1#: Fine, thanks."


def test_longest_keeps_source_order():
    assert longest(DIALOGUE) == (
        "#Person2#: Hello, how are you today?\n#Person1#: Fine, thanks.\n#Person2#: Shall we go to the cinema tonight?"
    )
    assert longest("a b c\nd") == "a b c\nd"  # fewer units than asked for


def test_unknown_baseline_is_refused():
    with pytest.raises(ValueError, match="unknown baseline"):
        extract("lead-5", [DIALOGUE])
