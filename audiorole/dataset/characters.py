"""Characters: recurring voices across all episodes of a series, and their names.

Method (justified by measurement on the demo series, see the issue notes):

0. **The series' own speaker space.** Where the subtitles name speakers (two or more names with a few tagged lines
   each), the embeddings are first mapped into the discriminant space those tagged lines define
   (``tag_projection``: within-character variation whitened, directions weighted by how much the named characters
   differ along them). Clustering, refinement and the attribution confidences work in that space; the stored voice
   centroids stay in the encoder's space (carry-over and enrollment compare them with raw embeddings).
1. **Units.** Each episode's diarization already pooled evidence per episode-local speaker (subtitle tags as
   constraints, change points). Its kept segments' mean embedding is a far steadier voice print than any single
   utterance, so the units clustered across episodes are the ``(episode, local speaker)`` groups. Without such
   groups (or past ``max_units`` of them) the units are k-means micro-clusters of the segment embeddings.
2. **Voices.** Agglomerative clustering of the unit centroids (cosine, average linkage, a distance threshold:
   no number of voices to guess), with the units' subtitle tags as constraints: the units one name names are one
   voice, and voices with different names never merge (a name is evidence distances cannot outweigh: real actors
   of similar timbre otherwise merge across episodes). At most ``max_units`` units, so this step is bounded.
3. **Refinement.** Diarization is not perfectly pure (a minor voice folded into a main one in one episode), so
   every kept segment is then assigned to its nearest voice centroid, a few k-means steps from the clustering
   (``refine_min_gain`` > 0: only to a voice that much nearer), among the voices of its own episode
   (``refine_within_episode``): a voice none of whose units is in the episode is not a speaker of it, however near
   (Amazon Queen recipe: Sparky and Skip, one timbre, traded 76 lines across episodes they never share) — unless
   the episode's own subtitle tags name a character the voice's tagged lines name: then the character speaks in
   that episode although diarization folded them into someone else's unit there. Measured with
   ``benchmarks/character_quality.py`` (attribution / purity, before → after): style demo seed 2 94.3% / 0.976 →
   97.6% / 0.992; seed 1 87.2% / 0.947 → 84.0% / 0.987 (Walt's lines leave Theo's voice, but Theo's own voice of two
   episodes is left unnamed: enrollment names one voice per clip); seed 0 and the pool demo unchanged; the recipes
   (real actors) Amazon Queen 96.1% / 0.974 → 96.7% / 0.978, Fish Fillets 95.8% / 0.961 → 96.5% / 0.965. Where diarization is good, free reassignment
   scatters a lead's lines into other voices, and a gain of 0.15 is better; where it is poor, the units mix
   characters and free reassignment is what sorts them: no one gain serves both (``benchmarks/character_quality.py``
   measures it). Linear in the number of segments (chunked matrix products), so 1M segments cost seconds.
   A line whose own cue names a voice (``pin_to_tags``) is that voice's, nearest or not: its attribution is
   ``subtitle_tag``. On the recipes none of the 63 kept lines the voices had given another character than their own
   tag names (six builds) was given its speaker's name (41 wrong, 22 "other" for a guest who is no main character),
   and every line given its tag's name was right: Amazon Queen (4 episodes, half the lines
   named) 94.6% / 0.960 → 95.7% / 0.967, Fish Fillets 95.4% / 0.954 → 96.1% / 0.960; at one line in four named +0.1
   and +0.3 points, at one in ten unchanged (the wrong tagged lines left name guests no voice stands for); the
   demo unchanged (97.7%).
4. **Names**, strongest evidence first: the curator mapping file (``characters.yaml`` beside ``series.yaml``),
   enrollment clips in ``series.yaml``, subtitle speaker tags (through the aliases in ``series.yaml``). Voices
   given one name are one character. Unnamed voices with less speech than ``min_character_s`` (or than
   ``min_character_share`` of the series) are minor: they are grouped as ``other``. A voice the series' own
   metadata names (an enrollment clip, or its subtitle tags through the aliases the curator declared) needs only
   ``min_named_character_s``: the size floor guards against promoting a split or a stray cluster, and the name is
   independent evidence that the voice is a character (held-out demo seed 2: Sam, 26 s of speech, 4 SAM tags
   of 5, was "other" under the 30 s floor). A curator-named voice is always a character.

Voice ids (``v`` + 6 hex) are carried over from the previous materialization by centroid similarity, so a curator
mapping keeps pointing at the same voice when episodes are added or the series is re-materialized.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml

from audiorole.discovery import SeriesSpec, slug
from audiorole.errors import InputError

MAPPING_FILE = "characters.yaml"
OTHER = "other"

VOICE_SCHEMA = pa.schema(
    [
        ("series_key", pa.string()), ("voice_id", pa.string()), ("character", pa.string()),
        ("character_key", pa.string()),  # slug of the character: the shard partition is "<series>/<character_key>"
        ("role", pa.string()),  # "main" | "minor"
        ("name_source", pa.string()),  # "curator" | "enrollment" | "subtitle_tags" | "none"
        ("suggested_name", pa.string()),  # the name the evidence gives, also for minor voices
        ("n_segments", pa.int64()), ("speech_s", pa.float64()), ("n_episodes", pa.int32()),
        ("mean_similarity", pa.float32()), ("tag_votes", pa.string()),  # JSON {tag: count}
        ("centroid", pa.list_(pa.float32())),
    ]
)

SEGMENT_CHARACTER_SCHEMA = pa.schema(
    [
        ("series_key", pa.string()), ("episode_key", pa.string()), ("segment_id", pa.string()),
        ("voice_id", pa.string()), ("character", pa.string()),
        ("character_similarity", pa.float32()),  # cosine similarity to the voice centroid (kept segments)
        ("character_margin", pa.float32()),  # best minus second-best voice similarity: the attribution confidence
        # "subtitle_tag" (a kept segment whose cue names its voice) | "embedding" (other kept segments: the nearest
        # voice) | "diarization" (a segment not kept: via its episode speaker)
        ("attribution", pa.string()),
    ]
)


@dataclass(frozen=True)
class CharacterConfig:
    """Thresholds of the characters stage, with their defaults (for resemblyzer embeddings)."""

    cluster_threshold: float = 0.12  # cosine distance (average linkage) under which unit voices are one voice
    refine_iterations: int = 3  # nearest-centroid passes over the segments after clustering
    max_units: int = 3000  # bound of the clustering step; more units are reduced by k-means first
    min_character_s: float = 30.0  # an unnamed voice with less kept speech is minor ("other")...
    min_character_share: float = 0.02  # ...and so is one under this share of the series' kept speech
    min_named_character_s: float = 10.0  # a voice named by enrollment or subtitle tags needs only this much
    tag_min_share: float = 0.5  # a subtitle tag names a voice when it is this share of the voice's tags...
    tag_min_count: int = 2  # ...and appears at least this often
    enrollment_min_similarity: float = 0.75  # enrollment clip to voice centroid, cosine
    carry_over_similarity: float = 0.9  # a voice keeps the id of the previous voice this similar
    confident_margin: float = 0.05  # attribution margin above which a segment's character is "confident"
    merge_threshold: float = 0.15  # voices whose pooled centroids are this close merge (names permitting); 0: off
    refine_within_episode: bool = True  # refinement moves a segment only among the voices of its own episode
    refine_min_gain: float = 0.0  # > 0: refinement moves a segment only to a voice this much nearer (cosine)
    tag_constraints: bool = True  # units named by their subtitle tags: one name one voice, two names never merge
    tag_projection: bool = True  # cluster in the discriminant space the series' own tagged lines define
    projection_shrinkage: float = 0.5  # LDA covariance shrinkage (0..1): few tagged lines per name in a small series
    projection_min_lines: int = 3  # a name needs this many tagged kept lines to be a class of the projection
    projection_floor: float = 0.2  # weight kept by the directions along which the named characters do not differ
    #: a kept line whose own subtitle tag names a voice (that voice's tags name it, as they name voices:
    #: ``tag_min_count`` and ``tag_min_share``) belongs to that voice, whatever voice it sounds nearest (``pin_to_tags``)
    pin_tagged_lines: bool = True


@dataclass
class VoiceClustering:
    labels: np.ndarray  # (n,) voice index per embedding
    centroids: np.ndarray  # (k, d) unit-norm
    similarity: np.ndarray  # (n,) cosine to the own centroid
    margin: np.ndarray  # (n,) best minus second best (1.0 when there is one voice)
    #: (n,) the line's own subtitle tag decided its voice (``pin_to_tags``); None: no line was
    tag_pinned: np.ndarray | None = None


# clustering ---------------------------------------------------------------------------------------------------
def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def micro_clusters(x: np.ndarray, k: int, seed: int = 0, fit_on: int = 200_000) -> np.ndarray:
    """k-means micro-clusters of unit-norm rows. Labels (n,).

    Mini-batch k-means (random init: k-means++ costs O(n·k) Python-level passes) is fitted on a random sample of
    at most ``fit_on`` rows, centres that captured (almost) nothing are dropped, then every row goes to its nearest
    centre: time and memory stay linear in n."""
    from sklearn.cluster import MiniBatchKMeans

    k = max(1, min(k, len(x)))
    rng = np.random.default_rng(seed)
    sample = x if len(x) <= fit_on else x[np.sort(rng.choice(len(x), fit_on, replace=False))]
    km = MiniBatchKMeans(n_clusters=k, init="random", batch_size=4096, n_init=1, max_iter=5, max_no_improvement=3,
                         random_state=seed, compute_labels=False, reassignment_ratio=0.05)
    km.fit(sample)
    # in high dimension a centre left on its initial data point attracts that point only: drop such centres
    centres = normalize(km.cluster_centers_)
    counts = np.bincount(nearest(sample, centres)[0], minlength=len(centres))
    centres = centres[counts >= max(2, 0.1 * len(sample) / k)]
    return nearest(x, centres)[0]


def unit_centroids(x: np.ndarray, units: np.ndarray, n_units: int, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm mean embedding and size of each unit (summed in chunks: no full-size temporary)."""
    sums = np.zeros((n_units, x.shape[1]), dtype=np.float64)
    for i in range(0, len(x), chunk):
        np.add.at(sums, units[i:i + chunk], x[i:i + chunk])
    counts = np.bincount(units, minlength=n_units)
    return normalize(sums), counts


def agglomerate(centroids: np.ndarray, threshold: float) -> np.ndarray:
    """Average-linkage cosine clustering with a distance threshold. Labels (m,)."""
    if len(centroids) < 2:
        return np.zeros(len(centroids), dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    ahc = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold)
    return ahc.fit_predict(centroids)


def constrained_agglomerate(centroids: np.ndarray, names: list[str | None], threshold: float) -> np.ndarray:
    """Average-linkage cosine clustering (as ``agglomerate``) where the units' names are constraints: the units one
    name names are one voice from the start, and two voices with different names never merge. Labels (m,).

    Why: a voice is a character, and a subtitle tag naming an episode's speaker is independent evidence of who it
    is. Left to distances alone, two actors of similar timbre merge across episodes (``benchmarks/character_quality.py``
    on the Amazon Queen recipe: Bud's 166 s under 33 BUD tags went to Joe), and the merged voice is then named by a
    majority vote the larger character always wins."""
    m = len(centroids)
    if m < 2 or not any(names):
        return agglomerate(centroids, threshold)
    ids = {n: i for i, n in enumerate(sorted({n for n in names if n is not None}))}
    nid = np.array([ids[n] if n is not None else -1 for n in names])
    dist = 1.0 - np.clip(centroids @ centroids.T, -1.0, 1.0).astype(np.float64)
    dist[(nid[:, None] >= 0) & (nid[None, :] >= 0) & (nid[:, None] != nid[None, :])] = np.inf
    np.fill_diagonal(dist, np.inf)
    size, parent = np.ones(m), np.arange(m)

    def merge(a: int, b: int) -> None:
        row = (size[a] * dist[a] + size[b] * dist[b]) / (size[a] + size[b])  # Lance–Williams, average linkage
        dist[a, :], dist[:, a] = row, row
        dist[b, :], dist[:, b] = np.inf, np.inf
        dist[a, a] = np.inf
        size[a] += size[b]
        parent[parent == b] = a
        if nid[a] < 0 and nid[b] >= 0:  # the merged voice takes the name: now it clashes with the other names
            nid[a] = nid[b]
            clash = (nid >= 0) & (nid != nid[a])
            dist[a, clash], dist[clash, a] = np.inf, np.inf

    for name_id in range(len(ids)):
        units = np.flatnonzero(nid == name_id)
        for u in units[1:]:
            merge(int(units[0]), int(u))
    while True:
        k = int(np.argmin(dist))
        a, b = divmod(k, m)
        if not np.isfinite(dist[a, b]) or dist[a, b] > threshold:
            break
        merge(a, b)
    _, labels = np.unique(parent, return_inverse=True)
    return labels


def merge_close_voices(x: np.ndarray, labels: np.ndarray, voice_names: list[str | None], threshold: float
                       ) -> np.ndarray:
    """Merge voices whose centroids (the mean of all their segments) lie within ``threshold`` (cosine distance),
    closest pair first, never two differently named voices. Labels (n,).

    Average linkage over units is strict where one character's units vary (a short episode, another room): its
    units in one episode stay a voice of their own, although their pooled centroid is next to the character's. The
    refinement cannot repair that when it keeps a line among its episode's voices."""
    names = list(voice_names)
    labels = labels.copy()
    while True:
        present, labels = np.unique(labels, return_inverse=True)
        names = [names[p] for p in present]
        if len(present) < 2:
            return labels
        cents, _ = unit_centroids(x, labels, len(present))
        dist = 1.0 - (cents @ cents.T).astype(np.float64)
        named = np.array([n is not None for n in names])
        tag = np.array([n or "" for n in names], dtype=object)
        dist[named[:, None] & named[None, :] & (tag[:, None] != tag[None, :])] = np.inf
        np.fill_diagonal(dist, np.inf)
        a, b = divmod(int(np.argmin(dist)), len(present))
        if dist[a, b] > threshold:
            return labels
        labels[labels == b] = a
        names[a] = names[a] or names[b]


def nearest(x: np.ndarray, centroids: np.ndarray, chunk: int = 16384, allowed: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest centroid of every row by cosine: (labels, similarity, margin over the runner-up), chunked.
    ``allowed``: optional (n, k) mask of the centroids each row may take."""
    n = len(x)
    labels = np.empty(n, dtype=np.int64)
    best = np.empty(n, dtype=np.float32)
    margin = np.ones(n, dtype=np.float32)
    for i in range(0, n, chunk):
        s = x[i:i + chunk] @ centroids.T
        if allowed is not None:
            s = np.where(allowed[i:i + chunk], s, np.float32(-2.0))
        lab = np.argmax(s, axis=1)
        labels[i:i + chunk] = lab
        best[i:i + chunk] = s[np.arange(len(s)), lab]
        if centroids.shape[0] > 1:
            second = np.partition(s, -2, axis=1)[:, -2]
            margin[i:i + chunk] = best[i:i + chunk] - second
    return labels, best, margin


def tag_named_voices(labels: np.ndarray, line_names: list[str | None], cfg: CharacterConfig) -> dict[str, list[int]]:
    """Name -> the voices its lines' tags name, as tags name voices (``majority_tag``)."""
    votes: dict[int, Counter] = defaultdict(Counter)
    for v, name in zip(labels, line_names):
        if name:
            votes[int(v)][name] += 1
    out: dict[str, list[int]] = {}
    for v, c in sorted(votes.items()):
        name = majority_tag(c, cfg)
        if name is not None:
            out.setdefault(name, []).append(v)
    return out


def pin_to_tags(x: np.ndarray, centroids: np.ndarray, labels: np.ndarray, line_names: list[str | None],
                cfg: CharacterConfig) -> tuple[np.ndarray, np.ndarray]:
    """A line whose own subtitle tag names a voice goes to that voice (the nearest, where several carry the name),
    wherever its embedding lies: (labels, pinned mask). The name on a cue is the subtitler's word for who speaks it
    (measured: the module docstring, step 3). A tag that names no voice (a guest too few tags name) leaves the line
    where the voices put it."""
    voices = tag_named_voices(labels, line_names, cfg)
    pinned = np.array([bool(n and n in voices) for n in line_names], bool)
    out = labels.copy()
    for i in np.flatnonzero(pinned):
        cand = voices[line_names[i]]
        if out[i] not in cand:
            out[i] = cand[int(np.argmax(centroids[cand] @ x[i]))]
    return out, pinned


def cluster_voices(
    embeddings: np.ndarray, units: np.ndarray | None = None, config: CharacterConfig = CharacterConfig(),
    seed: int = 0, unit_names: list[str | None] | None = None, episode_of: np.ndarray | None = None,
    line_names: list[str | None] | None = None,
) -> VoiceClustering:
    """Cluster segment embeddings into voices (see the module docstring). ``units``: optional (n,) int group per
    segment (e.g. its episode-local speaker); None or more than ``max_units`` groups → k-means micro-clusters.
    ``unit_names``: the name the evidence gives each unit (by unit number), constraints of the clustering.
    ``episode_of``: each segment's episode (refinement stays among the voices of the episode); ``line_names``: the
    name each segment's own subtitle tag gives it, which lets a voice into an episode whose tags name it and, with
    ``pin_tagged_lines``, puts the segment in the voice its tag names (``pin_to_tags``)."""
    x = np.asarray(embeddings, dtype=np.float32)
    if len(x) and not np.allclose(np.linalg.norm(x[:1000], axis=1), 1.0, atol=1e-3):
        x = normalize(x)  # a copy; unit-norm input (the usual case) is used as it is
    n = len(x)
    if n == 0:
        return VoiceClustering(np.zeros(0, np.int64), np.zeros((0, x.shape[1] if x.ndim == 2 else 0), np.float32),
                               np.zeros(0, np.float32), np.zeros(0, np.float32))
    if units is None or len(np.unique(units)) > config.max_units:
        units, unit_names = micro_clusters(x, min(config.max_units, max(1, n // 50)), seed), None
    present, units = np.unique(units, return_inverse=True)
    cents, _ = unit_centroids(x, units, int(units.max()) + 1)
    names = [unit_names[u] for u in present] if unit_names is not None and config.tag_constraints else None
    unit_labels = constrained_agglomerate(cents, names, config.cluster_threshold) if names \
        else agglomerate(cents, config.cluster_threshold)
    labels = unit_labels[units]
    if config.merge_threshold > 0:
        voice_names = [next((n for n, v in zip(names or [], unit_labels) if v == k and n), None)
                       for k in range(int(unit_labels.max()) + 1)]
        labels = merge_close_voices(x, labels, voice_names, config.merge_threshold)
    episodes = None if episode_of is None else np.unique(episode_of, return_inverse=True)[1]

    def candidates(labels: np.ndarray, k: int) -> np.ndarray | None:
        if episodes is None or not config.refine_within_episode:
            return None
        allowed = np.zeros((int(episodes.max()) + 1, k), bool)
        allowed[episodes, labels] = True
        if line_names is not None:  # the episode's tags name a character none of its voices stands for
            votes: dict[int, Counter] = {}
            for v, name in zip(labels, line_names):
                if name:
                    votes.setdefault(int(v), Counter())[name] += 1
            main = {v: c.most_common(1)[0][0] for v, c in votes.items()}
            voices_of: dict[str, list[int]] = {}
            for v, name in main.items():
                voices_of.setdefault(name, []).append(v)
            tagged_in: dict[int, set[str]] = {}
            for e, name in zip(episodes, line_names):
                if name:
                    tagged_in.setdefault(int(e), set()).add(name)
            for e, names in tagged_in.items():
                present = {main.get(int(v)) for v in np.flatnonzero(allowed[e])}
                for name in names - present:
                    allowed[e, voices_of.get(name, [])] = True
        return allowed[episodes]

    pin = config.pin_tagged_lines and line_names is not None and any(line_names)

    def pinned_to_tags(new: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return pin_to_tags(x, centroids, new, line_names, config) if pin else (new, None)

    for _ in range(config.refine_iterations):
        _, labels = np.unique(labels, return_inverse=True)  # drop voices that lost every segment
        centroids, _ = unit_centroids(x, labels, int(labels.max()) + 1)
        new, sim, margin = nearest(x, centroids, allowed=candidates(labels, len(centroids)))
        if config.refine_min_gain > 0:  # a segment leaves its unit's voice only for a clearly nearer one
            own = np.einsum("ij,ij->i", x, centroids[labels])
            new = np.where(sim - own > config.refine_min_gain, new, labels)
        new, _ = pinned_to_tags(new, centroids)
        if np.array_equal(new, labels):
            break
        labels = new
    _, labels = np.unique(labels, return_inverse=True)
    centroids, _ = unit_centroids(x, labels, int(labels.max()) + 1)
    if config.refine_iterations and config.refine_min_gain <= 0:
        nearest_labels, sim, margin = nearest(x, centroids, allowed=candidates(labels, len(centroids)))
        labels, pinned = pinned_to_tags(nearest_labels, centroids)
        moved = np.flatnonzero(labels != nearest_labels)  # its tag's voice, against the nearest: a negative margin
        own = np.einsum("ij,ij->i", x[moved], centroids[labels[moved]])
        margin[moved], sim[moved] = own - sim[moved], own
        return VoiceClustering(labels, centroids, sim, margin, pinned)
    labels, pinned = pinned_to_tags(labels, centroids)
    # without refinement a segment stays with its unit's voice (or its tag's): its similarity to that voice, and its
    # margin over the best other one (negative where another voice is nearer)
    s = x @ centroids.T
    own = s[np.arange(n), labels]
    s[np.arange(n), labels] = -np.inf
    margin = own - s.max(axis=1) if centroids.shape[0] > 1 else np.ones(n, np.float32)
    return VoiceClustering(labels, centroids, own.astype(np.float32), margin.astype(np.float32), pinned)


@dataclass(frozen=True)
class TagProjection:
    """A linear map of speaker embeddings learned from the series' own tagged lines (see ``tag_projection``)."""
    mean: np.ndarray  # (d,)
    scalings: np.ndarray  # (d, d): whitening and discriminant weights
    classes: tuple[str, ...]
    n_lines: int  # tagged kept lines it was learned from

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return normalize((np.asarray(x, np.float64) - self.mean) @ self.scalings)


def tag_projection(x: np.ndarray, line_names: list[str | None], cfg: CharacterConfig) -> TagProjection | None:
    """A discriminant map learned from the series' own tagged lines: the subtitle tags are the labels. None with
    fewer than two names of ``projection_min_lines`` tagged lines (a series without tags keeps the raw space).

    The within-character covariance (rooms, takes, emotion; shrunk toward its mean variance by
    ``projection_shrinkage``, since a small series has few tagged lines per name) is whitened, and each direction
    is weighted by how much the named characters differ along it (``λ / (1 + λ)`` of the generalized eigenproblem
    of between- and within-character scatter, the linear discriminant analysis). Directions along which the named
    characters do not differ keep ``projection_floor`` of their weight, not zero: an untagged actor may differ from
    the others exactly there (two names give LDA one dimension, in which every other voice would collapse).

    Why: a general speaker encoder places some of a series' actors closer together than one actor's lines spread
    (Amazon Queen recipe: the voice centroids of Sparky and Skip are 0.036 apart in resemblyzer cosine distance,
    against the 0.12 linkage threshold that one character's own episodes need; ``benchmarks/speaker_encoders.py``
    measures the same/different-speaker AUC, 0.83 there). About half of a subtitled series' lines carry the
    speaker's name; learning from them what separates *these* voices is the series-specific speaker model a curator
    would otherwise have to train."""
    import scipy.linalg

    names = np.array([n or "" for n in line_names], dtype=object)
    counts = Counter(n for n in names if n)
    classes = sorted(n for n, c in counts.items() if c >= cfg.projection_min_lines)
    if len(classes) < 2:
        return None
    x = np.asarray(x, np.float64)
    train = np.isin(names, classes)
    xt, yt = x[train], names[train]
    means = np.stack([xt[yt == c].mean(axis=0) for c in classes])
    within = sum(np.cov(xt[yt == c], rowvar=False, bias=True) * (yt == c).sum() for c in classes) / len(xt)
    within = (1 - cfg.projection_shrinkage) * within + cfg.projection_shrinkage * np.trace(within) / len(within) \
        * np.eye(len(within))
    weights = np.array([(yt == c).sum() for c in classes], np.float64) / len(xt)
    centred = means - weights @ means
    between = (centred * weights[:, None]).T @ centred
    evals, evecs = scipy.linalg.eigh(between, within)  # evecs.T @ within @ evecs = I
    gain = np.maximum(np.clip(evals, 0, None) / (1 + np.clip(evals, 0, None)), cfg.projection_floor)
    return TagProjection(x.mean(axis=0), evecs * np.sqrt(gain), tuple(classes), int(train.sum()))


def line_tag_names(kept: list[dict], aliases: dict[str, str]) -> list[str | None]:
    """The character name each kept line's own subtitle tag gives it (through the aliases), None when untagged."""
    return [aliases.get(s["speaker_tag"].strip().upper(), s["speaker_tag"].strip().title())
            if s.get("speaker_tag") else None for s in kept]


# curator mapping ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CuratorMapping:
    path: Path | None = None
    names: dict[str, str] = field(default_factory=dict)  # voice id -> character name
    other: frozenset[str] = frozenset()  # voice ids that are not a character

    @property
    def voice_ids(self) -> set[str]:
        return set(self.names) | set(self.other)


def load_mapping(path: Path) -> CuratorMapping:
    """Read the curator mapping (absent file: empty mapping). Malformed → InputError naming the file."""
    if not path.exists():
        return CuratorMapping()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(path, f"invalid curator mapping ({err})") from None
    if not isinstance(raw, dict) or set(raw) - {"names", "other"}:
        raise InputError(path, "curator mapping must be a mapping with 'names' (voice id: name) and 'other' (ids)")
    names = raw.get("names") or {}
    other = raw.get("other") or []
    if not isinstance(names, dict) or not all(isinstance(v, str) and v.strip() for v in names.values()):
        raise InputError(path, "'names' must map voice ids to non-empty character names")
    if not isinstance(other, list):
        raise InputError(path, "'other' must be a list of voice ids")
    both = set(map(str, names)) & set(map(str, other))
    if both:
        raise InputError(path, f"voice id both named and marked other: {sorted(both)[0]}")
    return CuratorMapping(path, {str(k): v.strip() for k, v in names.items()}, frozenset(map(str, other)))


def check_mapping(mapping: CuratorMapping, voice_ids: list[str]) -> None:
    unknown = sorted(mapping.voice_ids - set(voice_ids))
    if unknown:
        raise InputError(
            mapping.path,
            f"unknown voice id {unknown[0]!r} (this series has: {', '.join(sorted(voice_ids)) or 'no voices'}); "
            "voice ids are listed in the catalog view 'voices'",
        )


# naming -----------------------------------------------------------------------------------------------------
def tag_names(spec: SeriesSpec) -> dict[str, str]:
    """Subtitle tag (upper case) -> character name, from the names and aliases in series.yaml."""
    out = {}
    for ch in spec.characters:
        for alias in (ch.name, *ch.aliases):
            out[alias.strip().upper()] = ch.name
    return out


def majority_tag(votes: Counter, cfg: CharacterConfig) -> str | None:
    """The tag that names a group of lines: its most common tag, ``tag_min_count`` times and ``tag_min_share`` of
    its tags; None when no tag does."""
    if not votes:
        return None
    tag, n = votes.most_common(1)[0]
    return tag if n >= cfg.tag_min_count and n / sum(votes.values()) >= cfg.tag_min_share else None


def name_from_tags(votes: Counter, aliases: dict[str, str], cfg: CharacterConfig) -> str | None:
    tag = majority_tag(votes, cfg)
    return None if tag is None else aliases.get(tag.upper(), tag.strip().title())


def match_enrollment(enrolled: dict[str, np.ndarray], centroids: np.ndarray, min_sim: float) -> dict[int, str]:
    """One-to-one assignment of enrolled characters to voices (Hungarian, on cosine), above ``min_sim``."""
    if not enrolled or not len(centroids):
        return {}
    from scipy.optimize import linear_sum_assignment

    names = list(enrolled)
    sim = normalize(np.stack([enrolled[n] for n in names])) @ centroids.T
    rows, cols = linear_sum_assignment(-np.where(sim >= min_sim, sim, -1e3))  # a non-match must not pull others
    return {int(c): names[r] for r, c in zip(rows, cols) if sim[r, c] >= min_sim}


def voice_ids_for(centroids: np.ndarray, anchors: list[str], previous: dict[str, np.ndarray],
                  min_sim: float) -> list[str]:
    """Stable voice ids: the id of the most similar previous voice (one-to-one, best pairs first), else a hash
    of the voice's anchor segment (its first segment id)."""
    ids: list[str | None] = [None] * len(centroids)
    if previous and len(centroids):
        prev_ids = list(previous)
        sim = centroids @ normalize(np.stack([previous[p] for p in prev_ids])).T
        used = set()
        for flat in np.argsort(-sim, axis=None):
            i, j = divmod(int(flat), len(prev_ids))
            if sim[i, j] < min_sim:
                break
            if ids[i] is None and j not in used:
                ids[i] = prev_ids[j]
                used.add(j)
    taken = {i for i in ids if i}
    for i, anchor in enumerate(anchors):
        if ids[i] is None:
            h = hashlib.sha1(anchor.encode("utf-8")).hexdigest()
            vid = "v" + h[:6]
            k = 6
            while vid in taken:
                k += 1
                vid = "v" + h[:k]
            ids[i] = vid
            taken.add(vid)
    return ids  # type: ignore[return-value]


@dataclass
class CharacterResult:
    voices: list[dict]  # VOICE_SCHEMA rows
    segments: list[dict]  # SEGMENT_CHARACTER_SCHEMA rows
    warnings: list[str]
    projection: TagProjection | None = None  # the speaker space the tags taught, when they did


def assign_characters(
    segments: list[dict],
    spec: SeriesSpec,
    *,
    mapping: CuratorMapping = CuratorMapping(),
    enrolled: dict[str, np.ndarray] | None = None,
    previous: dict[str, np.ndarray] | None = None,
    config: CharacterConfig = CharacterConfig(),
) -> CharacterResult:
    """Voices and characters of one series from its segments (SEGMENT_SCHEMA dicts, all episodes)."""
    kept = kept_segments(segments, spec.key)
    if not kept:
        return CharacterResult([], [blank_segment_row(spec.key, s) for s in segments],
                               [f"{spec.key}: no kept segment with a speaker embedding: no voices"])
    units = episode_speaker_units(kept)
    raw = normalize(np.array([s["embedding"] for s in kept], np.float32))
    projection = tag_projection(raw, line_tag_names(kept, tag_names(spec)), config) if config.tag_projection else None
    clus = cluster_voices(projection(raw) if projection else raw, units, config,
                          unit_names=unit_tag_names(kept, units, tag_names(spec), config),
                          episode_of=np.array([s["episode_key"] for s in kept]),
                          line_names=line_tag_names(kept, tag_names(spec)))
    if projection is not None:  # voices are matched (carry-over, enrollment) and stored in the encoder's own space
        clus = replace(clus, centroids=unit_centroids(raw, clus.labels, len(clus.centroids))[0])
    members = [np.flatnonzero(clus.labels == v) for v in range(len(clus.centroids))]
    anchors = [min(kept[i]["segment_id"] for i in m) for m in members]
    ids = voice_ids_for(clus.centroids, anchors, previous or {}, config.carry_over_similarity)
    check_mapping(mapping, ids)
    votes = tag_votes(kept, members)
    names, sources, name_warnings = name_voices(ids, votes, clus.centroids, spec, mapping, enrolled or {}, config)
    dur = np.array([s["end_s"] - s["start_s"] for s in kept], dtype=float)
    speech = np.array([dur[m].sum() for m in members])
    characters, roles, role_warnings = decide_roles(ids, names, sources, speech, config)
    voices = voice_rows(spec.key, kept, clus, members, ids, names, sources, characters, roles, speech, votes)
    seg_rows = segment_rows(spec.key, segments, kept, clus, dur, ids, characters)
    return CharacterResult(voices, seg_rows, name_warnings + role_warnings + unnamed_main_warnings(voices), projection)


def kept_segments(segments: list[dict], series_key: str) -> list[dict]:
    """Kept segments with an embedding, all of one dimension: mixed embedders' vectors are not comparable."""
    kept = [s for s in segments if s["keep"] and s.get("embedding") is not None]
    dims = {len(s["embedding"]) for s in kept}
    if len(dims) > 1:
        raise ValueError(f"{series_key}: episodes were embedded with different speaker embedders (dimensions "
                         f"{sorted(dims)}); re-materialize the older episodes' aligned_segments")
    return kept


def episode_speaker_units(kept: list[dict]) -> np.ndarray:
    """Unit index per segment, one per (episode, local speaker): diarization already pooled that evidence."""
    unit_of: dict[tuple, int] = {}
    return np.array([unit_of.setdefault((s["episode_key"], s["speaker"]), len(unit_of)) for s in kept], np.int64)


def unit_tag_names(kept: list[dict], units: np.ndarray, aliases: dict[str, str], cfg: CharacterConfig
                   ) -> list[str | None]:
    """The name each unit's subtitle tags give it (by unit number), as they name a voice (``name_from_tags``)."""
    votes = [Counter() for _ in range(int(units.max()) + 1)] if len(units) else []
    for s, u in zip(kept, units):
        if s.get("speaker_tag"):
            votes[u][s["speaker_tag"].strip().upper()] += 1
    return [name_from_tags(v, aliases, cfg) for v in votes]


def tag_votes(kept: list[dict], members: list[np.ndarray]) -> list[Counter]:
    """Subtitle speaker tags (stripped, upper case) counted per voice: tags name voices by majority."""
    return [Counter(kept[i]["speaker_tag"].strip().upper() for i in m if kept[i].get("speaker_tag"))
            for m in members]


def name_voices(ids: list[str], votes: list[Counter], centroids: np.ndarray, spec: SeriesSpec,
                mapping: CuratorMapping, enrolled: dict[str, np.ndarray],
                cfg: CharacterConfig) -> tuple[list[str | None], list[str], list[str]]:
    """Name and name source per voice, strongest evidence first: curator mapping > enrollment > subtitle tags."""
    aliases = tag_names(spec)
    by_tags = [name_from_tags(v, aliases, cfg) for v in votes]
    by_enroll = match_enrollment(enrolled, centroids, cfg.enrollment_min_similarity)
    names: list[str | None] = []
    sources: list[str] = []
    warnings: list[str] = []
    for v, vid in enumerate(ids):
        if vid in mapping.names:
            names.append(mapping.names[vid]); sources.append("curator")
        elif vid in mapping.other:
            names.append(None); sources.append("curator")
        elif v in by_enroll:
            names.append(by_enroll[v]); sources.append("enrollment")
            if by_tags[v] and by_tags[v] != by_enroll[v]:
                warnings.append(f"voice {vid}: enrollment says {by_enroll[v]}, subtitle tags say {by_tags[v]}")
        elif by_tags[v]:
            names.append(by_tags[v]); sources.append("subtitle_tags")
        else:
            names.append(None); sources.append("none")
    return names, sources, warnings


def decide_roles(ids: list[str], names: list[str | None], sources: list[str], speech: np.ndarray,
                 cfg: CharacterConfig) -> tuple[list[str], list[str], list[str]]:
    """Character and role per voice: a character (voices of one name pooled) under its speech floor is 'other'."""
    total = float(speech.sum())
    char_speech: dict[str, float] = defaultdict(float)
    for v in range(len(ids)):
        char_speech[names[v] or ids[v]] += speech[v]
    minimum = max(cfg.min_character_s, cfg.min_character_share * total)
    named_minimum = min(minimum, cfg.min_named_character_s)  # a name is independent evidence of a character
    characters: list[str] = []
    roles: list[str] = []
    for v in range(len(ids)):
        curator_named = sources[v] == "curator" and names[v] is not None
        curator_other = sources[v] == "curator" and names[v] is None
        floor = named_minimum if names[v] else minimum
        main = not curator_other and (curator_named or char_speech[names[v] or ids[v]] >= floor)
        roles.append("main" if main else "minor")
        characters.append((names[v] or f"unnamed {ids[v]}") if main else OTHER)
    named = Counter(n for n, r in zip(names, roles) if n and r == "main")
    warnings = [f"{c} voices named {n!r} are merged into one character" for n, c in named.items() if c > 1]
    return characters, roles, warnings


def voice_rows(series_key: str, kept: list[dict], clus: VoiceClustering, members: list[np.ndarray], ids: list[str],
               names: list[str | None], sources: list[str], characters: list[str], roles: list[str],
               speech: np.ndarray, votes: list[Counter]) -> list[dict]:
    """VOICE_SCHEMA rows, most speech first (ties by voice id): the largest voices are the ones to review."""
    voices = []
    for v in range(len(ids)):
        m = members[v]
        voices.append({
            "series_key": series_key, "voice_id": ids[v], "character": characters[v],
            "character_key": slug(characters[v]), "role": roles[v], "name_source": sources[v],
            "suggested_name": names[v], "n_segments": int(len(m)), "speech_s": round(float(speech[v]), 3),
            "n_episodes": len({kept[i]["episode_key"] for i in m}),
            "mean_similarity": float(clus.similarity[m].mean()) if len(m) else None,
            "tag_votes": json.dumps(dict(votes[v].most_common()), sort_keys=False),
            "centroid": [float(x) for x in clus.centroids[v]],
        })
    voices.sort(key=lambda r: (-r["speech_s"], r["voice_id"]))
    return voices


def blank_segment_row(series_key: str, s: dict) -> dict:
    """SEGMENT_CHARACTER_SCHEMA row with no voice: a segment no evidence attributes keeps its place."""
    return {"series_key": series_key, "episode_key": s["episode_key"], "segment_id": s["segment_id"],
            "voice_id": None, "character": None, "character_similarity": None, "character_margin": None,
            "attribution": None}


def segment_rows(series_key: str, segments: list[dict], kept: list[dict], clus: VoiceClustering, dur: np.ndarray,
                 ids: list[str], characters: list[str]) -> list[dict]:
    """Row per segment, input order: kept ones by embedding (similarity, margin), others by their speaker's voice."""
    unit_votes: dict[tuple, Counter] = defaultdict(Counter)  # speech-weighted voice votes per episode speaker
    for i, s in enumerate(kept):
        unit_votes[(s["episode_key"], s["speaker"])][int(clus.labels[i])] += dur[i]
    kept_index = {s["segment_id"]: i for i, s in enumerate(kept)}
    rows = []
    for s in segments:
        i = kept_index.get(s["segment_id"])
        row = blank_segment_row(series_key, s)
        if i is not None:
            v = int(clus.labels[i])
            tagged = clus.tag_pinned is not None and bool(clus.tag_pinned[i])
            row.update(voice_id=ids[v], character=characters[v], character_similarity=float(clus.similarity[i]),
                       character_margin=float(clus.margin[i]), attribution="subtitle_tag" if tagged else "embedding")
        elif s.get("speaker") and unit_votes.get((s["episode_key"], s["speaker"])):
            v = unit_votes[(s["episode_key"], s["speaker"])].most_common(1)[0][0]
            row.update(voice_id=ids[v], character=characters[v], attribution="diarization")
        rows.append(row)
    return rows


def unnamed_main_warnings(voices: list[dict]) -> list[str]:
    """One warning listing main voices without a name: the curator should name them in the mapping file."""
    unnamed = [r["voice_id"] for r in voices if r["role"] == "main" and r["suggested_name"] is None]
    return [f"main voices without a name (name them in {MAPPING_FILE}): {', '.join(unnamed)}"] if unnamed else []


def character_summary(voices: list[dict]) -> list[dict]:
    """One row per character (voices of one name merged), largest first."""
    agg: dict[str, dict] = {}
    for v in voices:
        a = agg.setdefault(v["character"], {"character": v["character"], "role": v["role"], "speech_s": 0.0,
                                            "n_segments": 0, "voices": [], "name_source": v["name_source"]})
        a["speech_s"] += v["speech_s"]
        a["n_segments"] += v["n_segments"]
        a["voices"].append(v["voice_id"])
    return sorted(agg.values(), key=lambda a: -a["speech_s"])
