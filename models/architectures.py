"""The architectures Lineage trains: the one registry of their names, labels and classes.

Every layer above names architectures through this module (the comparison's
rows, the study's cells, reports and model cards); a new architecture is one
entry here plus its sizes (`sizes.py`) and training presets.
"""

from dataclasses import dataclass

from transformers import PretrainedConfig, PreTrainedModel

from .recurrent.configuration_recurrent import LSTMConfig, MinGRUConfig, MinLSTMConfig, RNNConfig
from .recurrent.modeling_recurrent import (
    LSTMForConditionalGeneration,
    MinGRUForConditionalGeneration,
    MinLSTMForConditionalGeneration,
    RNNForConditionalGeneration,
)


@dataclass(frozen=True)
class Architecture:
    """One architecture.

    Args:
        name: its name in flags, row names and folders ("lstm").
        label: how reports and cards name it ("LSTM").
        config_class: the config of a recurrent model (registered with the Auto classes);
            None for the Transformer, a stock transformers config (`transformer.py`).
        model_class: the recurrent model class; None for the Transformer.
    """

    name: str
    label: str
    config_class: type[PretrainedConfig] | None = None
    model_class: type[PreTrainedModel] | None = None

    @property
    def recurrent(self) -> bool:
        """Whether it is one of Lineage's recurrent models (attention and copy options, custom code on the Hub)."""
        return self.model_class is not None


ARCHITECTURES = {
    architecture.name: architecture
    for architecture in (
        Architecture("rnn", "RNN", RNNConfig, RNNForConditionalGeneration),
        Architecture("lstm", "LSTM", LSTMConfig, LSTMForConditionalGeneration),
        Architecture("mingru", "minGRU", MinGRUConfig, MinGRUForConditionalGeneration),
        Architecture("minlstm", "minLSTM", MinLSTMConfig, MinLSTMForConditionalGeneration),
        Architecture("transformer", "Transformer"),
    )
}
ARCHS = tuple(ARCHITECTURES)
RECURRENT = tuple(name for name, architecture in ARCHITECTURES.items() if architecture.recurrent)
LABELS = {name: architecture.label for name, architecture in ARCHITECTURES.items()}
# The three generations of the lineage: a comparison's default rows and the study's architectures. minGRU and
# minLSTM (recurrent, trained with a parallel scan) join a comparison when named (--archs, --rows).
GENERATIONS = ("rnn", "lstm", "transformer")
