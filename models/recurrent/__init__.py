"""RNN, LSTM, minGRU and minLSTM encoder-decoder models (configuration and modeling)."""

from .configuration_recurrent import LSTMConfig, MinGRUConfig, MinLSTMConfig, RecurrentConfig, RNNConfig
from .modeling_recurrent import (
    LSTMForConditionalGeneration,
    MinGRUForConditionalGeneration,
    MinLSTMForConditionalGeneration,
    RecurrentPreTrainedModel,
    RNNForConditionalGeneration,
)

__all__ = [
    "RecurrentConfig",
    "RNNConfig",
    "LSTMConfig",
    "MinGRUConfig",
    "MinLSTMConfig",
    "RecurrentPreTrainedModel",
    "RNNForConditionalGeneration",
    "LSTMForConditionalGeneration",
    "MinGRUForConditionalGeneration",
    "MinLSTMForConditionalGeneration",
]
