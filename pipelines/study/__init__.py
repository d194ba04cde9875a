"""`lineage study`: answer the questions about RNN, LSTM, Transformer and word2vec with measurements.

The study is a grid of *cells*; a cell is one compare row (`comparison.running.train_row`:
the shared tokenizer, data pipeline, training loop and evaluation) for one
task, architecture, variant, training-set size and seed. Every question reads
its numbers from the cells, the speed measurement and probes of trained models:

    1 quality      architectures at equal budget, translation and summarization
    2 parallelism  training throughput, time per epoch and decoding latency vs length (lineage.speed)
    3 long_range   test metric by source-length bucket, recurrent models with and without attention
    4 data_size    test metric vs training-set size (learning curves)
    5 word2vec     random vs word2vec vs frozen word2vec embeddings, small and full data
    6 senses       word2vec's one vector vs the encoders' states for ambiguous words
    7 attention    cross-attention maps on one example
    8 components   the stock Transformer against its variants (LSTM for self-attention, one head, no
                   feed-forward blocks, no residual connections), at a budget of its own

Budgets are counted in target tokens, so a cell's result does not depend on
how busy the machine was. Layout of `runs/<name>/`: the compare layout
(`<task>/<row>/` per cell, `models/`), plus `speed/` (the speed measurement's JSON),
`study.json`, `study.md` and the plots. A finished cell keeps its row.json
and is reused when the study runs again with the same settings (a cell whose
settings changed, say a preset's budget, is refused or with --overwrite
retrained: `comparison.reuse.claim_rows`); an interrupted cell continues from its last
checkpoint; checkpoints of finished cells are deleted (the best model stays).

The package has one module per question (its numbers, plot, table and
verdict together: quality.py ... components.py), the grid of cells
(grid.py), the statistics the verdicts rest on (stats.py) and the runner
(runner.py). This file imports none of them, so that the statistics load
without compare, torch and accelerate.
"""
