"""Segments: speech activity, enhancement, subtitle sync, diarization, transcript and the aligned segments of an
episode. The algorithms live in their own modules; ``backends`` holds the diarizer backends and ``stages`` the
runners of the stage protocol."""
