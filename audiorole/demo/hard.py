"""The hard demo profile: the demo's characters recorded like a meeting instead of mixed like TV.

    audiorole demo --out DIR --profile hard [--episodes 4] [--minutes 15]

Series "Far Field": 15-minute episodes with no subtitles at all, one microphone in a reverberant room
(pyroomacoustics image-source shoebox, RT60 0.4–0.8 s, talkers 1.5–4.5 m away), one or two quiet talkers per
episode 15–25 dB below the others, 15–20% of the speech time overlapped (interruptions and backchannels said over
a longer turn), stationary room noise with a faint mains hum, and no loudness normalization. Ground truth as for
the default profile (``<stem>.rttm``, ``<stem>.lines.jsonl``) plus ``<stem>.hard.json``: the room, the positions,
each talker's level, the measured overlap share. Deterministic for a seed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from audiorole.demo import script, voices
from audiorole.demo.build import DemoEpisode, DemoManifest, PlacedLine, _truth_files, write_series_files
from audiorole.io import atomic_path, write_json_atomic

SERIES = "Far Field"
HARD_VERSION = "1"
SR = 16_000
OVERLAP_SHARE = (0.15, 0.20)  # overlapped speech time / speech time
QUIET_DB = (17.0, 23.0)  # quiet talkers sit this far below 0 dB, the others within ±2 dB: 15–25 dB apart
RT60_S = (0.4, 0.8)
DISTANCE_M = (1.5, 4.5)
NOISE_SNR_DB = (25.0, 35.0)  # normal talkers over the room noise
MAX_ORDER = 12  # image-source reflections; the late tail is short, and RIRs stay fast to compute


# timeline --------------------------------------------------------------------------------------------------------
def place_meeting(lines: list[script.Line], cast_of_scene: dict[int, list[str]], audio_of, rng: np.random.Generator,
                  max_s: float, busy: float) -> list[PlacedLine]:
    """Meeting-like turn taking: short gaps, interruptions (a turn starts before the previous one ends) and
    backchannels said over a longer turn. ``busy`` scales how often the two happen."""
    placed: list[PlacedLine] = []
    cursor = float(rng.uniform(1.0, 2.0))
    prev: PlacedLine | None = None
    for ln in lines:
        audio = audio_of(ln.character, ln.text)
        dur = len(audio) / SR
        if prev is not None and prev.line.scene != ln.scene:
            start = cursor + float(rng.uniform(1.5, 4.0))
        elif prev is not None and prev.line.character != ln.character and prev.end - prev.start > 1.0 \
                and rng.random() < min(0.9, 0.25 * busy):
            start = prev.end - float(rng.uniform(0.3, min(1.5, 0.6 * (prev.end - prev.start))))
        else:
            start = cursor + float(rng.uniform(0.1, 1.0))
        if start + dur > max_s - 2.0 and placed:
            break
        ln.overlaps_previous = prev is not None and start < prev.end
        p = PlacedLine(ln, start, start + dur, audio)
        placed.append(p)
        cursor = max(cursor, p.end)
        prev = p
        # a listener's backchannel over this turn
        others = [c for c in cast_of_scene[ln.scene] if c != ln.character]
        if dur > 1.8 and others and rng.random() < min(0.9, 0.3 * busy):
            who = others[int(rng.integers(len(others)))]
            text = script.BACKCHANNELS[int(rng.integers(len(script.BACKCHANNELS)))]
            bc_audio = audio_of(who, text)
            at = p.start + float(rng.uniform(0.3, max(0.31, dur - 0.3 - len(bc_audio) / SR)))
            bc = script.Line(-1, ln.scene, who, text, is_backchannel=True, overlaps_previous=True)
            placed.append(PlacedLine(bc, at, at + len(bc_audio) / SR, bc_audio))
            cursor = max(cursor, placed[-1].end)
    placed.sort(key=lambda q: q.start)
    for i, q in enumerate(placed):
        q.line.line_id = i
    return placed


def overlap_share(spans: list[tuple[float, float]], step: float = 0.01) -> tuple[float, float]:
    """(overlapped seconds, speech seconds) of a set of talk spans, on a 10 ms grid."""
    if not spans:
        return 0.0, 0.0
    n = int(max(e for _, e in spans) / step) + 2
    count = np.zeros(n, dtype=np.int32)
    for s, e in spans:
        count[int(round(s / step)):int(round(e / step))] += 1
    return float((count >= 2).sum() * step), float((count >= 1).sum() * step)


# room --------------------------------------------------------------------------------------------------------------
def room_responses(characters: list[str], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    """One impulse response per character from one shoebox room (each RIR scaled to unit energy: the talkers'
    levels are set apart from the room), and the room's facts."""
    import pyroomacoustics as pra

    dims = np.array([rng.uniform(4.0, 9.0), rng.uniform(3.0, 7.0), rng.uniform(2.5, 3.3)])
    rt60 = float(rng.uniform(*RT60_S))
    absorption, max_order = pra.inverse_sabine(rt60, dims)
    room = pra.ShoeBox(dims, fs=SR, materials=pra.Material(absorption), max_order=min(int(max_order), MAX_ORDER))
    mic = np.array([rng.uniform(1.0, dims[0] - 1.0), rng.uniform(1.0, dims[1] - 1.0), rng.uniform(0.7, 1.1)])
    room.add_microphone(mic)
    positions = {}
    for c in characters:
        for _ in range(1000):
            d = float(rng.uniform(*DISTANCE_M))
            angle = float(rng.uniform(0, 2 * np.pi))
            pos = mic + np.array([d * np.cos(angle), d * np.sin(angle), float(rng.uniform(0.3, 0.8))])
            if np.all(pos[:2] > 0.4) and np.all(pos[:2] < dims[:2] - 0.4) and pos[2] < dims[2] - 0.3:
                break
        else:  # a small room: the farthest point that fits
            pos = np.clip(pos, 0.4, dims - 0.4)
        positions[c] = pos
        room.add_source(pos)
    room.compute_rir()
    rirs = {}
    for k, c in enumerate(characters):
        h = np.asarray(room.rir[0][k], dtype=np.float32)
        rirs[c] = h / float(np.sqrt(np.sum(h**2)) or 1.0)
    facts = {"dims_m": dims.round(2).tolist(), "rt60_s": round(rt60, 3), "max_order": min(int(max_order), MAX_ORDER),
             "mic_m": mic.round(2).tolist(),
             "sources": {c: {"position_m": p.round(2).tolist(), "distance_m": round(float(np.linalg.norm(p - mic)), 2)}
                         for c, p in positions.items()}}
    return rirs, facts


def room_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS stationary noise: pink noise plus a faint 50 Hz hum with two harmonics."""
    from audiorole.demo.mix import pink_noise

    t = np.arange(n) / SR
    hum = sum(a * np.sin(2 * np.pi * 50 * k * t + float(rng.uniform(0, 6.28))) for k, a in ((1, 0.3), (2, 0.15), (3, 0.1)))
    noise = pink_noise(n, rng) + hum.astype(np.float32)
    return (noise / (float(np.sqrt(np.mean(noise**2))) or 1.0)).astype(np.float32)


# episodes ----------------------------------------------------------------------------------------------------------
def build_hard_episode(number: int, out: Path, seed: int, minutes: float, tts16) -> tuple[DemoEpisode, dict]:
    from scipy.signal import oaconvolve

    rng = np.random.default_rng([seed, number, 7])
    stem = f"S01E{number:02d}"
    ep = script.write_episode_script(number, rng, n_lines=max(20, int(minutes * 60 / 2.0)))
    voice_of = {c.name: c.voice for c in script.CHARACTERS}
    cast_of_scene: dict[int, list[str]] = {}
    for ln in ep.lines:
        cast_of_scene.setdefault(ln.scene, [])
        if ln.character not in cast_of_scene[ln.scene]:
            cast_of_scene[ln.scene].append(ln.character)

    def audio_of(character: str, text: str) -> np.ndarray:
        return tts16(voice_of[character], text)

    # place the lines, scaling how busy the talk is until the overlap share lands in its range (bisection)
    lo, hi, busy = 0.0, 4.0, 1.0
    for _ in range(12):
        lines = [script.Line(ln.line_id, ln.scene, ln.character, ln.text, ln.is_backchannel) for ln in ep.lines]
        placed = place_meeting(lines, cast_of_scene, audio_of, np.random.default_rng([seed, number, 11]),
                               minutes * 60, busy)
        ov, sp = overlap_share([(p.start, p.end) for p in placed])
        share = ov / sp if sp else 0.0
        if OVERLAP_SHARE[0] + 0.005 <= share <= OVERLAP_SHARE[1] - 0.005:
            break
        lo, hi = (busy, hi) if share < OVERLAP_SHARE[0] + 0.005 else (lo, busy)
        busy = (lo + hi) / 2
    speakers = sorted({p.line.character for p in placed})
    rirs, room = room_responses(speakers, rng)
    quiet = list(rng.choice(speakers, size=min(len(speakers) - 1, int(rng.integers(1, 3))), replace=False))
    level_db = {c: (-float(rng.uniform(*QUIET_DB)) if c in quiet else float(rng.uniform(-2.0, 2.0))) for c in speakers}
    duration = placed[-1].end + float(rng.uniform(1.0, 2.0))
    n = int(duration * SR)
    mix = np.zeros(n, dtype=np.float32)
    for p in placed:
        wet = oaconvolve(p.audio, rirs[p.line.character])[: len(p.audio) + int(0.5 * SR)]
        wet *= 10 ** (level_db[p.line.character] / 20)
        a = int(p.start * SR)
        mix[a:a + len(wet)] += wet[: n - a]
    normal = [p for p in placed if p.line.character not in quiet]
    speech_rms = float(np.sqrt(np.mean(np.concatenate([mix[int(p.start * SR):int(p.end * SR)] for p in normal]) ** 2)))
    snr = float(rng.uniform(*NOISE_SNR_DB))
    mix += room_noise(n, rng) * speech_rms * 10 ** (-snr / 20)
    mix *= 10 ** (-3.0 / 20) / float(np.max(np.abs(mix)))  # a recorder's headroom, no loudness normalization
    media_dir, truth_dir = out / "media" / SERIES, out / "truth" / SERIES
    media_path = media_dir / f"{stem}.flac"
    import soundfile as sf

    with atomic_path(media_path, suffix=".flac") as tmp:
        sf.write(str(tmp), mix, SR, format="FLAC", subtype="PCM_16")
    facts = {"room": room, "level_db": {c: round(v, 2) for c, v in level_db.items()}, "quiet_talkers": quiet,
             "overlap_s": round(ov, 2), "speech_s": round(sp, 2), "overlap_share": round(share, 4),
             "busy": round(busy, 3), "noise_snr_db": round(snr, 1), "duration_s": round(duration, 2)}
    rttm, lines_path = _truth_files(truth_dir, stem, placed, {"subtitles": None})
    (truth_dir / f"{stem}.subtitle_timing.json").unlink(missing_ok=True)
    write_json_atomic(truth_dir / f"{stem}.hard.json", facts)
    return DemoEpisode(SERIES, stem, str(media_path), None, str(rttm), str(lines_path)), facts


def build_hard_demo(out_dir: str | Path, *, minutes_per_episode: float = 15.0, n_episodes: int = 4,
                    seed: int = 0) -> DemoManifest:
    """Write the hard profile under ``out_dir`` (media/Far Field, truth/Far Field). Idempotent like
    ``build_demo``: an existing build with the same parameters is kept as it is."""
    import soxr

    out = Path(out_dir).resolve()
    params = {"profile": "hard", "version": HARD_VERSION, "minutes": minutes_per_episode, "episodes": n_episodes,
              "seed": seed}
    stamp = out / "demo.json"
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved.get("params") == params and all(Path(e["media_path"]).exists() for e in saved["episodes"]):
            return DemoManifest(out / "media", out / "truth", [DemoEpisode(**e) for e in saved["episodes"]])
    cache: dict[tuple[str, str], np.ndarray] = {}

    def tts48(voice: str, text: str) -> np.ndarray:
        if (voice, text) not in cache:
            cache[(voice, text)] = voices.synthesize(voice, text)
        return cache[(voice, text)]

    cache16: dict[tuple[str, str], np.ndarray] = {}

    def tts16(voice: str, text: str) -> np.ndarray:
        if (voice, text) not in cache16:
            cache16[(voice, text)] = soxr.resample(tts48(voice, text), voices.SR, SR).astype(np.float32)
        return cache16[(voice, text)]

    episodes = [build_hard_episode(i, out, seed, minutes_per_episode, tts16)[0] for i in range(1, n_episodes + 1)]
    write_series_files(out, tts48, series=SERIES)
    shutil.rmtree(out / ".work", ignore_errors=True)
    write_json_atomic(stamp, {"params": params, "episodes": [asdict(e) for e in episodes]})
    return DemoManifest(out / "media", out / "truth", episodes)
