"""Dataset: a series' characters (voices across episodes, named), dialogues, per-character shards and card."""
