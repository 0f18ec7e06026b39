"""Episode-local speaker diarization: who speaks when.

Default backend (offline, CPU, weights in packages): speech regions from the VAD are cut into single-speaker
pieces — at subtitle cue starts when cues are given (a new cue usually means a new speaker) and at speaker
changes seen in sliding-window embeddings — then every piece is embedded and the pieces are clustered
(agglomerative, cosine, average linkage). Pieces too short for a reliable embedding join the nearest cluster.
Where two subtitle cues overlap in time and their pieces got different speakers, the overlap is marked.

The pyannote backend loads a pyannote.audio pipeline (e.g. speaker-diarization-community-1 or 3.1) from a
local directory. Both give the same output: a list of :class:`Turn`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE, cut
from audiorole.embeddings import SpeakerEmbedder, l2_normalize


@dataclass(frozen=True)
class DiarizationConfig:
    #: cosine distance under which two clusters merge (resemblyzer: same voice ≈ 0.1–0.25, other voice ≥ 0.35)
    cluster_threshold: float = 0.3
    #: how an episode without subtitles is cut into speakers: "threshold" (cluster_threshold) or "eigengap" (the
    #: number of speakers read from the affinity spectrum); episodes with subtitles always use the threshold.
    #: Eigengap is not the default: in reverberant rooms it counted fewer voices than the threshold's too many, but
    #: its DER was no clear win (``benchmarks/diarization_quality.py``, measured: n_clusters)
    n_clusters: str = "threshold"
    #: pieces at least this long build the clusters; shorter ones are assigned to a cluster (``assign``)
    min_cluster_piece_s: float = 1.0
    #: the same without subtitles, where pieces are cut only at speaker changes and detected overlap: short uncued
    #: pieces hold twice the overlapped speech of longer ones and sit nearer the episode's mean voice, so they
    #: formed a catch-all cluster; with a much longer minimum too few pieces are left to build every voice (not a
    #: smooth optimum: ``benchmarks/diarization_quality.py``, measured: min_cluster_piece_uncued_s)
    min_cluster_piece_uncued_s: float = 1.5
    #: how a piece that did not build a cluster is given one: "centroid" (the nearest cluster centroid, cosine),
    #: "logistic" (a logistic regression fitted on the episode's own clustered pieces, their duration as weight,
    #: inverse regularization ``assign_c``: it weighs the directions that tell this episode's voices apart, where
    #: a short piece's embedding, noisier and drawn towards the episode's mean voice, is nearest the cluster that
    #: sits nearest that mean) or "auto" (logistic where the pieces left to assign outnumber those that built the
    #: clusters, so the assignment decides most labels; centroid otherwise, where logistic was no better:
    #: ``benchmarks/diarization_quality.py``, measured: assign)
    assign: str = "auto"
    assign_c: float = 10.0
    #: sliding windows for change detection inside long pieces
    window_s: float = 1.5
    hop_s: float = 0.25
    #: cosine distance between the windows before and after a point above which the speaker changed
    change_threshold: float = 0.25
    #: no piece shorter than this is cut off by a change point or a cue start
    min_piece_s: float = 0.4
    #: turns of the same speaker closer than this are merged
    merge_gap_s: float = 0.3
    #: a cluster with less speech than min(min_cluster_s, min_cluster_share × the episode's speech) is folded
    #: into the nearest larger cluster: a voice heard for a few seconds is more often a split than a speaker —
    #: unless its subtitle cues name someone the larger cluster's cues do not (``_fold_small_clusters``): a voice
    #: the subtitles name (a mailman heard for seconds under one "MAILMAN:" cue) is a speaker, and folding it gave
    #: his lines to a main character (``benchmarks/diarization_quality.py``, measured: min_cluster_s)
    min_cluster_s: float = 10.0
    min_cluster_share: float = 0.06
    #: how subtitle speaker tags steer the clustering (pieces with different tags are always kept apart): two pieces
    #: with the same tag are at ``same_tag_scale`` × their voices' distance (0: at distance 0), and with
    #: ``join_tagged`` clusters whose pieces' tags name the same speaker (``tag_min_count`` tags, a majority of the
    #: cluster's) are one speaker after clustering. Until 2026-12-05 same-tag pieces were at distance 0 and nothing
    #: was joined: a real actor recorded in several sessions (Fish Fillets' levels) had every tagged piece in one
    #: cluster and each session's untagged pieces in clusters of their own; joining clusters by their tags instead
    #: took mean DER from 0.414 to 0.214 on Fish Fillets and from 0.101 to 0.054 on Amazon Queen (6 episodes
    #: each), the demo unchanged (0.056) (``benchmarks/diarization_quality.py``, measured: tags)
    same_tag_scale: float = 1.0
    join_tagged: bool = True
    tag_min_count: int = 1
    #: a cluster whose pieces' tags name two or more speakers, each at least ``split_min_tags`` times and at least
    #: ``split_min_share`` of the cluster's tags, is that many speakers: each piece goes to the name whose tagged
    #: pieces' centroid is nearest (``split_tagged_clusters``). Voices as alike as one actor's (Amazon Queen's Joe
    #: and Sparky) are one cluster wherever few of their cues carry a name, and the names are the only evidence
    split_tagged: bool = True
    split_min_tags: int = 2
    split_min_share: float = 0.2
    #: an overlap between two subtitle cues shorter than this is edge jitter, not overlapped speech
    min_overlap_s: float = 0.2
    #: a detected overlap region takes its second speaker from a turn of another speaker at most this far away
    #: (interruptions and backchannels sit next to the turn they overlap); failing that, from the voice the
    #: region's embedding is nearest to after the main speaker's
    overlap_neighbour_s: float = 2.0


@dataclass
class Turn:
    start: float
    end: float
    speaker: str
    overlap: bool = False  # part of this turn is spoken over by another speaker
    confidence: float = 1.0  # cosine similarity of the turn to its speaker's centroid

    @property
    def duration(self) -> float:
        return self.end - self.start


# piece cutting ---------------------------------------------------------------------------------------------------
def split_at(regions: np.ndarray, points: np.ndarray, min_piece_s: float) -> list[tuple[float, float]]:
    """Cut each region at the given time points, keeping every piece at least ``min_piece_s`` long."""
    pieces = []
    points = np.sort(np.asarray(points, dtype=float))
    for s, e in regions:
        inner = points[(points > s + min_piece_s) & (points < e - min_piece_s)]
        edges = [s]
        for p in inner:
            if p - edges[-1] >= min_piece_s:
                edges.append(float(p))
        edges.append(float(e))
        pieces += [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
    return pieces


def change_points(wav: np.ndarray, start: float, end: float, embedder: SpeakerEmbedder, cfg: DiarizationConfig) -> list[float]:
    """Speaker-change points inside [start, end]: peaks of the cosine distance between the window just before
    and the window just after each candidate point."""
    if end - start < 2 * cfg.window_s + cfg.min_piece_s:
        return []
    ts = np.arange(start + cfg.window_s, end - cfg.window_s + 1e-6, cfg.hop_s)
    region = cut(wav, start, end)
    starts = np.r_[ts - cfg.window_s, ts] - start  # windows just before and just after each point
    # the window after one point is the window before another when the window is a whole number of hops:
    # embed each distinct window once (half the windows with the defaults)
    unique, which = np.unique(np.round(starts, 4), return_inverse=True)
    embs = embedder.window_embeddings(region, unique, cfg.window_s)[which]
    before, after = embs[: len(ts)], embs[len(ts) :]
    dist = 1.0 - np.sum(before * after, axis=1)
    points = []
    for i in range(len(ts)):
        lo, hi = max(0, i - 2), min(len(ts), i + 3)
        if dist[i] >= cfg.change_threshold and dist[i] == dist[lo:hi].max():
            points.append(float(ts[i]))
    return points


# clustering ------------------------------------------------------------------------------------------------------
def cluster_embeddings(embs: np.ndarray, threshold: float, tags: list[str | None] | None = None,
                       n_clusters: str = "threshold", max_speakers: int = 12, same_tag_scale: float = 1.0,
                       join_tagged: bool = True, tag_min_count: int = 1, split_tagged: bool = True,
                       split_min_tags: int = 2, split_min_share: float = 0.2) -> np.ndarray:
    """Agglomerative clustering, cosine distance, average linkage, stopped at ``threshold`` (or, with
    ``n_clusters="eigengap"``, at the number of speakers ``eigengap_count`` finds).

    ``tags`` (one per embedding, e.g. subtitle speaker tags) are soft constraints: two pieces with different tags
    are at least 1 apart (so average linkage keeps them apart unless the voices are overwhelmingly alike); two
    with the same tag at ``same_tag_scale`` × their distance; with ``join_tagged`` the clusters are then joined
    by their tags (``join_tagged_clusters``), and with ``split_tagged`` a cluster whose tags name several speakers
    is split among them (``split_tagged_clusters``). Zero distances hide how far a voice spreads: a speaker recorded in
    several rooms had all its tagged pieces in one cluster, whose mean distance to the same voice's untagged pieces
    of any one room then exceeded the threshold, and those became speakers of their own."""
    if len(embs) == 0:
        return np.zeros(0, dtype=int)
    if len(embs) == 1:
        return np.zeros(1, dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    dist = np.clip(1.0 - embs @ embs.T, 0.0, 2.0)
    if tags is not None:
        t = np.array([x or "" for x in tags], dtype=object)
        has = t != ""
        same = (t[:, None] == t[None, :]) & has[:, None] & has[None, :]
        differ = (t[:, None] != t[None, :]) & has[:, None] & has[None, :]
        dist = np.where(same, same_tag_scale * dist, np.where(differ, np.maximum(dist, 1.0), dist))
    np.fill_diagonal(dist, 0.0)
    labels = None
    if n_clusters == "eigengap":
        k = eigengap_count(embs, max_speakers)
        if k > 1:
            labels = AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage="average").fit_predict(dist)
    if labels is None:
        labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                         distance_threshold=threshold).fit_predict(dist)
    if tags is not None and join_tagged:
        labels = join_tagged_clusters(labels, tags, tag_min_count)
    if tags is not None and split_tagged:
        labels = split_tagged_clusters(embs, labels, tags, split_min_tags, split_min_share)
    return labels


def split_tagged_clusters(embs: np.ndarray, labels: np.ndarray, tags: list[str | None], min_tags: int = 2,
                          min_share: float = 0.2) -> np.ndarray:
    """Each cluster whose tagged pieces name several speakers (each name on at least ``min_tags`` pieces and at
    least ``min_share`` of the cluster's tagged pieces; rarer names are a cue's jitter, not a speaker) split among
    those names: a piece tagged with one of them keeps its name, every other piece goes to the name whose tagged
    pieces' centroid is nearest (cosine). The most tagged name keeps the cluster's label, the others get new ones."""
    labels = np.asarray(labels).copy()
    next_label = int(labels.max()) + 1 if len(labels) else 0
    for lab in np.unique(labels):
        members = np.flatnonzero(labels == lab)
        votes = Counter(tags[i] for i in members if tags[i])
        total = sum(votes.values())
        names = [t for t, n in votes.most_common() if n >= min_tags and n >= min_share * total]
        if len(names) < 2:
            continue
        cents = np.stack([l2_normalize(embs[[i for i in members if tags[i] == t]].mean(axis=0)) for t in names])
        choice = np.argmax(embs[members] @ cents.T, axis=1)
        for j, i in enumerate(members):
            if tags[i] in names:
                choice[j] = names.index(tags[i])
        for k in range(1, len(names)):
            labels[members[choice == k]] = next_label
            next_label += 1
    return labels


def join_tagged_clusters(labels: np.ndarray, tags: list[str | None], min_count: int = 1) -> np.ndarray:
    """Clusters whose tagged pieces name the same speaker (at least ``min_count`` of that tag, and a majority of
    the cluster's tags) become one cluster, under the smallest of their labels; others are left as they are."""
    labels = np.asarray(labels).copy()
    name = {}
    for lab in np.unique(labels):
        votes = Counter(t for t, x in zip(tags, labels) if t and x == lab)
        if votes:
            tag, n = votes.most_common(1)[0]
            if n >= min_count and 2 * n > sum(votes.values()):
                name[int(lab)] = tag
    first: dict[str, int] = {}
    for lab in sorted(name):
        first.setdefault(name[lab], lab)
    for lab, tag in name.items():
        labels[labels == lab] = first[tag]
    return labels


def eigengap_count(embs: np.ndarray, max_k: int = 12, keep: float = 0.2) -> int:
    """The number of speakers from the spectrum of the pieces' affinity graph (cosine similarity, each row pruned
    to its ``keep`` share of nearest neighbours, symmetrized): the position of the largest gap among the smallest
    eigenvalues of the normalized Laplacian. Unlike a distance threshold it does not move with the room: in a
    reverberant room every voice's pieces spread further apart, but the voices still form separate blocks."""
    n = len(embs)
    if n < 3:
        return n
    aff = np.clip(embs @ embs.T, 0.0, 1.0)
    m = max(2, int(np.ceil(keep * n)))
    pruned = np.zeros_like(aff)
    idx = np.argsort(-aff, axis=1)[:, :m]
    np.put_along_axis(pruned, idx, np.take_along_axis(aff, idx, axis=1), axis=1)
    aff = 0.5 * (pruned + pruned.T)
    deg = aff.sum(axis=1)
    d = 1.0 / np.sqrt(np.maximum(deg, 1e-9))
    lap = np.eye(n) - d[:, None] * aff * d[None, :]
    ev = np.sort(np.linalg.eigvalsh(lap))[: min(n - 1, max_k + 1)]
    return int(np.argmax(np.diff(ev))) + 1


def _centroids(embs: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> dict[int, np.ndarray]:
    return {
        int(k): l2_normalize((embs[labels == k] * weights[labels == k, None]).sum(axis=0))
        for k in np.unique(labels)
    }


def assign_to_clusters(embs: np.ndarray, labels: np.ndarray, reliable: np.ndarray, durations: np.ndarray,
                        cfg: DiarizationConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each piece that did not build a cluster (``~reliable``) is given one as ``cfg.assign`` says (``labels`` is
    filled in place). Returns the cluster keys, their centroids and every piece's cosine similarity to each."""
    if cfg.assign not in ("auto", "centroid", "logistic"):
        raise ValueError(f"DiarizationConfig.assign: {cfg.assign!r} is not 'auto', 'centroid' or 'logistic'")
    cents = _centroids(embs[reliable], labels[reliable], durations[reliable])
    keys = np.array(sorted(cents))
    cmat = np.stack([cents[k] for k in keys])
    sims = embs @ cmat.T
    rest = ~reliable
    if not rest.any():
        return keys, cmat, sims
    logistic = cfg.assign == "logistic" or (cfg.assign == "auto" and rest.sum() > reliable.sum())
    if logistic and len(keys) > 1:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=cfg.assign_c, max_iter=3000)
        model.fit(embs[reliable], labels[reliable], sample_weight=durations[reliable])
        labels[rest] = model.predict(embs[rest])
    else:
        labels[rest] = keys[np.argmax(sims[rest], axis=1)]
    return keys, cmat, sims


def _fold_small_clusters(embs: np.ndarray, labels: np.ndarray, durations: np.ndarray, min_s: float,
                         tags: list[str | None] | None = None) -> np.ndarray:
    """Fold clusters with less than ``min_s`` of speech into the nearest cluster that has enough. With ``tags``
    (subtitle speaker tags, one per piece), a small cluster whose pieces carry a tag is folded only into a cluster
    that carries no other tag, and stays a voice of its own when there is none: the subtitles named a speaker
    the episode hears for a few seconds (a mailman at the door), not a split of another one."""
    labels = labels.copy()
    totals = {int(k): float(durations[labels == k].sum()) for k in np.unique(labels)}
    big = [k for k, v in totals.items() if v >= min_s]
    if not big:
        return labels
    named = {int(k): set() for k in totals}
    for lab, tag in zip(labels, tags or []):
        if tag:
            named[int(lab)].add(tag)
    cents = _centroids(embs, labels, durations)
    small = {k for k, v in totals.items() if v < min_s}
    while small:  # the surest fold first: a tag it brings can rule out a later one
        best = None
        for k in small:
            for b in big:
                if not named[k] or not named[b] or named[b] <= named[k]:
                    sim = float(cents[k] @ cents[b])
                    if best is None or sim > best[0]:
                        best = (sim, k, b)
        if best is None:  # each small cluster left carries a name no large one shares: a voice of its own
            break
        _, k, b = best
        labels[labels == k] = b
        named[b] |= named[k]
        small.discard(k)
    return labels


def _mark_overlaps(turns: list[Turn], cue_spans: np.ndarray, min_overlap_s: float) -> list[Turn]:
    """Overlapped speech where two subtitle cues overlap in time and the speech under them differs in speaker:
    the earlier turn is extended over the overlap and both are flagged."""
    if len(cue_spans) < 2 or not turns:
        return turns
    spans = cue_spans[np.argsort(cue_spans[:, 0])]
    for (s1, e1), (s2, e2) in zip(spans[:-1], spans[1:]):
        if e1 - s2 < min_overlap_s:
            continue
        first = _turn_at(turns, (s1 + s2) / 2) or _turn_at(turns, s1 + 0.05)
        second = _turn_at(turns, min(e2, e1 + 0.2))
        if first is None or second is None or first is second or first.speaker == second.speaker:
            continue
        first.end = max(first.end, min(e1, second.end))
        first.overlap = second.overlap = True
    return turns


def add_overlap_speakers(turns: list[Turn], regions: np.ndarray, cfg: DiarizationConfig,
                         second_choice=None) -> list[Turn]:
    """Give each detected overlap region its two speakers. Where turns of two speakers already meet inside the
    region (an interruption cut at the change point), both are stretched over it; where one speaker's turn covers
    it, a turn of a second speaker is added: the nearest other speaker within ``overlap_neighbour_s``, else
    ``second_choice(start, end, main)`` (a speaker label or None). Every turn touching a region is flagged."""
    turns = sorted(turns, key=lambda t: t.start)
    added: list[Turn] = []
    for s, e in np.asarray(regions, dtype=float).reshape(-1, 2):
        inside = [t for t in turns if t.end > s and t.start < e]
        if not inside:
            continue
        cover: dict[str, float] = {}
        for t in inside:
            cover[t.speaker] = cover.get(t.speaker, 0.0) + min(t.end, e) - max(t.start, s)
        main = max(cover, key=cover.get)
        if len(cover) >= 2:
            second = sorted((k for k in cover if k != main), key=cover.get)[-1]
            for spk in (main, second):
                mine = [t for t in inside if t.speaker == spk]
                mine[0].start, mine[-1].end = min(mine[0].start, s), max(mine[-1].end, e)
                for t in mine:
                    t.overlap = True
            continue
        near = [(max(t.start - e, s - t.end, 0.0), t.speaker) for t in turns
                if t.speaker != main and t.start < e + cfg.overlap_neighbour_s and t.end > s - cfg.overlap_neighbour_s]
        second = min(near)[1] if near else (second_choice(s, e, main) if second_choice else None)
        if second is None:
            continue
        for t in inside:
            t.overlap = True
        added.append(Turn(float(s), float(e), second, overlap=True, confidence=0.0))
    return sorted(turns + added, key=lambda t: (t.start, t.end))


def _piece_tags(pieces: list[tuple[float, float]], cue_spans: np.ndarray, cue_tags: list[str | None]) -> list:
    """The speaker tag of the cue that covers most of each piece (None when that cue has no tag)."""
    out = []
    for s, e in pieces:
        ov = np.minimum(cue_spans[:, 1], e) - np.maximum(cue_spans[:, 0], s)
        k = int(np.argmax(ov)) if len(ov) else -1
        out.append(cue_tags[k] if k >= 0 and ov[k] > 0.5 * (e - s) else None)
    return out


def _turn_at(turns: list[Turn], t: float) -> Turn | None:
    for turn in turns:
        if turn.start <= t < turn.end:
            return turn
    return None


def diarize(
    wav: np.ndarray,
    speech: np.ndarray,
    embedder: SpeakerEmbedder,
    *,
    cue_spans: np.ndarray | None = None,
    cue_tags: list[str | None] | None = None,
    overlap: np.ndarray | None = None,
    config: DiarizationConfig = DiarizationConfig(),
) -> list[Turn]:
    """Speaker turns of one episode. ``speech``: (n, 2) VAD regions; ``cue_spans``: (m, 2) subtitle cues already
    synchronized to the audio (or None); ``cue_tags``: the speaker tag of each single-speaker cue (or None);
    ``overlap``: (k, 2) overlapped-speech regions detected in the audio (or None), each given two speakers."""
    cfg = config
    speech = np.asarray(speech, dtype=float).reshape(-1, 2)
    cue_spans = np.zeros((0, 2)) if cue_spans is None else np.asarray(cue_spans, dtype=float).reshape(-1, 2)
    cuts = cue_spans[:, 0]
    if overlap is not None and len(overlap):  # overlapped stretches become pieces of their own
        cuts = np.r_[cuts, np.asarray(overlap, dtype=float).reshape(-1, 2).ravel()]
    pieces = split_at(speech, cuts, cfg.min_piece_s)
    refined = []
    for s, e in pieces:
        refined += split_at(np.array([[s, e]]), np.array(change_points(wav, s, e, embedder, cfg)), cfg.min_piece_s)
    pieces = [(s, e) for s, e in refined if e - s >= 0.05]
    if not pieces:
        return []
    embs = embedder.embed_many([cut(wav, s, e) for s, e in pieces])
    durations = np.array([e - s for s, e in pieces])
    reliable = durations >= (cfg.min_cluster_piece_s if len(cue_spans) else cfg.min_cluster_piece_uncued_s)
    if overlap is not None and len(overlap):
        # a piece that is mostly overlapped speech has a mixed embedding: it joins a cluster, never builds one
        ov = np.asarray(overlap, dtype=float).reshape(-1, 2)
        mixed = np.array([np.clip(np.minimum(ov[:, 1], e) - np.maximum(ov[:, 0], s), 0, None).sum() for s, e in pieces])
        if (reliable & (mixed < 0.5 * durations)).any():
            reliable &= mixed < 0.5 * durations
    if not reliable.any():
        reliable = durations >= np.median(durations)
    tags = _piece_tags(pieces, cue_spans, cue_tags) if cue_tags is not None else None
    labels = np.full(len(pieces), -1)
    labels[reliable] = cluster_embeddings(embs[reliable], cfg.cluster_threshold,
                                          [tags[i] for i in np.flatnonzero(reliable)] if tags else None,
                                          n_clusters=cfg.n_clusters if not len(cue_spans) else "threshold",
                                          same_tag_scale=cfg.same_tag_scale, join_tagged=cfg.join_tagged,
                                          tag_min_count=cfg.tag_min_count, split_tagged=cfg.split_tagged,
                                          split_min_tags=cfg.split_min_tags, split_min_share=cfg.split_min_share)
    min_s = min(cfg.min_cluster_s, cfg.min_cluster_share * float(durations.sum()))
    if min_s > 0:
        labels[reliable] = _fold_small_clusters(embs[reliable], labels[reliable], durations[reliable], min_s,
                                                [tags[i] for i in np.flatnonzero(reliable)] if tags else None)
    keys, cmat, sims = assign_to_clusters(embs, labels, reliable, durations, cfg)
    # name speakers by order of first appearance: SPK_00, SPK_01, ...
    order = {}
    for lab in labels[np.argsort([s for s, _ in pieces])]:
        order.setdefault(int(lab), f"SPK_{len(order):02d}")
    turns: list[Turn] = []
    for (s, e), lab, sim in zip(pieces, labels, sims[np.arange(len(pieces)), np.searchsorted(keys, labels)]):
        spk = order[int(lab)]
        if turns and turns[-1].speaker == spk and s - turns[-1].end <= cfg.merge_gap_s:
            prev = turns[-1]
            w = prev.duration
            prev.confidence = float((prev.confidence * w + sim * (e - s)) / (w + e - s))
            prev.end = e
        else:
            turns.append(Turn(s, e, spk, confidence=float(sim)))
    turns = _mark_overlaps(turns, cue_spans, cfg.min_overlap_s)
    if overlap is not None and len(overlap):
        name_of = {order[int(k)]: i for i, k in enumerate(keys)}

        def second_choice(s: float, e: float, main: str) -> str | None:
            if e - s < 0.3 or len(keys) < 2:
                return None
            sim = cmat @ embedder.embed(cut(wav, s, e))
            sim[name_of[main]] = -np.inf
            return {i: n for n, i in name_of.items()}[int(np.argmax(sim))]

        turns = add_overlap_speakers(turns, overlap, cfg, second_choice)
    return turns


# pyannote backend ------------------------------------------------------------------------------------------------
class PyannoteDiarizer:
    """A pyannote.audio diarization pipeline loaded from a local directory (its ``config.yaml`` and the model
    checkpoints it references). No hub access: the directory must be complete."""

    def __init__(self, pipeline_dir: str | Path, device: str = "cpu"):
        import torch
        import yaml
        from pyannote.audio import Pipeline
        from pyannote.audio.core.pipeline import expand_subfolders
        from pyannote.audio.core.plda import PLDA
        from pyannote.audio.telemetry import set_telemetry_metrics

        set_telemetry_metrics(False)  # pyannote 4 reports model loads and audio durations to a remote endpoint
        pipeline_dir = Path(pipeline_dir).resolve()
        if not (pipeline_dir / "config.yaml").is_file():
            raise FileNotFoundError(f"{pipeline_dir}: no config.yaml: not a pyannote pipeline directory")
        config = yaml.safe_load((pipeline_dir / "config.yaml").read_text(encoding="utf-8"))
        expand_subfolders(config, pipeline_dir)
        params = config["pipeline"].setdefault("params", {})
        if params.get("clustering", "VBxClustering") != "VBxClustering":
            # speaker-diarization-3.1 style (agglomerative clustering) never uses a PLDA, but pyannote 4 loads
            # one from the hub by default: give it an unused placeholder so the directory loads offline
            params.setdefault("plda", PLDA.__new__(PLDA))
        self.pipeline = Pipeline.from_pretrained(config)
        if self.pipeline is None:
            raise RuntimeError(f"{pipeline_dir}: pyannote could not load the pipeline")
        self.pipeline.to(torch.device(device))

    def __call__(self, wav: np.ndarray, *, num_speakers: int | None = None) -> list[Turn]:
        import torch

        inputs = {"waveform": torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))[None], "sample_rate": SAMPLE_RATE}
        kwargs = {"num_speakers": num_speakers} if num_speakers else {}
        out = self.pipeline(inputs, **kwargs)
        annotation = getattr(out, "speaker_diarization", out)
        duration = len(wav) / SAMPLE_RATE  # pyannote pads short clips to its window: never report past the end
        turns = [t for t in annotation_to_turns(annotation) if t.start < duration]
        for t in turns:
            t.end = min(t.end, duration)
        return [t for t in turns if t.end > t.start]


def annotation_to_turns(annotation) -> list[Turn]:
    """pyannote ``Annotation`` → turns, with overlapping turns of different speakers flagged."""
    turns = [Turn(float(seg.start), float(seg.end), str(label)) for seg, _, label in annotation.itertracks(yield_label=True)]
    turns.sort(key=lambda t: (t.start, t.end))
    for i, a in enumerate(turns):
        for b in turns[i + 1 :]:
            if b.start >= a.end:
                break
            if b.speaker != a.speaker:
                a.overlap = b.overlap = True
    return turns


def turns_to_annotation(turns: list[Turn], uri: str = "episode"):
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for i, t in enumerate(turns):
        ann[Segment(t.start, t.end), i] = t.speaker
    return ann


def write_rttm(turns: list[Turn], path: str | Path, uri: str) -> None:
    from audiorole.io import write_text_atomic

    lines = [
        f"SPEAKER {uri} 1 {t.start:.3f} {t.duration:.3f} <NA> <NA> {t.speaker} <NA> <NA>" for t in turns
    ]
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
