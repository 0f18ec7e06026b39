"""Where episodes come from (the media root) and where artifacts go (the data dir)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from audiorole import catalog
from audiorole.discovery import EpisodeSource, discover_episodes, resolve_episode
from audiorole.errors import InputError
from audiorole.store import DataStore
from evaluation import schema as evaluation_schema
from training import schema as training_schema

#: The catalog tables each layer above the domain library registers (the domain library's are ``catalog``'s own).
_CATALOG_LAYERS = (training_schema, evaluation_schema)


def refresh_catalog(data_dir: str | Path) -> list[str]:
    """(Re)create the catalog views of every layer over ``data_dir``: the domain library's (``audiorole.catalog``),
    the model half's (``training.schema``) and ARP-Eval's (``evaluation.schema``). Returns the view names."""
    sources, views = {}, {}
    for layer in _CATALOG_LAYERS:
        clash = ((catalog.SOURCES.keys() | sources.keys()) & layer.CATALOG_SOURCES.keys()) | (
            (catalog.VIEWS.keys() | views.keys()) & layer.CATALOG_VIEWS.keys())
        if clash:
            raise ValueError(f"{layer.__name__}: catalog tables {sorted(clash)} are already registered by another layer")
        sources.update(layer.CATALOG_SOURCES)
        views.update(layer.CATALOG_VIEWS)
    return catalog.refresh_catalog(data_dir, extra_sources=sources, extra_views=views)


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
        return refresh_catalog(self.data_dir)


class AutomationConfigResource(dg.ConfigurableResource):
    """The run config of the runs the sensors and schedules request, per asset, as in the launchpad:
    a YAML file ``{asset name: {field: value}}`` (env ``AUDIOROLE_RUN_CONFIG``), e.g.
    ``characters: {min_character_s: 4.0}``. Without one, every asset's documented defaults."""

    path: str | None = None

    def config(self) -> dict:
        if not self.path:
            return {}
        import yaml

        try:
            data = yaml.safe_load(Path(self.path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InputError(self.path, f"automation run config is unreadable: {err}") from err
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise InputError(self.path, "automation run config must map asset names to config mappings")
        return data
