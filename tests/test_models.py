"""lineage.models: the build entry point and the sizes."""

import pytest
from lineage.models import SIZES, build_model
from lineage.models.architectures import ARCHITECTURES


def parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("size", ["small", "base"])
def test_sizes_of_one_name_have_similar_parameter_counts(size, multi30k_tokenizer):
    counts = {arch: parameters(build_model(arch, multi30k_tokenizer, size)) for arch in ARCHITECTURES}
    assert max(counts.values()) / min(counts.values()) < 1.25, counts


def test_build_model_uses_the_tokenizer_ids(toy_tokenizer):
    for arch in ARCHITECTURES:
        config = build_model(arch, toy_tokenizer, "tiny").config
        assert (config.vocab_size, config.pad_token_id, config.eos_token_id, config.decoder_start_token_id) == (
            len(toy_tokenizer), 0, 2, 1)


def test_unknown_architecture_and_size_are_named(toy_tokenizer):
    with pytest.raises(ValueError, match="unknown architecture 'gpt': choose one of rnn, lstm, mingru, minlstm, transformer"):
        build_model("gpt", toy_tokenizer)
    with pytest.raises(ValueError, match="unknown model size 'huge'"):
        build_model("lstm", toy_tokenizer, "huge")
    assert all(set(SIZES[size]) == set(ARCHITECTURES) for size in SIZES)
