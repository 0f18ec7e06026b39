"""Dagster resources: storage locations now; model backends (VAD, ASR, diarization, embeddings) join them here."""

from resources.storage import AutomationConfigResource, DataStoreResource, MediaRootResource

__all__ = ["AutomationConfigResource", "DataStoreResource", "MediaRootResource"]
