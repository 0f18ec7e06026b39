"""Every partitions definition of the project, in one place.

Episodes are keyed ``<series slug>/<episode slug>`` (see ``audiorole.discovery``); series by their slug.
Both are dynamic: the media-root sensor (or ``audiorole run``) adds keys as series and episodes appear.
"""

import dagster as dg

episode_partitions = dg.DynamicPartitionsDefinition(name="episodes")
series_partitions = dg.DynamicPartitionsDefinition(name="series")
