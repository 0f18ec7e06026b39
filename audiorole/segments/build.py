"""Aligned segments: one row per utterance (``SEGMENT_SCHEMA``), each kept or rejected with a reason.

Utterances come from the synchronized subtitle cues when there are any (a two-speaker dash cue is split at the
speaker change found by diarization), from diarization turns for the speech no cue covers, and from turns alone
for an episode without subtitles. Each utterance then gets its speaker (the diarization turn that covers most of
it), the ASR transcript of its span, the CER between subtitle and ASR, its language, an SNR estimate, clipping,
overlap — and the filters decide keep/reject. Nothing is dropped silently.

An utterance that another speaker talks in (overlap, or a speaker change the cue did not mark) is first cut to its
longest part with no other speaker in it, and its text to the words the ASR heard there (``trim_talked_over``);
when that part is too short or the cut cannot be placed in the text, it stays whole and is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher, get_close_matches

import numpy as np
import pyarrow as pa

from audiorole.segments import quality
from audiorole.segments.asr import Word, cer, normalize_text, words_in
from audiorole.audio import SAMPLE_RATE, cut
from audiorole.intervals import complement, union
from audiorole.segments.diarization import Turn
from audiorole.segments.language import audio_is_foreign, audio_verdict, is_foreign, needs_audio_check, text_language
from audiorole.schema import SEGMENT_SCHEMA


@dataclass(frozen=True)
class SegmentConfig:
    """Filter thresholds. Each is documented with its default; all are set per run from Dagster config."""

    min_duration_s: float = 0.3  # shorter utterances are too short to train on ("Mm." included at 0.3 s)
    max_duration_s: float = 20.0  # longer ones are rarely one utterance and exceed training windows
    max_clipping: float = 0.01  # share of clipped samples above which audio is damaged
    min_snr_db: float = 5.0  # blind WADA-SNR below which speech is buried in the bed (WADA reads low: see quality)
    max_cer: float = 0.5  # subtitle vs ASR disagreement above which the subtitle may not be what was said...
    #: ...unless the audio itself supports the subtitle's words: Whisper's teacher-forced log-probability of them
    #: given the clip, over given silence (nats per token, ``WhisperASR.text_evidence``), at least this. Where the
    #: ASR mishears (Czech lines through the multilingual base, a growled or sung line) its transcript's CER rejects
    #: right subtitles; the evidence tells them from wrong ones (``transcript_mismatch``)
    min_text_evidence: float = 0.5
    #: ...and unless Whisper heard more than this many times the subtitle's characters: then the clip holds more
    #: speech than the line (the partner's "Voda!" after the own "Voda!", a neighbour's words), and the evidence for
    #: the line's own words, which are there, says nothing of the rest
    max_heard_ratio: float = 1.5
    min_asr_confidence: float = 0.5  # mean word probability needed to trust ASR-only text
    max_other_speaker_share: float = 0.33  # share of a segment another speaker's turn may cover
    min_speaker_confidence: float = 0.5  # cosine similarity to the speaker centroid needed to trust the label
    reject_overlap: bool = True  # overlapped speech gives impure audio
    min_uncovered_s: float = 0.6  # speech with no cue shorter than this makes no ASR segment
    max_asr_segment_s: float = 15.0  # ASR-only segments are cut at word gaps to stay below this
    speech_trim_tolerance_s: float = 0.25  # how far outside a cue speech may start/end and still belong to it
    min_trimmed_s: float = 1.0  # a talked-over utterance is cut to its clean part only when that lasts this long


@dataclass
class Candidate:
    start: float
    end: float
    text_source: str  # "subtitle" | "asr"
    text: str | None = None
    cue_index: int | None = None
    cue_part: int | None = None
    speaker_tag: str | None = None
    facts: dict = field(default_factory=dict)


# utterance candidates --------------------------------------------------------------------------------------------
def trim_to_speech(start: float, end: float, speech: np.ndarray, tol: float) -> tuple[float, float] | None:
    """The extent of speech inside [start - tol, end + tol], clipped to the span; None if there is no speech."""
    s, e = start - tol, end + tol
    inside = [(max(a, s), min(b, e)) for a, b in speech if b > s and a < e]
    if not inside:
        return None
    return max(start - tol, inside[0][0]), min(end + tol, inside[-1][1])


def speaker_changes(turns: list[Turn], start: float, end: float) -> list[float]:
    """Times inside (start, end) where the covering turn's speaker changes."""
    inside = sorted((t for t in turns if t.end > start and t.start < end), key=lambda t: t.start)
    return [b.start for a, b in zip(inside, inside[1:]) if b.speaker != a.speaker and start < b.start < end]


def split_dash_cue(start: float, end: float, texts: list[str], turns: list[Turn]) -> list[tuple[float, float]]:
    """Split a cue spoken by ``len(texts)`` speakers: at the diarization's speaker changes nearest to where the
    text proportions put them, or at those proportions when diarization saw no change."""
    n = len(texts)
    weights = np.array([max(len(t), 1) for t in texts], dtype=float)
    expected = start + (end - start) * np.cumsum(weights)[:-1] / weights.sum()
    changes = speaker_changes(turns, start, end)
    cuts = []
    for x in expected:
        free = [c for c in changes if c not in cuts and (not cuts or c > cuts[-1])]
        cuts.append(min(free, key=lambda c: abs(c - x)) if free else float(x))
    edges = [start, *sorted(cuts), end]
    return [(edges[i], edges[i + 1]) for i in range(n)]


def candidates_from_cues(cues: list[dict], turns: list[Turn], speech: np.ndarray, cfg: SegmentConfig) -> list[Candidate]:
    """One candidate per cue part; cues over no speech keep their span and are rejected later ("no_speech")."""
    by_cue: dict[int, list[dict]] = {}
    for c in cues:
        by_cue.setdefault(int(c["cue_index"]), []).append(c)
    out = []
    for idx, parts in sorted(by_cue.items()):
        parts.sort(key=lambda c: c["part"])
        start, end = parts[0]["start_s"], parts[0]["end_s"]
        spans = split_dash_cue(start, end, [p["text"] for p in parts], turns) if len(parts) > 1 else [(start, end)]
        for part, (s, e) in zip(parts, spans):
            trimmed = trim_to_speech(s, e, speech, cfg.speech_trim_tolerance_s if len(parts) == 1 else 0.0)
            cand = Candidate(*(trimmed or (s, e)), "subtitle", part["text"], idx, int(part["part"]), part["speaker_tag"])
            if trimmed is None:
                cand.facts["no_speech"] = True
            out.append(cand)
    return out


def uncovered_speech(speech: np.ndarray, spans: list[tuple[float, float]], duration_s: float, min_s: float) -> np.ndarray:
    """Speech not covered by any of ``spans``, in pieces at least ``min_s`` long."""
    if not len(speech):
        return np.zeros((0, 2))
    covered = np.asarray(sorted(spans), dtype=float).reshape(-1, 2)
    holes = complement(union(covered), duration_s)
    pieces = [(max(a, c), min(b, d)) for a, b in speech for c, d in holes if min(b, d) - max(a, c) >= min_s]
    return np.asarray(pieces, dtype=float).reshape(-1, 2)


def candidates_from_turns(regions: np.ndarray, turns: list[Turn], words: list[Word], cfg: SegmentConfig) -> list[Candidate]:
    """ASR-text candidates for speech regions: cut at speaker turns, then at the widest word gaps until short."""
    out = []
    for rs, re_ in regions:
        for t in turns:
            s, e = max(rs, t.start), min(re_, t.end)
            if e - s < cfg.min_uncovered_s:
                continue
            for a, b in _split_long(s, e, words, cfg.max_asr_segment_s):
                out.append(Candidate(a, b, "asr"))
    return out


def _split_long(s: float, e: float, words: list[Word], max_s: float) -> list[tuple[float, float]]:
    if e - s <= max_s:
        return [(s, e)]
    inner = words_in(words, s, e)
    gaps = [((a.end + b.start) / 2, b.start - a.end) for a, b in zip(inner, inner[1:])]
    gaps = [g for g in gaps if s + 1.0 < g[0] < e - 1.0]
    at = max(gaps, key=lambda g: g[1])[0] if gaps else (s + e) / 2
    return _split_long(s, at, words, max_s) + _split_long(at, e, words, max_s)


# per-candidate facts and filters ---------------------------------------------------------------------------------
def overlap_regions(turns: list[Turn]) -> np.ndarray:
    """Where two speakers' turns run at the same time: (n, 2) intervals."""
    ts = sorted(turns, key=lambda t: t.start)
    out = [(max(a.start, b.start), min(a.end, b.end)) for i, a in enumerate(ts) for b in ts[i + 1:i + 4]
           if b.speaker != a.speaker and min(a.end, b.end) > max(a.start, b.start)]
    return np.asarray(sorted(out), dtype=float).reshape(-1, 2)


def attribute_speaker(c: Candidate, turns: list[Turn], overlaps: np.ndarray | None = None) -> None:
    """Speaker = the turn covering most of the candidate; other_share = the rest of the covered time;
    overlap = more than 0.1 s of the candidate lies where two speakers talk at once."""
    cover: dict[str, float] = {}
    conf: dict[str, float] = {}
    overlaps = overlap_regions(turns) if overlaps is None else overlaps
    overlap = float(np.sum(np.clip(np.minimum(overlaps[:, 1], c.end) - np.maximum(overlaps[:, 0], c.start), 0, None))
                    if len(overlaps) else 0.0) > 0.1
    for t in turns:
        ov = min(c.end, t.end) - max(c.start, t.start)
        if ov <= 0:
            continue
        cover[t.speaker] = cover.get(t.speaker, 0.0) + ov
        conf[t.speaker] = max(conf.get(t.speaker, 0.0), t.confidence)
    if not cover:
        c.facts.update(speaker=None, speaker_confidence=None, other_share=0.0, overlap=False)
        return
    best = max(cover, key=cover.get)
    total = sum(cover.values())
    c.facts.update(speaker=best, speaker_confidence=conf[best], other_share=1 - cover[best] / total, overlap=overlap)


def talked_over(c: Candidate, cfg: SegmentConfig) -> bool:
    """Another speaker talks in the candidate: as it is, it would be rejected for mixed speakers or overlap."""
    f = c.facts
    return f.get("other_share", 0.0) > cfg.max_other_speaker_share or (cfg.reject_overlap and f.get("overlap", False))


def clean_pieces(c: Candidate, turns: list[Turn]) -> list[tuple[float, float]]:
    """The parts of the candidate in which no other speaker than its own has a turn."""
    others = [(t.start, t.end) for t in turns
              if t.speaker != c.facts.get("speaker") and t.end > c.start and t.start < c.end]
    edges = [c.start, *union(np.asarray(others, dtype=float).reshape(-1, 2)).clip(c.start, c.end).ravel(), c.end]
    return [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b > a]


def anchored_words(text: str, words: list[Word]) -> list[tuple[int, Word]]:
    """(index of the token in ``text``, ASR word) for the tokens the ASR heard within a run of two or more
    matching words: a single matching word ("the", "I") is too often chance to cut a text at. A heard word counts
    as the text's word when it is one slip away (``_near_token``): tiny.en hearing "ban" for "band" left a
    talked-over demo line uncut, and so rejected whole."""
    tokens = [normalize_text(t) for t in text.split()]
    heard = [_near_token(normalize_text(w.text), tokens) for w in words]
    blocks = SequenceMatcher(None, tokens, heard, autojunk=False).get_matching_blocks()
    return [(m.a + k, words[m.b + k]) for m in blocks if m.size >= 2 for k in range(m.size)]


def _near_token(word: str, tokens: list[str], min_ratio: float = 0.8) -> str:
    """``word``, or the token of ``tokens`` it is a slip of: both at least 3 characters and a character similarity
    (difflib ratio) of at least ``min_ratio`` ("ban"/"band" 0.86, "boats"/"books" 0.6, "say"/"sail" 0.57)."""
    if word in tokens or len(word) < 3:
        return word
    near = get_close_matches(word, [t for t in tokens if len(t) >= 3], n=1, cutoff=min_ratio)
    return near[0] if near else word


def trim_talked_over(c: Candidate, turns: list[Turn], words: list[Word], overlaps: np.ndarray,
                     cfg: SegmentConfig) -> Candidate:
    """A talked-over candidate cut to its longest clean part (``clean_pieces``) with the text said there; the
    candidate itself when it is not talked over, when that part is shorter than ``min_trimmed_s`` or when the cut
    cannot be placed in its text (it is then rejected as before).

    A side whose cut-off part holds words the ASR heard ends at the last (starts at the first) text word that the
    ASR heard inside the clean part (``anchored_words``), and the text with it; a side whose cut-off part holds no
    heard word keeps the text's own end (start). ASR-text candidates keep the ASR words of the new span. The cut
    text then goes through the same filters as any other, the CER against the ASR of the new span included."""
    if not talked_over(c, cfg) or (c.text_source == "subtitle" and not c.text):
        return c
    a, b = max(clean_pieces(c, turns), key=lambda p: p[1] - p[0], default=(c.start, c.start))
    ws = words_in(words, c.start, c.end)
    if c.text_source == "subtitle":
        tokens, pairs = c.text.split(), anchored_words(c.text, ws)
    else:
        tokens, pairs = [w.text for w in ws], list(enumerate(ws))
    inside = [(i, w) for i, w in pairs if a <= _mid(w) < b]
    if not inside:  # nothing of the text is heard in the clean part
        return c
    head_cut, tail_cut = any(_mid(w) < a for w in ws), any(_mid(w) >= b for w in ws)
    first, start = (inside[0][0], max(a, inside[0][1].start)) if head_cut else (0, a)
    last, end = (inside[-1][0], min(b, inside[-1][1].end)) if tail_cut else (len(tokens) - 1, b)
    if end - start < cfg.min_trimmed_s or last < first:
        return c
    text = c.text if (first, last) == (0, len(tokens) - 1) else " ".join(tokens[first:last + 1])
    trimmed = replace(c, start=start, end=end, text=text, facts={})
    attribute_speaker(trimmed, turns, overlaps)
    return trimmed


def _mid(w: Word) -> float:
    return (w.start + w.end) / 2


def reject_reason(c: Candidate, cfg: SegmentConfig, series_language: str) -> str | None:
    """The first filter the candidate fails, or None (kept). The order is the order of the checks in ``_checks``."""
    return next((name for name, failed in _checks(c, cfg, series_language) if failed), None)


def language_in_doubt(c: Candidate, cfg: SegmentConfig, series_language: str) -> bool:
    """Whether the audio should tell the candidate's language: no check before the language check rejects it, its
    text does not already (``is_foreign``), and the series-language ASR did not confirm it (``needs_audio_check``)."""
    for name, failed in _checks(c, cfg, series_language):
        if name == "foreign_language":
            return not failed and needs_audio_check(c.facts.get("language", "und"), c.facts.get("cer"),
                                                    series_language)
        if failed:
            return False
    return False


def heard_more(text: str, asr_text: str, cfg: SegmentConfig) -> bool:
    """Whisper heard more than ``max_heard_ratio`` times the subtitle's characters (spaces and punctuation aside)."""
    def chars(t: str) -> int:
        return len(normalize_text(t).replace(" ", ""))

    return chars(asr_text) > cfg.max_heard_ratio * chars(text)


def transcript_mismatch(facts: dict, cfg: SegmentConfig) -> bool:
    """A subtitle is not what was said: the ASR heard something else (CER above ``max_cer``) and the audio does not
    support the subtitle's words either (``text_evidence`` below ``min_text_evidence``, or not measured: never where
    the ASR heard more than the line, ``heard_more``)."""
    if facts.get("cer") is None or facts["cer"] <= cfg.max_cer:
        return False
    evidence = facts.get("text_evidence")
    return evidence is None or evidence < cfg.min_text_evidence


def _checks(c: Candidate, cfg: SegmentConfig, series_language: str) -> list[tuple[str, bool]]:
    f = c.facts
    dur = c.end - c.start
    return [
        ("no_speech", f.get("no_speech", False)),
        ("too_short", dur < cfg.min_duration_s),
        ("too_long", dur > cfg.max_duration_s),
        ("no_speaker", f.get("speaker") is None),
        ("mixed_speakers", f.get("other_share", 0.0) > cfg.max_other_speaker_share),
        ("overlap", cfg.reject_overlap and f.get("overlap", False)),
        ("no_text", not (c.text or "").strip()),
        ("foreign_language", is_foreign(f.get("language", "und"), f.get("language_prob", 0.0), series_language)
            or audio_is_foreign(f.get("audio_language"), series_language)),
        ("transcript_mismatch", transcript_mismatch(f, cfg)),
        ("low_asr_confidence", c.text_source == "asr" and (f.get("asr_confidence") or 0.0) < cfg.min_asr_confidence),
        ("clipping", (f.get("clipping") or 0.0) > cfg.max_clipping),
        ("low_snr", f.get("snr_db") is not None and f["snr_db"] < cfg.min_snr_db),
        ("low_speaker_confidence", (f.get("speaker_confidence") or 0.0) < cfg.min_speaker_confidence),
    ]


def build_segments(
    episode_key: str,
    wav: np.ndarray,
    speech: np.ndarray,
    turns: list[Turn],
    words: list[Word],
    cues: list[dict] | None,
    *,
    series_language: str = "en",
    config: SegmentConfig = SegmentConfig(),
    audio_language=None,
    language_probabilities=None,
    text_evidence=None,
) -> list[dict]:
    """All utterances of an episode as SEGMENT_SCHEMA rows (without embeddings), sorted by start time.

    ``cues``: synchronized cue rows (CUE_SCHEMA dicts, times in audio seconds) or None/empty.
    ``audio_language``: optional callable(clip) -> (lang, prob) from a multilingual ASR model, asked for every
    segment. Without it, ``language_probabilities``: optional callable(clip) -> {lang: prob} (a language identifier
    beside an English-only ASR model), asked only for the segments whose language is in doubt
    (``language_in_doubt``), their audio's language being what ``audio_verdict`` settles; the others keep
    ``audio_language`` None.
    ``text_evidence``: optional callable(clip, text) -> nats per token (``WhisperASR.text_evidence``), asked only
    for subtitle segments whose CER is above ``max_cer`` and whose ASR text is not much longer (``heard_more``);
    without it those are rejected as ``transcript_mismatch``.
    """
    cfg = config
    duration = len(wav) / SAMPLE_RATE
    speech = np.asarray(speech, dtype=float).reshape(-1, 2)
    cands: list[Candidate] = []
    if cues:
        cands = candidates_from_cues(cues, turns, speech, cfg)
        spans = [(c.start - cfg.speech_trim_tolerance_s, c.end + cfg.speech_trim_tolerance_s) for c in cands]
        cands += candidates_from_turns(uncovered_speech(speech, spans, duration, cfg.min_uncovered_s), turns, words, cfg)
    else:
        cands = candidates_from_turns(speech, turns, words, cfg)

    overlaps = overlap_regions(turns)
    for c in cands:
        attribute_speaker(c, turns, overlaps)
    cands = [trim_talked_over(c, turns, words, overlaps, cfg) for c in cands]  # talked over: keep the clean part
    rows = []
    for c in sorted(cands, key=lambda c: (c.start, c.cue_part or 0)):
        ws = words_in(words, c.start, c.end)
        asr_text = " ".join(w.text for w in ws)
        if c.text_source == "asr":
            c.text = asr_text
        f = c.facts
        f["asr_confidence"] = float(np.mean([w.probability for w in ws])) if ws else None
        f["cer"] = cer(c.text, asr_text) if c.text_source == "subtitle" and not f.get("no_speech") else None
        f["language"], f["language_prob"] = text_language(c.text or "")
        clip = cut(wav, c.start, c.end)
        f["text_evidence"] = None
        if (text_evidence and f["cer"] is not None and f["cer"] > cfg.max_cer  # a second opinion, where CER says no
                and not heard_more(c.text, asr_text, cfg)):
            f["text_evidence"] = text_evidence(clip, c.text)
        # WADA, not the background-referenced estimate: measured on the demo, the louder music between scenes
        # makes the background estimate read ~6 dB low there and reject clean lines; the threshold is WADA's
        f["snr_db"] = quality.wada_snr_db(clip) if len(clip) > SAMPLE_RATE // 10 else None
        f["clipping"] = quality.clipping_ratio(clip) if len(clip) else 0.0
        f["audio_language"] = None
        if audio_language and len(clip):
            f["audio_language"] = audio_language(clip)[0]
        elif language_probabilities and len(clip) and language_in_doubt(c, cfg, series_language):
            f["audio_language"] = audio_verdict(language_probabilities(clip), series_language,
                                                text_lang=f["language"], text_prob=f["language_prob"])[0]
        reason = reject_reason(c, cfg, series_language)
        rows.append({
            "episode_key": episode_key, "start_s": round(c.start, 3), "end_s": round(c.end, 3),
            "speaker": f.get("speaker"), "speaker_confidence": f.get("speaker_confidence"),
            "text": c.text, "text_source": c.text_source, "cue_index": c.cue_index, "cue_part": c.cue_part,
            "speaker_tag": c.speaker_tag, "asr_text": asr_text, "asr_confidence": f["asr_confidence"],
            "cer": f["cer"], "text_evidence": _finite(f["text_evidence"]), "language": f["language"],
            "language_prob": f["language_prob"],
            "audio_language": f["audio_language"], "snr_db": _finite(f["snr_db"]), "clipping": f["clipping"],
            "overlap": bool(f.get("overlap", False)), "keep": reason is None, "reject_reason": reason,
            "embedding": None,
        })
    for i, r in enumerate(rows):
        r["segment_id"] = f"{episode_key}#{i:04d}"
    return rows


def _finite(x):
    return None if x is None or not np.isfinite(x) else float(x)


def segments_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SEGMENT_SCHEMA)


def add_embeddings(rows: list[dict], wav: np.ndarray, embedder) -> int:
    """Speaker embeddings for the kept segments (in place). Returns how many were embedded."""
    kept = [r for r in rows if r["keep"]]
    embs = embedder.embed_many([cut(wav, r["start_s"], r["end_s"]) for r in kept])
    for r, e in zip(kept, embs):
        r["embedding"] = [float(x) for x in e]
    return len(kept)
