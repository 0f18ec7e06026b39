"""Write the demo series: media root (episodes, subtitles, series.yaml, enrollment clips) and ground truth.

Made hard on purpose, like real TV: a music bed at 10–20 dB SNR, music-only gaps between scenes, overlapping
lines, backchannels, and subtitle defects (jitter, dash cues, partial speaker tags, missing lines, SDH cues; one
episode with a 1.5 s offset and 500 ppm drift). Deterministic for a seed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from audiorole.demo import mix, script, voices
from audiorole.io import atomic_path, write_bytes_atomic, write_json_atomic, write_text_atomic

SR = voices.SR
DEMO_VERSION = "3"  # 3: characters speak in styles, every line once (script.LINE_KINDS)
SERIES = "Maple Street"
SAMPLE_SERIES = "pyannote sample"

#: Episode containers and subtitle styles, in order; episodes past the third alternate the last two rows.
EPISODE_STYLES = [
    {"ext": ".mkv", "subs": "embedded", "drift_ppm": 0.0, "offset_s": 0.0},
    {"ext": ".mp4", "subs": "ass-utf16", "drift_ppm": 0.0, "offset_s": 0.0},
    {"ext": ".wav", "subs": "srt-cp1252", "drift_ppm": 500.0, "offset_s": 1.5},
    {"ext": ".wav", "subs": "srt", "drift_ppm": 0.0, "offset_s": 0.0},
    {"ext": ".mp4", "subs": "srt", "drift_ppm": 0.0, "offset_s": 0.0},
]
JITTER_S = 0.3  # ± uniform jitter on every cue edge
SNR_DB = (10.0, 20.0)  # speech-to-bed SNR range, drawn per scene
MUSIC_GAP_BOOST_DB = 6.0  # music-only gaps are this much louder than the bed under speech
AVG_SLOT_S = 1.5  # a lower bound on the time a line takes (speech + gap): the script is cut to length after


@dataclass
class DemoEpisode:
    series: str
    stem: str
    media_path: str
    subtitle_path: str | None
    truth_rttm: str
    truth_lines: str


@dataclass
class DemoManifest:
    media_root: Path
    truth_root: Path
    episodes: list[DemoEpisode] = field(default_factory=list)


@dataclass
class PlacedLine:
    line: script.Line
    start: float
    end: float
    audio: np.ndarray = field(repr=False, default=None)
    cue_index: int | None = None
    in_dash_cue: bool = False
    speaker_tagged: bool = False


def _ffmpeg(*args: str) -> None:
    if shutil.which("ffmpeg") is None:
        raise voices.VoiceUnavailable("'ffmpeg' not found: install it (apt-get install ffmpeg)")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


# timeline --------------------------------------------------------------------------------------------------------
def place_lines(ep: script.EpisodeScript, rng: np.random.Generator, tts,
                max_s: float = float("inf")) -> tuple[list[PlacedLine], float]:
    """Put lines on the timeline until ``max_s``: gaps inside scenes, music-only gaps between, a few overlaps."""
    voice_of = {c.name: c.voice for c in script.CHARACTERS}
    placed: list[PlacedLine] = []
    t = float(rng.uniform(2.0, 4.0))  # music intro
    for ln in ep.lines:
        audio = tts(voice_of[ln.character], ln.text)
        dur = len(audio) / SR
        prev = placed[-1] if placed else None
        if prev is None:
            start = t
        elif prev.line.scene != ln.scene:
            start = prev.end + float(rng.uniform(3.0, 8.0))
            ln.overlaps_previous = False
        elif ln.overlaps_previous and prev.end - prev.start > 1.5:
            start = prev.end - float(rng.uniform(0.3, min(1.0, (prev.end - prev.start) / 2)))
        else:
            ln.overlaps_previous = False
            start = max(prev.end, max((p.end for p in placed[-3:]), default=0)) + float(rng.uniform(0.2, 0.8))
        if start + dur > max_s - 3.0 and placed:
            break
        placed.append(PlacedLine(ln, start, start + dur, audio))
    return placed, placed[-1].end + float(rng.uniform(2.0, 4.0))


def moving_average(x: np.ndarray, win: int) -> np.ndarray:
    """``np.convolve(x, np.ones(win) / win, mode="same")`` (zeros past the ends) from a running sum: O(n), where the
    convolution took 20 s per 15-minute episode at 48 kHz."""
    n = len(x)
    total = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    i = np.arange(n)
    hi = np.minimum(i + (win - 1) // 2 + 1, n)
    lo = np.clip(i + (win - 1) // 2 + 1 - win, 0, n)
    return ((total[hi] - total[lo]) / win).astype(np.float32)


def mix_episode(placed: list[PlacedLine], duration: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Speech over a music bed whose level is set per scene for a speech-to-bed SNR in SNR_DB."""
    n = int(duration * SR)
    speech = np.zeros(n, dtype=np.float32)
    for p in placed:
        a = int(p.start * SR)
        seg = p.audio[: n - a]
        speech[a:a + len(seg)] += seg
    bed = mix.music_bed(duration, rng) + 0.15 * mix.pink_noise(n, rng)
    bed /= float(np.sqrt(np.mean(bed**2)))
    gain = np.zeros(n, dtype=np.float32)
    snrs = {}
    scenes = sorted({p.line.scene for p in placed})
    for s in scenes:
        lines = [p for p in placed if p.line.scene == s]
        a, b = int(lines[0].start * SR), int(lines[-1].end * SR)
        active = np.abs(speech[a:b]) > 1e-4
        speech_rms = float(np.sqrt(np.mean(speech[a:b][active] ** 2)))
        snr = float(rng.uniform(*SNR_DB))
        snrs[s] = snr
        gain[a:b] = speech_rms / 10 ** (snr / 20)
    base = float(np.median(gain[gain > 0]))
    gain[gain == 0] = base * 10 ** (MUSIC_GAP_BOOST_DB / 20)  # intro, outro and gaps between scenes
    win = int(0.5 * SR)
    gain = moving_average(gain, win)
    # the smoothing lowers the bed at scene edges a little: keep every scene's bed at or above its target
    out = speech + gain * bed
    peak = float(np.max(np.abs(out)))
    if peak > 0.89:
        out *= 0.89 / peak
    stereo = np.stack([out, np.roll(out, 24) * 0.98], axis=1)  # a hint of width: 0.5 ms delay on the right
    return stereo.astype(np.float32), {"scene_snr_db": snrs}


# subtitles -------------------------------------------------------------------------------------------------------
@dataclass
class Cue:
    start: float  # true time (before offset/drift)
    end: float
    text: str  # may hold "\n" between dash parts


def make_cues(placed: list[PlacedLine], rng: np.random.Generator, *, markup: str) -> list[Cue]:
    """Subtitle cues with the defects of real TV subtitles; sets cue indices and flags on ``placed``."""
    tag_of = {c.name: c.tag for c in script.CHARACTERS}

    def styled(text: str) -> str:
        if rng.random() < 0.1:
            text = "(laughs) " + text
        if rng.random() < 0.1:
            text = "{\\i1}" + text + "{\\i0}" if markup == "ass" else "<i>" + text + "</i>"
        return text

    cues: list[tuple[Cue, list[PlacedLine]]] = []
    i = 0
    while i < len(placed):
        p = placed[i]
        nxt = placed[i + 1] if i + 1 < len(placed) else None
        skip = rng.random() < (0.3 if p.line.is_backchannel else 0.04)
        if skip:
            i += 1
            continue
        lead, trail = float(rng.uniform(0.0, 0.15)), float(rng.uniform(0.0, 0.2))
        if (nxt and nxt.line.scene == p.line.scene and nxt.line.character != p.line.character
                and not nxt.line.overlaps_previous and p.end - p.start < 2.2 and nxt.end - nxt.start < 2.2
                and nxt.start - p.end < 1.0 and rng.random() < 0.3):
            parts = []
            for q in (p, nxt):
                tagged = rng.random() < 0.2
                q.in_dash_cue, q.speaker_tagged = True, tagged
                parts.append("- " + (f"{tag_of[q.line.character]}: " if tagged else "") + q.line.text)
            cues.append((Cue(p.start - lead, nxt.end + trail, "\n".join(parts)), [p, nxt]))
            i += 2
            continue
        tagged = rng.random() < 0.3
        p.speaker_tagged = tagged
        text = (f"{tag_of[p.line.character]}: " if tagged else "") + styled(p.line.text)
        cues.append((Cue(p.start - lead, p.end + trail, text), [p]))
        i += 1
    for cue, _ in cues:  # jitter every edge, keeping each cue at least 0.3 s long
        cue.start += float(rng.uniform(-JITTER_S, JITTER_S))
        cue.end = max(cue.start + 0.3, cue.end + float(rng.uniform(-JITTER_S, JITTER_S)))
    # the parser numbers cues by subtitle start time; SDH-only cues (added below) are dropped by it
    for idx, (cue, lines) in enumerate(sorted(cues, key=lambda c: (c[0].start, c[0].end))):
        for q in lines:
            q.cue_index = idx
    sdh = [Cue(a.end + 0.5, b.start - 0.5, "[music]" if rng.random() < 0.5 else "♪ ♪")
           for a, b in zip(placed, placed[1:]) if a.line.scene != b.line.scene and rng.random() < 0.5]
    return sorted([c for c, _ in cues] + sdh, key=lambda c: c.start)


def subtitle_file(cues: list[Cue], fmt: str, offset_s: float, drift_ppm: float) -> str:
    import pysubs2

    subs = pysubs2.SSAFile()
    for c in cues:
        s = c.start * (1 + drift_ppm * 1e-6) + offset_s
        e = c.end * (1 + drift_ppm * 1e-6) + offset_s
        text = c.text.replace("\n", "\\N")
        if fmt == "srt":  # pysubs2 writes SRT from ASS-style text: keep <i> as ASS italics
            text = text.replace("<i>", "{\\i1}").replace("</i>", "{\\i0}")
        subs.append(pysubs2.SSAEvent(start=max(0, int(round(s * 1000))), end=int(round(e * 1000)), text=text))
    return subs.to_string(fmt)


# writing ---------------------------------------------------------------------------------------------------------
def _write_wav(path: Path, audio: np.ndarray, sr: int = SR) -> None:
    import soundfile as sf

    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(str(tmp), audio, sr, subtype="PCM_16")


def _encode(path: Path, audio: np.ndarray, srt_text: str | None, work: Path) -> None:
    """Encode an episode container: .mkv with a video stream and embedded subtitles, .mp4 (AAC), or .wav."""
    if path.suffix == ".wav":
        _write_wav(path, audio)
        return
    wav = work / f"{path.stem}.src.wav"
    _write_wav(wav, audio)
    exact = ["-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"]
    with atomic_path(path, suffix=path.suffix) as tmp:
        if path.suffix == ".mkv":
            srt = work / f"{path.stem}.src.srt"
            srt.write_text(srt_text or "", encoding="utf-8")
            dur = len(audio) / SR
            _ffmpeg("-f", "lavfi", "-i", f"color=c=0x203040:s=160x90:r=2:d={dur:.3f}", "-i", str(wav), "-i", str(srt),
                    "-map", "0:v", "-map", "1:a", "-map", "2:s", "-c:v", "mpeg4", "-q:v", "20", "-flags:v", "+bitexact",
                    "-c:a", "aac", "-b:a", "96k", "-c:s", "srt", "-metadata:s:s:0", "language=eng", *exact, str(tmp))
        else:
            _ffmpeg("-i", str(wav), "-c:a", "aac", "-b:a", "96k", *exact, str(tmp))


def _truth_files(truth_dir: Path, stem: str, placed: list[PlacedLine], timing: dict | None) -> tuple[Path, Path]:
    """The RTTM and lines.jsonl of an episode, and its subtitle timing (None: an episode without subtitles)."""
    rttm = truth_dir / f"{stem}.rttm"
    lines = truth_dir / f"{stem}.lines.jsonl"
    write_text_atomic(rttm, "".join(
        f"SPEAKER {stem} 1 {p.start:.3f} {p.end - p.start:.3f} <NA> <NA> {p.line.character.replace(' ', '_')} <NA> <NA>\n"
        for p in placed))
    write_text_atomic(lines, "".join(json.dumps({
        "line_id": p.line.line_id, "scene": p.line.scene, "character": p.line.character.replace(" ", "_"),
        "text": p.line.text, "start_s": round(p.start, 3), "end_s": round(p.end, 3),
        "subtitle_cue_index": p.cue_index, "in_dash_cue": p.in_dash_cue, "speaker_tagged": p.speaker_tagged,
        "overlaps_previous": p.line.overlaps_previous, "is_backchannel": p.line.is_backchannel,
    }) + "\n" for p in placed))
    if timing is not None:
        write_json_atomic(truth_dir / f"{stem}.subtitle_timing.json", timing)
    return rttm, lines


def build_episode(number: int, style: dict, out: Path, seed: int, minutes: float, tts,
                  lines: str = "style") -> DemoEpisode:
    rng = np.random.default_rng([seed, number])
    stem = f"S01E{number:02d}"
    ep = script.write_episode_script(number, rng, n_lines=max(14, int(minutes * 60 / AVG_SLOT_S)),
                                     cp1252_flourishes=style["subs"] == "srt-cp1252", lines=lines)
    placed, duration = place_lines(ep, rng, tts, max_s=minutes * 60)
    audio, facts = mix_episode(placed, duration, rng)
    cues = make_cues(placed, rng, markup="ass" if style["subs"] == "ass-utf16" else "srt")
    media_dir, truth_dir = out / "media" / SERIES, out / "truth" / SERIES
    media_path = media_dir / f"{stem}{style['ext']}"
    work = out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    srt_text = subtitle_file(cues, "srt", style["offset_s"], style["drift_ppm"])
    subtitle_path = None
    if style["subs"] == "ass-utf16":
        subtitle_path = media_dir / f"{stem}.ass"
        text = subtitle_file(cues, "ass", style["offset_s"], style["drift_ppm"])
        write_bytes_atomic(subtitle_path, text.encode("utf-16"))  # with BOM
    elif style["subs"].startswith("srt"):
        subtitle_path = media_dir / f"{stem}.srt"
        enc = "cp1252" if style["subs"] == "srt-cp1252" else "utf-8"
        write_bytes_atomic(subtitle_path, srt_text.replace("♪", "#").encode(enc) if enc == "cp1252"
                           else srt_text.encode(enc))
    _encode(media_path, audio, srt_text if style["subs"] == "embedded" else None, work)
    timing = {"offset_s": style["offset_s"], "drift_ppm": style["drift_ppm"], "jitter_s": JITTER_S,
              "formula": "sub = true*(1+drift_ppm*1e-6) + offset_s + jitter", **facts}
    rttm, lines = _truth_files(truth_dir, stem, placed, timing)
    return DemoEpisode(SERIES, stem, str(media_path), str(subtitle_path) if subtitle_path else None, str(rttm), str(lines))


def write_series_files(out: Path, tts, series: str = SERIES) -> None:
    media_dir, truth_dir = out / "media" / series, out / "truth" / series
    chars = []
    for c in script.CHARACTERS:
        entry = {"name": c.name, "aliases": [c.tag]}
        if c.name in script.ENROLLMENT_LINES:
            clip = media_dir / "enrollment" / f"{c.name.split()[0].lower()}.wav"
            _write_wav(clip, tts(c.voice, script.ENROLLMENT_LINES[c.name]))
            entry["enrollment"] = [str(clip.relative_to(media_dir))]
        chars.append(entry)
    import yaml

    write_text_atomic(media_dir / "series.yaml", yaml.safe_dump(
        {"title": series, "language": "en", "characters": chars}, sort_keys=False, allow_unicode=True))
    write_json_atomic(truth_dir / "series.json", {"characters": [
        {"name": c.name, "truth_label": c.name.replace(" ", "_"), "tag": c.tag, "voice": c.voice, "main": c.main,
         "catchphrases": list(c.catchphrases)} for c in script.CHARACTERS]})


def build_sample_series(out: Path) -> DemoEpisode:
    """The real two-speaker recording shipped in the pyannote.audio wheel, its STM turned into subtitles."""
    import pyannote.audio

    src = Path(pyannote.audio.__file__).parent / "sample"
    media_dir, truth_dir = out / "media" / SAMPLE_SERIES, out / "truth" / SAMPLE_SERIES
    write_bytes_atomic(media_dir / "sample.wav", (src / "sample.wav").read_bytes())
    rows = []
    for raw in (src / "sample.stm").read_text(encoding="utf-8").splitlines():
        parts = raw.split(maxsplit=5)
        if len(parts) == 6:
            rows.append({"character": parts[2], "start_s": float(parts[3]), "end_s": float(parts[4]), "text": parts[5]})
    rows.sort(key=lambda r: r["start_s"])
    cues = [Cue(r["start_s"], r["end_s"], r["text"]) for r in rows]
    write_text_atomic(media_dir / "sample.srt", subtitle_file(cues, "srt", 0.0, 0.0))
    write_text_atomic(media_dir / "series.yaml",
                      "title: pyannote sample\nlanguage: en\ncharacters:\n  - name: Diane\n  - name: Sheila\n")
    write_bytes_atomic(truth_dir / "sample.rttm", (src / "sample.rttm").read_bytes())
    write_text_atomic(truth_dir / "sample.lines.jsonl", "".join(
        json.dumps({**r, "line_id": i, "subtitle_cue_index": i}) + "\n" for i, r in enumerate(rows)))
    return DemoEpisode(SAMPLE_SERIES, "sample", str(media_dir / "sample.wav"), str(media_dir / "sample.srt"),
                       str(truth_dir / "sample.rttm"), str(truth_dir / "sample.lines.jsonl"))


def build_demo(out_dir: str | Path, *, minutes_per_episode: float = 3.5, n_episodes: int = 3,
               seed: int = 0, lines: str = "style") -> DemoManifest:
    """Write the demo series under ``out_dir`` (media/ and truth/). Idempotent: an existing build with the same
    parameters is kept as it is. ``lines``: ``"style"`` (every line said once) or ``"pool"`` (the first demo's
    reused line pools), see ``audiorole.demo.script``."""
    if lines not in script.LINE_KINDS:
        raise ValueError(f"unknown kind of demo lines {lines!r} (one of {', '.join(script.LINE_KINDS)})")
    out = Path(out_dir).resolve()
    params = {"version": DEMO_VERSION, "minutes": minutes_per_episode, "episodes": n_episodes, "seed": seed,
              "lines": lines}
    stamp = out / "demo.json"
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved.get("params") == params and all(Path(e["media_path"]).exists() for e in saved["episodes"]):
            return DemoManifest(out / "media", out / "truth", [DemoEpisode(**e) for e in saved["episodes"]])
    cache: dict[tuple[str, str], np.ndarray] = {}

    def tts(voice: str, text: str) -> np.ndarray:
        if (voice, text) not in cache:
            cache[(voice, text)] = voices.synthesize(voice, text)
        return cache[(voice, text)]

    episodes = [build_episode(i, EPISODE_STYLES[i - 1] if i <= 3 else EPISODE_STYLES[3 + (i - 4) % 2],
                              out, seed, minutes_per_episode, tts, lines) for i in range(1, n_episodes + 1)]
    write_series_files(out, tts)
    episodes.append(build_sample_series(out))
    shutil.rmtree(out / ".work", ignore_errors=True)
    write_json_atomic(stamp, {"params": params, "episodes": [asdict(e) for e in episodes]})
    return DemoManifest(out / "media", out / "truth", episodes)
