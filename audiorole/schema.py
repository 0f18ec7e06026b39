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


#: Speaker turns from diarization (episode-local speaker labels), also written as RTTM.
TURN_SCHEMA = pa.schema(
    [
        pa.field("episode_key", pa.string(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("speaker", pa.string(), nullable=False),
        pa.field("overlap", pa.bool_(), nullable=False),
        pa.field("confidence", pa.float32(), nullable=False),
    ]
)

#: THE segment schema: one row per utterance, from diarization to the per-character shard. Later stages add
#: columns (``character``, ...); none is renamed or re-shaped. Every segment is kept or rejected with a reason.
SEGMENT_SCHEMA = pa.schema(
    [
        pa.field("episode_key", pa.string(), nullable=False),
        pa.field("segment_id", pa.string(), nullable=False),  # "<episode_key>#<0000>", stable for a given input
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("speaker", pa.string(), nullable=True),  # episode-local label from diarization, e.g. "SPK_03"
        pa.field("speaker_confidence", pa.float32(), nullable=True),  # cosine similarity to the speaker centroid
        pa.field("text", pa.string(), nullable=True),  # the transcript the dataset uses
        pa.field("text_source", pa.string(), nullable=False),  # "subtitle" | "asr"
        pa.field("cue_index", pa.int32(), nullable=True),
        pa.field("cue_part", pa.int8(), nullable=True),
        pa.field("speaker_tag", pa.string(), nullable=True),  # subtitle speaker tag, when the cue had one
        pa.field("asr_text", pa.string(), nullable=True),
        pa.field("asr_confidence", pa.float32(), nullable=True),  # mean word probability
        pa.field("cer", pa.float32(), nullable=True),  # CER of asr_text against a subtitle text
        # the audio's support for a subtitle text the ASR heard otherwise (nats per token; only where cer > max_cer)
        pa.field("text_evidence", pa.float32(), nullable=True),
        pa.field("language", pa.string(), nullable=True),  # ISO 639-1, "und" when too short to tell
        pa.field("language_prob", pa.float32(), nullable=True),
        pa.field("audio_language", pa.string(), nullable=True),  # from the audio, when the ASR model can tell
        pa.field("snr_db", pa.float32(), nullable=True),
        pa.field("clipping", pa.float32(), nullable=True),  # share of clipped samples
        pa.field("overlap", pa.bool_(), nullable=False),  # another speaker talks over part of it
        pa.field("keep", pa.bool_(), nullable=False),
        pa.field("reject_reason", pa.string(), nullable=True),
        pa.field("embedding", pa.list_(pa.float32()), nullable=True),  # speaker embedding (kept segments)
    ]
)
