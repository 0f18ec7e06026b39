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


class AutomationConfigResource(dg.ConfigurableResource):
    """The run config of the runs the sensors and schedules request, per asset, as in the launchpad:
    a YAML file ``{asset name: {field: value}}`` (env ``AUDIOROLE_RUN_CONFIG``), e.g.
    ``characters: {min_character_s: 4.0}``. Without one, every asset's documented defaults."""

    path: str | None = None

    def config(self) -> dict:
        if not self.path:
            return {}
        import yaml
        from pathlib import Path

        try:
            data = yaml.safe_load(Path(self.path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InputError(self.path, f"automation run config is unreadable: {err}") from err
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise InputError(self.path, "automation run config must map asset names to config mappings")
        return data
