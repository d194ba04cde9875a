"""Lineage: train, compare and publish RNN, LSTM and Transformer sequence-to-sequence models.

The packages, lowest first (a package imports only those below it: scripts/import_graph.py checks it;
docs/architecture.md draws the map and the data flow of one comparison):

    models       the models and what travels to the Hub with them (torch + transformers only)
    errors       one-line errors
    files, configs, environment, app
                 atomic files, reading a command's settings, the machine, the side-by-side page
    data         tasks, loading, tokenizer, word2vec, batching
    evaluation   decoding and scoring (evaluate metrics), extractive baselines, probes of trained models
    training     one training loop for every architecture, run by Accelerate
    report       results files, tables, statistics, budget curves, report.md
    speed        training and decoding speed, memory and FLOP utilisation
    hub          model cards, publishing, the Space
    comparison   `lineage compare`: every architecture on a task under one budget
    study        `lineage study`: the questions, each answered with measurements
    cli          the `lineage` command
"""
