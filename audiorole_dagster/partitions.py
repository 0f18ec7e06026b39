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
