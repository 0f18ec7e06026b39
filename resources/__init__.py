"""Dagster resources: storage locations now; model backends (VAD, ASR, diarization, embeddings) join them here."""

from resources.storage import DataStoreResource, MediaRootResource

__all__ = ["DataStoreResource", "MediaRootResource"]
