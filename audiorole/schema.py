"""Table schemas shared by every stage (pyarrow).

Modelled on lhotse's ``SupervisionSegment``: one row per timed piece of speech, identified by the episode it
belongs to. Later stages extend these schemas with columns; they never re-shape them.
"""

from __future__ import annotations

import pyarrow as pa

#: One row per subtitle cue *part*. A two-speaker dash cue ("- Hi.\n- Hello.") gives two rows with the same
#: ``cue_index``, ``part`` 0 and 1 and ``n_parts`` 2; both carry the cue's own start/end times.
CUE_SCHEMA = pa.schema(
    [
        pa.field("episode_key", pa.string(), nullable=False),
        pa.field("cue_index", pa.int32(), nullable=False),  # order of the cue in the file, 0-based
        pa.field("part", pa.int8(), nullable=False),  # 0-based part within a dash cue
        pa.field("n_parts", pa.int8(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),  # plain text: markup, SDH cues and speaker tag removed
        pa.field("raw_text", pa.string(), nullable=False),  # the cue text as found in the file
        pa.field("speaker_tag", pa.string(), nullable=True),  # e.g. "JOEY" from "JOEY: How you doin'?"
    ]
)


def empty_table(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()
