"""Every partitions definition of the project, in one place.

Episodes are keyed ``<series slug>/<episode slug>`` (see ``audiorole.discovery``); series by their slug.
Both are dynamic: the media-root sensor (or ``audiorole run``) adds keys as series and episodes appear.
"""

import dagster as dg

episode_partitions = dg.DynamicPartitionsDefinition(name="episodes")
series_partitions = dg.DynamicPartitionsDefinition(name="series")
#: Characters of every series, keyed ``<series slug>/<character slug>``; the ``characters`` asset adds its main
#: characters here, and each key is one shard partition.
character_partitions = dg.DynamicPartitionsDefinition(name="characters")


def add_partitions(instance: dg.DagsterInstance, partitions_def: dg.DynamicPartitionsDefinition,
                   keys: list[str]) -> list[str]:
    """Register the keys the instance does not know yet; returns them. Two processes (``audiorole run`` and the UI,
    two backfills) may register the same key at once: the one that loses the race finds it known and goes on."""
    for _ in range(5):
        new = [k for k in keys if not instance.has_dynamic_partition(partitions_def.name, k)]
        if not new:
            return []
        try:
            instance.add_dynamic_partitions(partitions_def.name, new)
            return new
        except Exception as err:  # the storage's unique constraint: another process added one of them first
            if "unique" not in str(err).lower():
                raise
    raise RuntimeError(f"could not register {partitions_def.name} partitions {keys}")
