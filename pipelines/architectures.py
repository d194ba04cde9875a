"""The architectures a comparison trains, by the names every layer above `models/` uses.

A module of its own, free of imports, so that code which only names the
architectures (the study's statistics and verdicts, model cards) does not
load `compare` and with it torch and accelerate.
"""

ARCHS = ("rnn", "lstm", "transformer")
RECURRENT = ("rnn", "lstm")
LABELS = {"rnn": "RNN", "lstm": "LSTM", "transformer": "Transformer"}
