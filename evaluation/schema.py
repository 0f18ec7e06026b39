"""Tables of ARP-Eval (pyarrow), read by the DuckDB catalog.

``CATALOG_SOURCES`` / ``CATALOG_VIEWS`` are this layer's catalog tables (as ``audiorole.catalog.SOURCES`` /
``VIEWS``); ``resources.storage.refresh_catalog`` registers them with every layer's.
"""

import pyarrow as pa

_CONTEXT_TURN = pa.struct([("speaker", pa.string()), ("text", pa.string())])

TEST_SAMPLE_SCHEMA = pa.schema([
    ("sample_id", pa.string()), ("series_key", pa.string()), ("set", pa.string()),  # single_turn | multi_turn
    ("dialogue_id", pa.string()), ("episode_key", pa.string()),
    ("character", pa.string()), ("character_key", pa.string()),
    ("context", pa.list_(_CONTEXT_TURN)),
    ("reply_text", pa.string()), ("reply_segment_id", pa.string()), ("reply_start_s", pa.float64()),
    ("reply_end_s", pa.float64()), ("audio_path", pa.string()),
    ("reply_segment_ids", pa.list_(pa.string())),  # every segment of the reply's turn (AP leaves them all out)
    # the anchor: another main character's real reply (its text and audio), scored as if it were the reply
    ("other_character", pa.string()), ("other_character_key", pa.string()), ("other_dialogue_id", pa.string()),
    ("other_text", pa.string()), ("other_segment_id", pa.string()), ("other_start_s", pa.float64()),
    ("other_end_s", pa.float64()), ("other_audio_path", pa.string()),
])

SAMPLE_SCORE_SCHEMA = pa.schema([
    ("series_key", pa.string()), ("sample_id", pa.string()), ("set", pa.string()), ("character", pa.string()),
    ("character_key", pa.string()), ("system", pa.string()), ("metric", pa.string()),
    ("raw", pa.float64()), ("normalized", pa.float64()),
    ("status", pa.string()),  # ok | failed (silent / corrupt audio, empty text) | missing (no reply) | unscored
    ("problem", pa.string()), ("reply_text", pa.string()), ("transcript", pa.string()),
])

EVAL_RESULT_SCHEMA = pa.schema([
    ("series_key", pa.string()), ("character", pa.string()), ("character_key", pa.string()),
    ("set", pa.string()),  # all | single_turn | multi_turn
    # score | difference (system = "arp-model - base") | auc (system = the anchors)
    # | auc_pair (held out: the character's replies against one other character's, system = that character)
    ("kind", pa.string()),
    ("system", pa.string()), ("metric", pa.string()),
    ("value", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("n", pa.int64()),
    ("raw", pa.float64()), ("n_failed", pa.int64()), ("n_missing", pa.int64()),
])

#: The ARP-Model's replies to the test set (``evaluation.replies``; written beside the model).
REPLY_SCHEMA = pa.schema([
    ("sample_id", pa.string()), ("series_key", pa.string()), ("character", pa.string()),
    ("character_key", pa.string()), ("dialogue_id", pa.string()), ("context", pa.string()),
    ("reply_text", pa.string()), ("reference_text", pa.string()), ("n_units", pa.int32()),
    ("duration_s", pa.float64()), ("audio_path", pa.string()),
])

#: Parquet sources of the catalog: name -> (glob relative to the data dir, schema used when no file exists yet).
CATALOG_SOURCES: dict[str, tuple[str, pa.Schema]] = {
    "test_sets": ("eval/*/test_set.parquet", TEST_SAMPLE_SCHEMA),
    "eval_samples": ("eval/*/samples.parquet", SAMPLE_SCORE_SCHEMA),
    "eval_results": ("eval/*/results.parquet", EVAL_RESULT_SCHEMA),
    "replies": ("models/*/replies/*/replies.parquet", REPLY_SCHEMA),
}
#: Catalog views on them. ``{name}`` refers to the source relation of that name.
CATALOG_VIEWS: dict[str, str] = {
    "test_set": "SELECT * FROM {test_sets}",
    "eval_scores": "SELECT * FROM {eval_samples}",
    "eval_results": "SELECT * FROM {eval_results}",
    "replies": "SELECT * FROM {replies}",
}
