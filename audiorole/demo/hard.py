"""The hard demo profile: the demo's characters recorded like a meeting instead of mixed like TV.

    audiorole demo --out DIR --profile hard [--episodes 4] [--minutes 15]

Series "Far Field" exists to measure speech activity, overlap detection and diarization on hard audio, so it has
what the TV profile does not: no subtitles at all (no sidecar, no embedded stream), one microphone in a
reverberant room (pyroomacoustics image-source shoebox, RT60 0.4–0.8 s, every talker 1.5–4.5 m away), one or two
quiet talkers per episode 15–25 dB below the others, 15–20% of the speech time overlapped (interruptions and
backchannels said over a longer turn), stationary room noise with a faint mains hum, and a peak at −3 dBFS but no
loudness normalization. Audio is 16 kHz mono FLAC, like a meeting recorder's.

Ground truth has the default profile's formats (``<stem>.rttm``, ``<stem>.lines.jsonl``, ``series.json``) plus
``<stem>.hard.json``: the room and positions, each talker's level, gain and SNR, which talkers are quiet, and the
measured overlap share. The room in it is complete enough to recompute the impulse responses
(:func:`room_impulse_responses`), which the tests use to check the mix against the recorded gains.
Deterministic for a seed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from audiorole.demo import mix, script, voices
from audiorole.demo.build import DemoEpisode, DemoManifest, PlacedLine, _truth_files, write_series_files
from audiorole.io import atomic_path, write_json_atomic

SERIES = "Far Field"
HARD_VERSION = "2"
SR = 16_000
DEFAULT_MINUTES = 15.0
DEFAULT_EPISODES = 4

OVERLAP_SHARE = (0.15, 0.20)  # overlapped speech time / speech time
GAP_S = (0.1, 1.0)  # between turns of a scene
PAUSE_S = (1.5, 4.0)  # between scenes: the occasional longer pause
ROOM_M = ((4.0, 9.0), (3.0, 7.0), (2.5, 3.3))  # shoebox length, width, height ranges
RT60_S = (0.4, 0.8)
DISTANCE_M = (1.5, 4.5)  # talker to microphone, in 3-D
MAX_ORDER_CAP = 80  # image-source order bound: keeps one room under a few seconds even when small and live
NORMAL_DB = 3.0  # normal talkers' levels spread ±3 dB around the 0 dB reference
QUIET_DB = (15.0, 25.0)  # a quiet talker sits this far below the quietest normal talker
QUIET_SNR_DB = (5.0, 15.0)  # and at this SNR, within QUIET_DB
NORMAL_SNR_DB = (25.0, 35.0)  # every normal talker over the room noise
PEAK_DBFS = -3.0
REF_RMS = 0.1  # the 0 dB reference level before the peak scaling

AudioOf = Callable[[str, str], np.ndarray]


def to_16k(audio48: np.ndarray) -> np.ndarray:
    """A dry TTS line (voices.SR) at the recording's 16 kHz: every line is rendered from this."""
    import soxr

    return soxr.resample(audio48, voices.SR, SR).astype(np.float32)


# timeline --------------------------------------------------------------------------------------------------------
def place_meeting(lines: list[script.Line], audio_of: AudioOf, rng: np.random.Generator, max_s: float,
                  busy: float) -> list[PlacedLine]:
    """Meeting-like turn taking until ``max_s``: short gaps, a longer pause between scenes, interruptions (a turn
    starts before the previous one ends) and backchannels said by a listener over a longer turn. ``busy`` scales
    how often the last two happen; the overlap share grows with it, which is what the caller searches on.

    ``audio_of(character, text)`` gives the dry 16 kHz line. Returns the lines in start order, numbered again, with
    ``overlaps_previous`` set for every line that starts while an earlier one is still being said."""
    cast_of_scene: dict[int, list[str]] = {}
    for ln in lines:
        cast_of_scene.setdefault(ln.scene, [])
        if ln.character not in cast_of_scene[ln.scene]:
            cast_of_scene[ln.scene].append(ln.character)
    placed: list[PlacedLine] = []
    cursor = float(rng.uniform(1.0, 2.0))  # the end of everything said so far (the recorder starts a bit early)
    prev: PlacedLine | None = None
    for ln in lines:
        audio = audio_of(ln.character, ln.text)
        dur = len(audio) / SR
        if prev is not None and prev.line.scene != ln.scene:
            start = cursor + float(rng.uniform(*PAUSE_S))
        elif (prev is not None and prev.line.character != ln.character and prev.end - prev.start > 1.0
              and rng.random() < min(0.9, 0.25 * busy)):
            start = prev.end - float(rng.uniform(0.3, min(1.5, 0.6 * (prev.end - prev.start))))
        else:
            start = cursor + float(rng.uniform(*GAP_S))
        start = round(start, 3)  # on the millisecond grid of the truth files, so they locate every sample
        if start + dur > max_s - 2.0 and placed:
            break
        p = PlacedLine(ln, start, start + dur, audio)
        placed.append(p)
        cursor = max(cursor, p.end)
        prev = p
        others = [c for c in cast_of_scene[ln.scene] if c != ln.character]
        if dur > 1.8 and others and rng.random() < min(0.9, 0.3 * busy):
            who = others[int(rng.integers(len(others)))]
            text = script.BACKCHANNELS[int(rng.integers(len(script.BACKCHANNELS)))]
            bc_audio = audio_of(who, text)
            at = round(p.start + float(rng.uniform(0.3, max(0.31, dur - 0.3 - len(bc_audio) / SR))), 3)
            bc = script.Line(-1, ln.scene, who, text, is_backchannel=True)
            placed.append(PlacedLine(bc, at, at + len(bc_audio) / SR, bc_audio))
            cursor = max(cursor, placed[-1].end)
    placed.sort(key=lambda q: q.start)
    said_until = 0.0
    for i, q in enumerate(placed):
        q.line.line_id = i
        q.line.overlaps_previous = q.start < said_until
        said_until = max(said_until, q.end)
    return placed


def overlap_share(spans: list[tuple[float, float]], step: float = 0.01) -> tuple[float, float]:
    """(overlapped seconds, speech seconds) of a set of talk spans, on a 10 ms grid: overlapped = two or more
    talkers at once, speech = at least one."""
    if not spans:
        return 0.0, 0.0
    n = int(max(e for _, e in spans) / step) + 2
    count = np.zeros(n, dtype=np.int32)
    for s, e in spans:
        count[int(round(s / step)):int(round(e / step))] += 1
    return float((count >= 2).sum() * step), float((count >= 1).sum() * step)


def place_with_overlap_share(lines: list[script.Line], audio_of: AudioOf, seed: tuple[int, ...], max_s: float,
                             ) -> tuple[list[PlacedLine], float, float]:
    """Place the lines with the ``busy`` factor found by bisection so that the measured overlap share lands inside
    OVERLAP_SHARE (aiming a little inside its edges). Every try draws from the same seed, so the share depends on
    ``busy`` alone; the try closest to the middle of the range is kept if none lands inside (short test builds
    have too few lines to hit a narrow range). Returns the lines, the share and ``busy``."""
    lo, hi, busy = 0.0, 4.0, 1.0
    aim = (OVERLAP_SHARE[0] + 0.005, OVERLAP_SHARE[1] - 0.005)
    best: tuple[float, list[PlacedLine], float, float] | None = None
    for _ in range(14):
        fresh = [script.Line(ln.line_id, ln.scene, ln.character, ln.text, ln.is_backchannel) for ln in lines]
        placed = place_meeting(fresh, audio_of, np.random.default_rng(seed), max_s, busy)
        ov, sp = overlap_share([(p.start, p.end) for p in placed])
        share = ov / sp if sp else 0.0
        miss = abs(share - sum(OVERLAP_SHARE) / 2)
        if best is None or miss < best[0]:
            best = (miss, placed, share, busy)
        if aim[0] <= share <= aim[1]:
            break
        lo, hi = (busy, hi) if share < aim[0] else (lo, busy)
        busy = (lo + hi) / 2
    _, placed, share, busy = best
    return placed, share, busy


# room ------------------------------------------------------------------------------------------------------------
def _simulate(dims: list[float], absorption: float, max_order: int, mic: list[float],
              sources: list[list[float]]) -> list[np.ndarray]:
    """Raw image-source impulse responses, microphone to each source, at 16 kHz."""
    import pyroomacoustics as pra

    room = pra.ShoeBox(dims, fs=SR, materials=pra.Material(absorption), max_order=max_order, air_absorption=False)
    room.add_microphone(mic)
    for s in sources:
        room.add_source(s)
    room.compute_rir()
    return [np.asarray(room.rir[0][k], dtype=np.float64) for k in range(len(sources))]


def _measured_rt60(h: np.ndarray) -> float:
    """RT60 extrapolated from the −5…−25 dB span of the Schroeder decay (T20): the response stops near −30 dB."""
    import pyroomacoustics as pra

    return float(pra.experimental.measure_rt60(h, fs=SR, decay_db=20))


def _trim_to_direct_path(h: np.ndarray, distance_m: float) -> np.ndarray:
    """Cut the propagation delay so the direct sound lands 1 ms after a line's placed start: the truth intervals
    are the times a listener hears each line begin, as if labelled from this recording. Unit energy, so the
    talker's level is set by its gain alone."""
    direct = int(distance_m / 343.0 * SR)
    window = h[: direct + int(0.01 * SR)]
    peak = int(np.argmax(np.abs(window))) if len(window) else 0
    h = h[max(0, peak - 16):].astype(np.float32)
    return h / (float(np.sqrt(np.sum(h.astype(np.float64) ** 2))) or 1.0)


def room_impulse_responses(room: dict) -> dict[str, np.ndarray]:
    """Each talker's impulse response in a room as recorded in ``<stem>.hard.json`` (``room``): the build renders
    with exactly these, so they can be recomputed from the facts alone."""
    names = list(room["sources"])
    raw = _simulate(room["dims_m"], room["absorption"], room["max_order"], room["mic_m"],
                    [room["sources"][c]["position_m"] for c in names])
    return {c: _trim_to_direct_path(h, room["sources"][c]["distance_m"]) for c, h in zip(names, raw)}


def draw_room(characters: list[str], rng: np.random.Generator) -> dict:
    """A shoebox room with a target RT60, one table microphone and a fixed spot for every talker 1.5–4.5 m away.

    pyroomacoustics' inverse Sabine formula gives the wall absorption and the image-source order for the RT60;
    a shoebox simulated with it decays slower than Sabine predicts (by up to ~30% in these rooms), and the full
    order is slow for small live rooms. So: half the order (the response then covers the first ~30 dB of decay,
    all that is audible over the room noise), capped at MAX_ORDER_CAP, and the absorption corrected on one
    talker's response until its measured RT60 is within 5% of the target (Eyring's −ln(1−α) ∝ 1/RT60; one or two
    steps). Geometry is kept to centimetres so ``<stem>.hard.json`` recomputes the same responses."""
    import pyroomacoustics as pra

    dims = np.round([rng.uniform(*r) for r in ROOM_M], 2)
    rt60 = float(rng.uniform(*RT60_S))
    mic = np.round([rng.uniform(1.0, dims[0] - 1.0), rng.uniform(1.0, dims[1] - 1.0), rng.uniform(0.7, 1.1)], 2)
    positions: dict[str, np.ndarray] = {}
    for c in characters:
        for _ in range(1000):  # a seated or standing talker around the table, inside the room
            d = float(rng.uniform(*DISTANCE_M))
            up = float(rng.uniform(0.3, 0.8))
            flat = float(np.sqrt(d * d - up * up))
            angle = float(rng.uniform(0.0, 2 * np.pi))
            pos = np.round(mic + np.array([flat * np.cos(angle), flat * np.sin(angle), up]), 2)
            if np.all(pos[:2] >= 0.4) and np.all(pos[:2] <= dims[:2] - 0.4) and pos[2] <= dims[2] - 0.3:
                break
        else:  # unreachable for ROOM_M and the mic's 1 m margin, kept as a guard
            raise RuntimeError(f"no talker position {DISTANCE_M} m from the microphone in a {dims} room")
        positions[c] = pos
    absorption, full_order = pra.inverse_sabine(rt60, dims)
    order = min(MAX_ORDER_CAP, int(np.ceil(full_order / 2)))
    probe = positions[characters[0]]
    measured = rt60
    for _ in range(4):
        measured = _measured_rt60(_simulate(dims.tolist(), absorption, order, mic.tolist(), [probe.tolist()])[0])
        if abs(measured / rt60 - 1) < 0.05:
            break
        absorption = float(min(0.99, 1 - (1 - absorption) ** (measured / rt60)))
    return {"dims_m": dims.tolist(), "rt60_target_s": round(rt60, 3), "rt60_measured_s": round(measured, 3),
            "absorption": float(absorption), "max_order": order, "mic_m": mic.tolist(),
            "sources": {c: {"position_m": p.tolist(), "distance_m": round(float(np.linalg.norm(p - mic)), 3)}
                        for c, p in positions.items()}}


def room_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS stationary room noise: pink noise (ventilation, the building) plus a faint 50 Hz mains hum with two
    harmonics, about 12 dB under the pink noise. The pink noise is shaped in one FFT of a fast length: an episode's
    own length can have large prime factors, which made that FFT take 20 s and 2 GB."""
    from scipy.fft import next_fast_len

    noise = mix.pink_noise(next_fast_len(n, real=True), rng)[:n]
    t = np.arange(n) / SR
    for k, a in ((1, 0.2), (2, 0.1), (3, 0.06)):
        noise += (a * np.sin(2 * np.pi * 50 * k * t + float(rng.uniform(0, 2 * np.pi)))).astype(np.float32)
    return (noise / (float(np.sqrt(np.mean(noise.astype(np.float64) ** 2))) or 1.0)).astype(np.float32)


# levels ----------------------------------------------------------------------------------------------------------
def draw_levels(speakers: list[str], main: list[str], rng: np.random.Generator,
                ) -> tuple[dict[str, float], list[str], float]:
    """Talker levels (dB re the reference), the quiet talkers, and the noise level's SNR re the reference.

    Normal talkers spread ±NORMAL_DB. The noise is set so every normal talker sits at NORMAL_SNR_DB: the
    reference's SNR is drawn inside that range shrunk by NORMAL_DB at both ends. One or two of the main characters
    are quiet; each is drawn QUIET_DB below the quietest normal talker — so at least 15 dB below everyone — and,
    within that, at a QUIET_SNR_DB SNR (the two ranges always meet, since the quietest normal talker's SNR is in
    NORMAL_SNR_DB)."""
    candidates = [c for c in speakers if c in main] or speakers
    n_quiet = min(len(candidates), len(speakers) - 1, int(rng.integers(1, 3)))
    quiet = sorted(str(c) for c in rng.choice(candidates, size=n_quiet, replace=False))
    levels = {c: float(rng.uniform(-NORMAL_DB, NORMAL_DB)) for c in speakers if c not in quiet}
    snr_ref = float(rng.uniform(NORMAL_SNR_DB[0] + NORMAL_DB, NORMAL_SNR_DB[1] - NORMAL_DB))
    floor = min(levels.values())
    snr_floor = snr_ref + floor  # the quietest normal talker's SNR
    for c in quiet:
        lo = max(QUIET_DB[0], snr_floor - QUIET_SNR_DB[1])
        hi = min(QUIET_DB[1], snr_floor - QUIET_SNR_DB[0])
        levels[c] = floor - float(rng.uniform(lo, hi))
    return {c: levels[c] for c in speakers}, quiet, snr_ref


# episodes --------------------------------------------------------------------------------------------------------
def render(placed: list[PlacedLine], rirs: dict[str, np.ndarray], levels: dict[str, float], snr_ref: float,
           duration: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The recording: every line convolved with its talker's response (one per talker and episode, never a room
    per line), each talker's gain calibrated so that its reverberant level over its own lines, alone, is its level
    in dB re REF_RMS; then the room noise, then one gain for a PEAK_DBFS peak. Returns the 16 kHz mono mix and,
    per talker, the final gain on the unit-energy response (``render_gain_db``), level (``level_dbfs``) and SNR."""
    from scipy.signal import oaconvolve

    n = int(duration * SR)
    wet = [oaconvolve(p.audio, rirs[p.line.character]).astype(np.float32) for p in placed]
    energy: dict[str, float] = {}
    samples: dict[str, int] = {}
    for p, w in zip(placed, wet):  # a talker's level: energy inside its labelled lines (tails excluded)
        head = w[: len(p.audio)].astype(np.float64)
        energy[p.line.character] = energy.get(p.line.character, 0.0) + float(np.sum(head**2))
        samples[p.line.character] = samples.get(p.line.character, 0) + len(head)
    gain = {c: REF_RMS * 10 ** (levels[c] / 20) / np.sqrt(energy[c] / samples[c]) for c in energy}
    out = np.zeros(n, dtype=np.float32)
    for p, w in zip(placed, wet):
        a = int(round(p.start * SR))
        seg = w[: n - a]
        out[a:a + len(seg)] += np.float32(gain[p.line.character]) * seg
    noise_rms = REF_RMS * 10 ** (-snr_ref / 20)
    out += np.float32(noise_rms) * room_noise(n, rng)
    scale = 10 ** (PEAK_DBFS / 20) / float(np.max(np.abs(out)))  # a recorder's headroom, no loudness normalization
    out *= np.float32(scale)

    def to_db(x: float) -> float:
        return round(20 * float(np.log10(x)), 2)

    talkers = {c: {"level_db": round(levels[c], 2), "level_dbfs": to_db(REF_RMS * scale * 10 ** (levels[c] / 20)),
                   "render_gain_db": to_db(gain[c] * scale), "snr_db": round(snr_ref + levels[c], 2)}
               for c in sorted(gain)}
    return out, {"talkers": talkers, "noise_dbfs": to_db(noise_rms * scale), "peak_dbfs": PEAK_DBFS}


def build_hard_episode(number: int, out: Path, seed: int, minutes: float, tts16: Callable[[str, str], np.ndarray],
                       lines: str = "pool") -> tuple[DemoEpisode, dict]:
    """One episode: a script from script.py (same characters, voices and lines as the TV profile), placed like a
    meeting, rendered in its own room; media, truth and ``<stem>.hard.json`` written."""
    import soundfile as sf

    rng = np.random.default_rng([seed, number, 7])
    stem = f"S01E{number:02d}"
    ep = script.write_episode_script(number, rng, n_lines=max(20, int(minutes * 60 / 2.0)), lines=lines)
    voice_of = {c.name: c.voice for c in script.CHARACTERS}
    placed, share, busy = place_with_overlap_share(
        ep.lines, lambda who, text: tts16(voice_of[who], text), (seed, number, 11), minutes * 60)
    ov, sp = overlap_share([(p.start, p.end) for p in placed])
    speakers = sorted({p.line.character for p in placed})
    room = draw_room(speakers, rng)
    levels, quiet, snr_ref = draw_levels(speakers, [c.name for c in script.main_characters()], rng)
    duration = placed[-1].end + float(rng.uniform(1.0, 2.0))
    audio, rendered = render(placed, room_impulse_responses(room), levels, snr_ref, duration, rng)
    media_dir, truth_dir = out / "media" / SERIES, out / "truth" / SERIES
    media_path = media_dir / f"{stem}.flac"
    with atomic_path(media_path, suffix=".flac") as tmp:
        sf.write(str(tmp), audio, SR, format="FLAC", subtype="PCM_16")
    talkers = rendered.pop("talkers")
    for c, t in talkers.items():
        t.update(room["sources"][c], quiet=c in quiet,
                 speech_s=round(sum(p.end - p.start for p in placed if p.line.character == c), 2))
    normal_snr = [t["snr_db"] for c, t in talkers.items() if c not in quiet]
    facts = {
        "series": SERIES, "episode": stem, "sample_rate": SR, "duration_s": round(duration, 2),
        "speech_s": round(sp, 2), "overlap_s": round(ov, 2), "overlap_share": round(share, 4),
        "quiet_talkers": quiet, "normal_snr_db": [min(normal_snr), max(normal_snr)],
        "quiet_snr_db": {c: talkers[c]["snr_db"] for c in quiet}, "reference_snr_db": round(snr_ref, 2),
        "level_db": {c: t["level_db"] for c, t in talkers.items()}, "talkers": talkers, "room": room,
        "busy": round(busy, 4), **rendered,
        "notes": "level_db: each talker's reverberant speech level over its own lines, alone, re the normal "
                 "talkers' 0 dB reference; snr_db: that level over the room noise's RMS; overlap_share: overlapped "
                 "speech seconds / speech seconds, from the truth intervals on a 10 ms grid; mix = sum over lines of "
                 "10^(render_gain_db/20) * (dry 16 kHz line conv. unit-energy response) + noise",
    }
    rttm, lines_path = _truth_files(truth_dir, stem, placed, None)
    write_json_atomic(truth_dir / f"{stem}.hard.json", facts)
    return DemoEpisode(SERIES, stem, str(media_path), None, str(rttm), str(lines_path)), facts


def build_hard_demo(out_dir: str | Path, *, minutes_per_episode: float = DEFAULT_MINUTES,
                    n_episodes: int = DEFAULT_EPISODES, seed: int = 0, lines: str = "pool") -> DemoManifest:
    """Write the hard profile under ``out_dir`` (media/Far Field, truth/Far Field). Idempotent like
    ``build_demo``: an existing build with the same parameters (profile included) is kept as it is. Its lines are
    the reused pools by default (``lines``): it measures diarization of a meeting room, not a model."""
    out = Path(out_dir).resolve()
    params = {"profile": "hard", "version": HARD_VERSION, "minutes": minutes_per_episode, "episodes": n_episodes,
              "seed": seed, **({"lines": lines} if lines != "pool" else {})}
    stamp = out / "demo.json"
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved.get("params") == params and all(Path(e["media_path"]).exists() for e in saved["episodes"]):
            return DemoManifest(out / "media", out / "truth", [DemoEpisode(**e) for e in saved["episodes"]])
    # lines repeat across and within episodes: synthesize each (voice, text) once, resample it to 16 kHz once
    cache48: dict[tuple[str, str], np.ndarray] = {}
    cache16: dict[tuple[str, str], np.ndarray] = {}

    def tts48(voice: str, text: str) -> np.ndarray:
        if (voice, text) not in cache48:
            cache48[(voice, text)] = voices.synthesize(voice, text)
        return cache48[(voice, text)]

    def tts16(voice: str, text: str) -> np.ndarray:
        if (voice, text) not in cache16:
            cache16[(voice, text)] = to_16k(tts48(voice, text))
        return cache16[(voice, text)]

    episodes = [build_hard_episode(i, out, seed, minutes_per_episode, tts16, lines)[0] for i in range(1, n_episodes + 1)]
    write_series_files(out, tts48, series=SERIES)  # clean enrollment clips, so voices can be named
    write_json_atomic(stamp, {"params": params, "episodes": [asdict(e) for e in episodes]})
    return DemoManifest(out / "media", out / "truth", episodes)
