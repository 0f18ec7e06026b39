"""Tables of the model half (pyarrow), read by the DuckDB catalog: one row per character model, one per reply."""

import pyarrow as pa

CHARACTER_MODEL_SCHEMA = pa.schema([
    ("series_key", pa.string()), ("character", pa.string()), ("character_key", pa.string()),
    ("trained", pa.bool_()), ("why_not", pa.string()), ("train_speech_s", pa.float64()),
    ("n_train_samples", pa.int64()), ("n_val_samples", pa.int64()), ("val_loss", pa.float64()),
    ("steps", pa.int64()), ("model_dir", pa.string()),
])
REPLY_SCHEMA = pa.schema([
    ("sample_id", pa.string()), ("series_key", pa.string()), ("character", pa.string()),
    ("character_key", pa.string()), ("dialogue_id", pa.string()), ("context", pa.string()),
    ("reply_text", pa.string()), ("reference_text", pa.string()), ("n_units", pa.int32()),
    ("duration_s", pa.float64()), ("audio_path", pa.string()),
])
