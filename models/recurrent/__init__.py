"""RNN and LSTM encoder-decoder models (configuration and modeling)."""

from .configuration_recurrent import LSTMConfig, RecurrentConfig, RNNConfig
from .modeling_recurrent import LSTMForConditionalGeneration, RecurrentPreTrainedModel, RNNForConditionalGeneration

__all__ = [
    "RecurrentConfig",
    "RNNConfig",
    "LSTMConfig",
    "RecurrentPreTrainedModel",
    "RNNForConditionalGeneration",
    "LSTMForConditionalGeneration",
]
