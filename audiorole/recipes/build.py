"""Lay a corpus out as a series: episodes of real clips in their real order, subtitles as real ones are, ground truth.

Per episode (consecutive scenes until it holds ``minutes`` of speech):
- the clips at 48 kHz, trimmed of their silent ends, a natural gap between turns (0.15–0.7 s; 2.5–5 s and a music
  sting between scenes), over a noise floor (pink noise 35–45 dB below the speech) and a music bed under the speech
  at 18–28 dB. A truth turn is what of its clip is heard over that background (``audible_spans``): a reverberant
  clip's tail fades under the bed, and no listener marks what it cannot hear; a pause of 0.3 s or more that is not
  heard splits the turn (the NIST RT convention: shorter pauses are bridged);
- subtitles in the spoken language: one cue per line, a long line split over cues at sentence or clause breaks
  (at most 2 × 42 characters and 6 s a cue, timed by its share of the characters, so the later cues start
  mid-speech), two short quick lines of different speakers sometimes in one dash cue, a few short lines dropped,
  speaker tags ``NAME:`` on about half of the lines (``tag_share``; the draws do not depend on it, so builds of one
  seed with other shares hold the same audio and cue times and differ only in the tags), every edge jittered, then
  a constant offset and a linear drift drawn per episode (offset within ±1.5 s, drift within ±300 ppm);
- the truth files of the demo: ``<stem>.rttm``, ``<stem>.lines.jsonl``, ``<stem>.subtitle_timing.json``, and the
  series' ``series.json``.
Deterministic for a seed; idempotent (a build with the same parameters is kept as it is).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from audiorole.io import atomic_path, write_json_atomic, write_text_atomic
from audiorole.recipes import Corpus, Line, RecipeError

SR = 48_000  # as the demo's episodes; narrow-band clips stay narrow-band
RECIPE_VERSION = "4"  # 2: sounds ("(sigh)", "<koff>") get no cue; 3: clips trimmed of their silent ends;
# 4: truth turns are what of a clip is heard (the mixed audio and the subtitles are those of 3)
MAX_CUE_CHARS = 84  # two rows of 42
MAX_CUE_S = 6.0
TAG_SHARE = 0.5  # the share of lines whose first cue names the speaker
JITTER_S = 0.12
OFFSET_S = 1.5
DRIFT_PPM = 300.0


@dataclass
class Placed:
    line: Line
    line_id: int
    scene: int
    start: float
    end: float
    cue_index: int | None = None
    in_dash_cue: bool = False
    speaker_tagged: bool = False
    # the truth turn: the spans of [start, end] heard over the background (set by ``mix``; the clip's extent before)
    heard: list[tuple[float, float]] = field(default_factory=list)

    @property
    def spans(self) -> list[tuple[float, float]]:
        return self.heard or [(self.start, self.end)]

    @property
    def turn(self) -> tuple[float, float]:
        return self.spans[0][0], self.spans[-1][1]

    @property
    def speech_s(self) -> float:
        return sum(e - s for s, e in self.spans)


@dataclass
class Cue:
    start: float  # true time, before offset and drift
    end: float
    text: str
    lines: list[Placed] = field(default_factory=list)


@dataclass
class RecipeEpisode:
    stem: str
    media_path: str
    subtitle_path: str
    truth_rttm: str
    truth_lines: str
    speech_s: float


@dataclass
class RecipeManifest:
    media_root: Path
    truth_root: Path
    episodes: list[RecipeEpisode]


def decode_clip(path: Path) -> np.ndarray:
    """A clip as mono float32 at ``SR`` (ffmpeg reads MP3, Ogg Vorbis, WAV...); RecipeError naming the clip if not."""
    try:
        raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "s16le", "-ac", "1",
                              "-ar", str(SR), "-"], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise RecipeError(f"{path}: clip cannot be decoded ({err})") from err
    return np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0


def trim_silence(clip: np.ndarray, floor_db: float = 40.0, pad_s: float = 0.05) -> np.ndarray:
    """The clip from its first to its last 10 ms frame within ``floor_db`` of its loudest, plus ``pad_s``: game and
    studio clips carry silence at their ends, and the truth's turns should be the speech, not the file."""
    hop = int(0.01 * SR)
    n = len(clip) // hop
    if n == 0:
        return clip
    rms = np.sqrt(np.mean(clip[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1)) + 1e-12
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > -floor_db)
    pad = int(pad_s * SR)
    return clip[max(0, loud[0] * hop - pad): min(len(clip), (loud[-1] + 1) * hop + pad)]


def tag_of(character: str) -> str:
    return character.upper()


def truth_label(character: str) -> str:
    return re.sub(r"\s+", "_", character.strip())


# the timeline ---------------------------------------------------------------------------------------------------
def episode_scenes(corpus: Corpus, clips: dict[Path, np.ndarray], minutes: float, n_episodes: int | None
                   ) -> list[list[int]]:
    """Scene indices per episode: consecutive scenes until an episode holds ``minutes`` of speech. Clips are decoded
    into ``clips`` as their scenes are reached, so a few episodes of a long corpus decode only what they use."""
    episodes, current, speech = [], [], 0.0
    for i, scene in enumerate(corpus.scenes):
        for ln in scene.lines:
            if ln.audio not in clips:
                clips[ln.audio] = trim_silence(decode_clip(ln.audio))
        current.append(i)
        speech += sum(len(clips[ln.audio]) / SR for ln in scene.lines)
        if speech >= minutes * 60:
            episodes.append(current)
            current, speech = [], 0.0
            if n_episodes and len(episodes) == n_episodes:
                return episodes
    if current and speech >= minutes * 20:  # a last episode of at least a third of the length
        episodes.append(current)
    return episodes


def place(corpus: Corpus, scenes: list[int], clips: dict[Path, np.ndarray], rng: np.random.Generator
          ) -> tuple[list[Placed], float]:
    placed, t, line_id = [], float(rng.uniform(2.0, 4.0)), 0
    for n, s in enumerate(scenes):
        if n:
            t += float(rng.uniform(2.5, 5.0))
        for ln in corpus.scenes[s].lines:
            dur = len(clips[ln.audio]) / SR
            placed.append(Placed(ln, line_id, n, t, t + dur))
            line_id += 1
            t += dur + float(rng.uniform(0.15, 0.7))
    return placed, t + float(rng.uniform(2.0, 4.0))


def audible_spans(voice: np.ndarray, background: np.ndarray, frame_s: float = 0.02, min_gap_s: float = 0.3
                  ) -> list[tuple[int, int]]:
    """(first, end) samples of the runs of 20 ms frames where ``voice`` is louder than the ``background`` it is
    mixed over (the same length), runs less than ``min_gap_s`` apart joined; the whole clip when no frame is."""
    hop = int(frame_s * SR)
    n = len(voice) // hop
    if n == 0:
        return [(0, len(voice))]

    def power(x: np.ndarray) -> np.ndarray:
        return np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1)

    heard = np.flatnonzero(power(voice) > power(background))
    if not len(heard):
        return [(0, len(voice))]
    breaks = np.flatnonzero(np.diff(heard) > round(min_gap_s / frame_s))  # a gap of that many unheard frames or more
    firsts, lasts = np.r_[heard[0], heard[breaks + 1]], np.r_[heard[breaks], heard[-1]]
    return [(int(f * hop), min(len(voice), int((last + 1) * hop))) for f, last in zip(firsts, lasts)]


def mix(placed: list[Placed], clips: dict[Path, np.ndarray], duration: float, rng: np.random.Generator) -> np.ndarray:
    """The episode's audio; sets each placed line's ``heard`` spans (``audible_spans`` over the bed and floor)."""
    from audiorole.demo import mix as music

    n = int(duration * SR)
    speech = np.zeros(n, np.float32)
    level = 0.08
    voices = []
    for p in placed:
        clip = clips[p.line.audio]
        a = int(p.start * SR)
        # clips come at many levels: even them out
        clip = (clip / (np.sqrt(np.mean(clip ** 2)) + 1e-9) * level)[: n - a]
        speech[a:a + len(clip)] += clip
        voices.append((p, a, clip))
    bed = music.music_bed(duration, rng)
    bed *= level / (np.sqrt(np.mean(bed ** 2)) + 1e-9) / 10 ** (float(rng.uniform(18, 28)) / 20)
    floor = music.pink_noise(n, rng)
    floor *= level / (np.sqrt(np.mean(floor ** 2)) + 1e-9) / 10 ** (float(rng.uniform(35, 45)) / 20)
    background = bed + floor
    for p, a, clip in voices:
        p.heard = [(round(p.start + first / SR, 3), round(p.start + end / SR, 3))
                   for first, end in audible_spans(clip, background[a:a + len(clip)])]
    out = speech + bed + floor  # (summed in this order, the audio is recipe 3's to the bit)
    return (out * min(1.0, 0.89 / float(np.max(np.abs(out)) or 1.0))).astype(np.float32)


# subtitles ------------------------------------------------------------------------------------------------------
def split_text(text: str, max_chars: int = MAX_CUE_CHARS) -> list[str]:
    """A line's text in cue-sized parts as a subtitler cuts it: at sentence breaks (two sentences share a cue only if
    both fit on one row), a long sentence at clause breaks, then between words."""
    def pieces(s: str, patterns: tuple[str, ...]) -> list[str]:
        if len(s) <= max_chars or not patterns:
            return [s] if len(s) <= max_chars else [s[i:i + max_chars] for i in range(0, len(s), max_chars)]
        parts, cur = [], ""
        for piece in re.split(patterns[0], s):
            if cur and len(cur) + 1 + len(piece) > max_chars:
                parts.append(cur)
                cur = piece
            else:
                cur = f"{cur} {piece}".strip()
        return [q for part in parts + [cur] for q in pieces(part, patterns[1:])]

    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?…])\s+", " ".join(text.split())):
        if out and len(out[-1]) + 1 + len(sentence) <= max_chars // 2:
            out[-1] = f"{out[-1]} {sentence}"
        else:
            out += pieces(sentence, (r"(?<=[,;:])\s+", r"\s+"))
    return out


def subtitled(text: str) -> bool:
    """A line a subtitler writes: sounds (``(sigh)``, ``<koff>``, ``[grunts]``) are not, and a subtitle parser would
    drop them as SDH anyway."""
    from audiorole.ingest.subtitles import split_cue_text

    return any(ch.isalpha() for _, part in split_cue_text(text) for ch in part)


def make_cues(placed: list[Placed], rng: np.random.Generator, tag_share: float = TAG_SHARE) -> list[Cue]:
    """Cues as real subtitles carry them (see the module docstring); sets each line's cue index and flags."""
    cues: list[Cue] = []
    i = 0
    while i < len(placed):
        p = placed[i]
        nxt = placed[i + 1] if i + 1 < len(placed) else None
        if not subtitled(p.line.text) or (p.end - p.start < 0.8 and len(p.line.text) < 12 and rng.random() < 0.15):
            i += 1  # a sound, or a short interjection nobody subtitled
            continue
        if nxt and not subtitled(nxt.line.text):
            nxt = None
        if (nxt and nxt.scene == p.scene and nxt.line.character != p.line.character and p.end - p.start < 2.0
                and nxt.end - nxt.start < 2.0 and nxt.start - p.end < 0.8
                and len(p.line.text) + len(nxt.line.text) < MAX_CUE_CHARS - 4 and rng.random() < 0.25):
            for q in (p, nxt):
                q.in_dash_cue = True
            cues.append(Cue(p.start, nxt.end, "\n".join(f"- {q.line.text}" for q in (p, nxt)), [p, nxt]))
            i += 2
            continue
        tagged = rng.random() < tag_share
        p.speaker_tagged = tagged
        parts = [x for x in split_text(p.line.text) if subtitled(x)]
        total, t = sum(len(x) for x in parts), p.start
        for k, part in enumerate(parts):
            end = t + (p.end - p.start) * len(part) / total
            text = (f"{tag_of(p.line.character)}: " if tagged and k == 0 else "") + part
            cues.append(Cue(t, min(end, t + MAX_CUE_S) if len(parts) > 1 else end, text, [p] if k == 0 else []))
            t = end
        i += 1
    for c in cues:
        c.start += float(rng.uniform(-JITTER_S, JITTER_S))
        c.end = max(c.start + 0.4, c.end + float(rng.uniform(-JITTER_S, JITTER_S)))
    cues.sort(key=lambda c: (c.start, c.end))
    for idx, c in enumerate(cues):
        for q in c.lines:
            q.cue_index = idx
    return cues


def srt(cues: list[Cue], offset_s: float, drift_ppm: float) -> str:
    def stamp(t: float) -> str:
        ms = max(0, int(round(t * 1000)))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    k = 1 + drift_ppm * 1e-6
    return "".join(f"{i}\n{stamp(c.start * k + offset_s)} --> {stamp(c.end * k + offset_s)}\n{c.text}\n\n"
                   for i, c in enumerate(cues, 1))


# writing --------------------------------------------------------------------------------------------------------
def _encode(path: Path, audio: np.ndarray, work: Path) -> None:
    import soundfile as sf

    wav = work / f"{path.stem}.wav"
    sf.write(str(wav), audio, SR, subtype="PCM_16")
    with atomic_path(path, suffix=path.suffix) as tmp:
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "96k",
                        "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", str(tmp)], check=True)
    wav.unlink()


def _truth(truth_dir: Path, stem: str, placed: list[Placed], timing: dict) -> tuple[Path, Path]:
    rttm, lines = truth_dir / f"{stem}.rttm", truth_dir / f"{stem}.lines.jsonl"
    write_text_atomic(rttm, "".join(f"SPEAKER {stem} 1 {s:.3f} {e - s:.3f} <NA> <NA> {truth_label(p.line.character)} "
                                    f"<NA> <NA>\n" for p in placed for s, e in p.spans))
    write_text_atomic(lines, "".join(json.dumps({
        "line_id": p.line_id, "scene": p.scene, "character": truth_label(p.line.character), "text": p.line.text,
        "start_s": round(p.turn[0], 3), "end_s": round(p.turn[1], 3), "subtitle_cue_index": p.cue_index,
        "in_dash_cue": p.in_dash_cue, "speaker_tagged": p.speaker_tagged, "overlaps_previous": False,
        "is_backchannel": False, "clip": str(p.line.audio), "text_en": p.line.text_en,
    }, ensure_ascii=False) + "\n" for p in placed))
    write_json_atomic(truth_dir / f"{stem}.subtitle_timing.json", timing)
    return rttm, lines


def _series_files(corpus: Corpus, media_dir: Path, truth_dir: Path, speech_s: dict[str, float]) -> None:
    import yaml

    names = sorted(speech_s, key=lambda c: (-speech_s[c], c))
    write_text_atomic(media_dir / "series.yaml", yaml.safe_dump(
        {"title": corpus.title, "language": corpus.language,
         "characters": [{"name": c, "aliases": [tag_of(c)]} for c in names]}, sort_keys=False, allow_unicode=True))
    write_json_atomic(truth_dir / "series.json", {"corpus": corpus.name, "license": corpus.license, "characters": [
        {"name": c, "truth_label": truth_label(c), "tag": tag_of(c), "main": speech_s[c] >= 60.0,
         "speech_s": round(speech_s[c], 1), **corpus.characters.get(c, {})} for c in names]})


def build_series(corpus: Corpus, out_dir: str | Path, *, minutes_per_episode: float = 10.0,
                 n_episodes: int | None = None, seed: int = 0, tag_share: float = TAG_SHARE) -> RecipeManifest:
    """Write ``out_dir/media/<title>/`` (episodes .mp4 + .srt, series.yaml) and ``out_dir/truth/<title>/``."""
    if not 0.0 <= tag_share <= 1.0:
        raise RecipeError(f"tag_share {tag_share}: a share of the lines, from 0 to 1")
    out = Path(out_dir).resolve()
    params = {"version": RECIPE_VERSION, "corpus": corpus.name, "language": corpus.language,
              "minutes": minutes_per_episode, "episodes": n_episodes, "seed": seed, "tag_share": tag_share}
    manifest_path = out / "recipe.json"
    if manifest_path.exists():
        saved = json.loads(manifest_path.read_text())
        if saved.get("params") == params and all(Path(e["media_path"]).exists() for e in saved["episodes"]):
            return RecipeManifest(out / "media", out / "truth", [RecipeEpisode(**e) for e in saved["episodes"]])
    clips: dict[Path, np.ndarray] = {}
    plan = episode_scenes(corpus, clips, minutes_per_episode, n_episodes)
    if not plan:
        raise RecipeError(f"{corpus.name}: too little speech for one episode of {minutes_per_episode} min")
    media_dir, truth_dir, work = out / "media" / corpus.title, out / "truth" / corpus.title, out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    episodes, speech_s = [], {}
    for number, scenes in enumerate(plan, 1):
        rng = np.random.default_rng([seed, number])
        stem = f"S01E{number:02d}"
        placed, duration = place(corpus, scenes, clips, rng)
        cues = make_cues(placed, rng, tag_share)
        offset, drift = float(rng.uniform(-OFFSET_S, OFFSET_S)), float(rng.uniform(-DRIFT_PPM, DRIFT_PPM))
        media_path, subtitle_path = media_dir / f"{stem}.mp4", media_dir / f"{stem}.srt"
        _encode(media_path, mix(placed, clips, duration, rng), work)
        write_text_atomic(subtitle_path, srt(cues, offset, drift))
        timing = {"offset_s": round(offset, 3), "drift_ppm": round(drift, 1), "jitter_s": JITTER_S,
                  "formula": "sub = true*(1+drift_ppm*1e-6) + offset_s + jitter", "scenes": [corpus.scenes[s].key
                                                                                              for s in scenes]}
        rttm, lines = _truth(truth_dir, stem, placed, timing)
        for p in placed:
            speech_s[p.line.character] = speech_s.get(p.line.character, 0.0) + p.speech_s
        episodes.append(RecipeEpisode(stem, str(media_path), str(subtitle_path), str(rttm), str(lines),
                                      round(sum(p.speech_s for p in placed), 1)))
    _series_files(corpus, media_dir, truth_dir, speech_s)
    work.rmdir()
    write_json_atomic(manifest_path, {"params": params, "episodes": [asdict(e) for e in episodes]})
    return RecipeManifest(out / "media", out / "truth", episodes)
