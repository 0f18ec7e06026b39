"""Tables of the model half (pyarrow), read by the DuckDB catalog: one row per character model.

``CATALOG_SOURCES`` / ``CATALOG_VIEWS`` are this layer's catalog tables (as ``audiorole.catalog.SOURCES`` /
``VIEWS``); ``resources.storage.refresh_catalog`` registers them with every layer's.
"""

import pyarrow as pa

CHARACTER_MODEL_SCHEMA = pa.schema([
    ("series_key", pa.string()), ("character", pa.string()), ("character_key", pa.string()),
    ("trained", pa.bool_()), ("why_not", pa.string()), ("train_speech_s", pa.float64()),
    ("n_train_samples", pa.int64()), ("n_val_samples", pa.int64()), ("val_loss", pa.float64()),
    ("steps", pa.int64()), ("model_dir", pa.string()),
])

#: Parquet sources of the catalog: name -> (glob relative to the data dir, schema used when no file exists yet).
CATALOG_SOURCES: dict[str, tuple[str, pa.Schema]] = {
    "character_models": ("models/*/lm/characters.parquet", CHARACTER_MODEL_SCHEMA),
}
#: Catalog views on them. ``{name}`` refers to the source relation of that name.
CATALOG_VIEWS: dict[str, str] = {
    "models": "SELECT * FROM {character_models}",
}
