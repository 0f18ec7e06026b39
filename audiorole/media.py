"""Media probing and audio standardization through ffmpeg (ffmpeg-python).

Every failure raises :class:`~audiorole.errors.MediaError` naming the file and the problem, with ffmpeg's own
last words attached, so a curator sees *why* a partition failed.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import ffmpeg

from audiorole.errors import MediaError
from audiorole.io import atomic_path

#: Standard audio every later stage reads: 16 kHz mono FLAC, loudness-normalized (EBU R128).
SAMPLE_RATE = 16_000
#: Integrated loudness target (LUFS), true-peak ceiling (dBTP) and loudness range for ffmpeg's loudnorm.
LOUDNESS_I = -23.0
LOUDNESS_TP = -2.0
LOUDNESS_LRA = 11.0
#: Below this many seconds of decoded audio an episode is treated as empty.
MIN_AUDIO_S = 0.5
#: Decoded audio shorter than this share of the container's declared duration means a truncated file
#: (a cut .mkv decodes "successfully" up to where the bytes stop).
MIN_DECODED_SHARE = 0.95

#: Subtitle codecs ffmpeg can turn into SRT text (bitmap subtitles such as PGS or DVB cannot).
TEXT_SUBTITLE_CODECS = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"}


@dataclass
class StreamInfo:
    index: int
    kind: str  # audio | video | subtitle | data | attachment
    codec: str | None
    language: str | None = None
    channels: int | None = None
    sample_rate: int | None = None


@dataclass
class MediaInfo:
    path: str
    container: str
    duration_s: float
    size_bytes: int
    sha256: str
    streams: list[StreamInfo] = field(default_factory=list)

    @property
    def audio_streams(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == "audio"]

    @property
    def subtitle_streams(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == "subtitle"]

    @property
    def has_video(self) -> bool:
        return any(s.kind == "video" for s in self.streams)

    def to_dict(self) -> dict:
        return asdict(self)


def require_ffmpeg() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"'{tool}' not found on PATH: install Debian's ffmpeg (apt-get install ffmpeg)")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _ffmpeg_reason(err: ffmpeg.Error) -> str:
    """The last meaningful line ffmpeg printed (its error), without the banner."""
    text = (err.stderr or b"").decode("utf-8", "replace").strip().splitlines()
    lines = [ln.strip() for ln in text if ln.strip() and not ln.startswith(("  ", "ffmpeg version", "built with"))]
    return lines[-1] if lines else "ffmpeg failed"


def probe(path: str | Path) -> MediaInfo:
    """Describe a media file: container, duration, streams and checksum.

    Raises MediaError for a missing, empty, truncated or unreadable file, or one with no audio stream.
    """
    require_ffmpeg()
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(path, "file is empty (0 bytes)")
    try:
        info = ffmpeg.probe(str(path))
    except ffmpeg.Error as err:
        raise MediaError(path, f"cannot read media container ({_ffmpeg_reason(err)})") from None
    streams = [
        StreamInfo(
            index=int(s["index"]),
            kind=s.get("codec_type", "unknown"),
            codec=s.get("codec_name"),
            language=(s.get("tags") or {}).get("language"),
            channels=s.get("channels"),
            sample_rate=int(s["sample_rate"]) if s.get("sample_rate") else None,
        )
        for s in info.get("streams", [])
    ]
    fmt = info.get("format", {})
    duration = float(fmt.get("duration") or 0.0)
    media = MediaInfo(
        path=str(path),
        container=fmt.get("format_name", "unknown"),
        duration_s=duration,
        size_bytes=size,
        sha256=sha256_file(path),
        streams=streams,
    )
    if not media.audio_streams:
        kinds = ", ".join(sorted({s.kind for s in streams})) or "none"
        raise MediaError(path, f"no audio stream (streams found: {kinds})")
    if "duration" in fmt and duration <= 0.0:
        raise MediaError(path, "audio stream is empty (duration 0 s)")
    return media


def standardize_audio(
    src: str | Path, dst: str | Path, *, loudnorm: bool = True, expected_duration_s: float | None = None
) -> dict:
    """Decode the first audio stream of ``src`` to 16 kHz mono FLAC at ``dst`` (atomically).

    Loudness is normalized to -23 LUFS (single-pass loudnorm) unless ``loudnorm`` is False. Returns facts about
    the written audio: sample rate, sample count, duration. Raises MediaError when decoding fails, yields
    (almost) no audio, or yields clearly less than ``expected_duration_s`` (the container's declared duration):
    a truncated file often probes fine and only fails here.
    """
    import soundfile as sf

    require_ffmpeg()
    src, dst = Path(src), Path(dst)
    with atomic_path(dst, suffix=".flac") as tmp:
        stream = ffmpeg.input(str(src)).audio
        if loudnorm:
            stream = stream.filter("loudnorm", i=LOUDNESS_I, tp=LOUDNESS_TP, lra=LOUDNESS_LRA)
        out = ffmpeg.output(
            stream, str(tmp), ac=1, ar=SAMPLE_RATE, acodec="flac", sample_fmt="s16",
            **{"map_metadata": -1, "fflags": "+bitexact", "flags:a": "+bitexact"},
        ).global_args("-nostdin", "-xerror")
        try:
            out.overwrite_output().run(capture_stdout=True, capture_stderr=True)
        except ffmpeg.Error as err:
            raise MediaError(src, f"audio decoding failed ({_ffmpeg_reason(err)})") from None
        try:
            n_frames = _count_frames(tmp)
        except RuntimeError as err:
            raise MediaError(src, f"decoded audio is unreadable ({err})") from None
        decoded_s = n_frames / SAMPLE_RATE
        if decoded_s < MIN_AUDIO_S:
            raise MediaError(src, f"audio is empty or too short ({decoded_s:.2f} s decoded)")
        if expected_duration_s and decoded_s < MIN_DECODED_SHARE * expected_duration_s - 0.5:
            raise MediaError(
                src, f"truncated or corrupt: decoded {decoded_s:.1f} s of the {expected_duration_s:.1f} s declared"
            )
    return {"sample_rate": SAMPLE_RATE, "n_samples": n_frames, "duration_s": decoded_s, "loudnorm": loudnorm}


def _count_frames(path: Path) -> int:
    """Frames in an audio file. FLAC written without a known length reports a sentinel: count by decoding."""
    import soundfile as sf

    frames = sf.info(str(path)).frames
    if frames < 2**40:
        return int(frames)
    try:
        return sum(len(block) for block in sf.blocks(str(path), blocksize=1 << 16))
    except RuntimeError:  # libsndfile cannot seek in a FLAC that holds no frame at all
        return 0


def extract_subtitle_stream(src: str | Path, stream_index: int) -> str:
    """Return the text subtitle stream ``stream_index`` (absolute index) of ``src`` converted to SRT text."""
    require_ffmpeg()
    try:
        out, _ = (
            ffmpeg.input(str(src))
            .output("pipe:", format="srt", map=f"0:{stream_index}")
            .global_args("-nostdin")
            .run(capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as err:
        raise MediaError(src, f"cannot extract subtitle stream #{stream_index} ({_ffmpeg_reason(err)})") from None
    return out.decode("utf-8", "replace")
