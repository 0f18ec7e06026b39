"""ARP-Eval: judge role-play models on the series' held-out test split, per character, against baselines.

The steps, one module each (plain functions; the Dagster assets in ``assets/evaluation.py`` only call them):

    testset     the fixed test set of a series: single- and multi-turn samples of every main character from the test
                split, each with its anchor (another main character's real reply)
    systems     one folder per system with ``<sample_id>.txt`` + ``<sample_id>.wav``: the anchors (real reply, another
                character's reply), ARP-Model's replies, the Base and One-shot baselines, and any folder a user drops in
    metrics     AP (speaker similarity), CP (character attribution), relevance, intelligibility (CER)
    stats       normalization between the anchors, bootstrap intervals, paired differences, AUC
    score       every system × sample × metric, then the per-character table
    report      Markdown + HTML with plots and audio players
    stages      the stage functions with the data half's stamp protocol (``audiorole.store``)
"""
