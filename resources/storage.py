"""Where episodes come from (the media root) and where artifacts go (the data dir)."""

from __future__ import annotations

import dagster as dg

from audiorole import catalog
from audiorole.discovery import EpisodeSource, discover_episodes, resolve_episode
from audiorole.errors import InputError
from audiorole.store import DataStore


class MediaRootResource(dg.ConfigurableResource):
    """The folder a curator drops series into: ``<root>/<series>/<episodes + subtitles + series.yaml>``."""

    path: str

    def discover(self) -> tuple[list[EpisodeSource], list[InputError]]:
        return discover_episodes(self.path)

    def resolve(self, partition_key: str) -> EpisodeSource:
        return resolve_episode(self.path, partition_key)


class DataStoreResource(dg.ConfigurableResource):
    """The data dir: per-episode artifacts, the DuckDB catalog and the Dagster instance live under it."""

    data_dir: str

    @property
    def store(self) -> DataStore:
        return DataStore(self.data_dir)

    def refresh_catalog(self) -> list[str]:
        return catalog.refresh_catalog(self.data_dir)
