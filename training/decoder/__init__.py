"""Speech decoder: units (+ a voice) → waveform, by unit selection from the voice's own recordings.

A voice's *inventory* is its recordings cut into unit frames (one unit = ``samples_per_unit`` samples, 80 ms at
12.5 Hz), each frame labelled with its unit. To speak a unit sequence, a Viterbi search picks one inventory frame
per unit, trading a *target cost* against a *join cost* (paid whenever the next frame is not the one that followed
it in the recording). The target cost is the distance between the frame's unit and the wanted one (their codewords'
distance, relative to the median codeword distance), plus ``context_weight`` times the same distance for the frame's
recorded neighbours against the wanted neighbours: a unit is one 80 ms slice of a longer sound, and a frame recorded
in the right surroundings carries the right transitions (on the 3-episode demo this cut the resynthesis CER of
held-out utterances from 0.58 to 0.46; ``benchmarks/arp_model.py``). Runs of consecutive frames are copied as they
were recorded and joined with short cross-fades. So the reply is made of the character's real voice — speaker
identity comes for free — and it is as intelligible as the units are phonetic and the inventory covers them.
``other_voice_cost`` lets a voice with little speech borrow other voices' frames at an extra cost (more coverage,
less of its own voice). Inventories come from the series' train split, or from a single reference clip (zero-shot
conditioning, ARP-Eval's One-shot baseline); nothing is trained by gradient descent.

Saved as ``decoder.json`` + one ``<voice>.npz`` (units, int16 audio, continuation flags) per voice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE
from audiorole.io import atomic_path, write_json_atomic

DECODER_FILE = "decoder.json"


@dataclass(frozen=True)
class DecoderConfig:
    max_candidates: int = 64  # inventory frames considered per position (lowest target cost first)
    join_cost: float = 0.6  # cost of a jump between non-consecutive recorded frames (in median codeword distances)
    context_weight: float = 1.0  # weight of the neighbours' unit distances in the target cost (0: the unit alone)
    context_frames: int = 1  # neighbours on each side that count
    other_voice_cost: float | None = None  # None: a voice speaks with its own frames only; a number: the other
    # voices' frames are candidates too, at this extra target cost (coverage for a voice with little speech)
    crossfade_ms: float = 12.0
    min_inventory_s: float = 5.0  # a voice with less recorded speech than this cannot be decoded
    # the TTS bridge's voice conversion per voice (``training.decoder.convert``): learned when ``conversion``
    conversion: bool = True
    conversion_components: int = 8
    conversion_order: int = 40
    conversion_ap_neighbours: int = 8
    conversion_global_variance: bool = True
    conversion_realign: int = 1
    conversion_tempo: bool = True  # the voice's speaking rate (``ConversionConfig.tempo``)
    conversion_relevance: float = 400.0  # the series' mapping as each voice's prior (``ConversionConfig.relevance``)
    conversion_excitation: str = "recorded"  # the voice's recorded frames or "world" (``ConversionConfig.excitation``)
    conversion_excitation_s: float = 300.0  # recordings kept per voice for it (``ConversionConfig.excitation_s``)
    conversion_excitation_blend: float = 0.2  # the recorded frames' own envelope kept (``ConversionConfig``)
    conversion_mlp_weight: float = 0.5  # the context network's share of the envelope (``ConversionConfig``)

    def conversion_config(self):
        from training.decoder.convert import ConversionConfig

        return ConversionConfig(components=self.conversion_components, order=self.conversion_order,
                                ap_neighbours=self.conversion_ap_neighbours, min_parallel_s=self.min_inventory_s,
                                global_variance=self.conversion_global_variance, realign=self.conversion_realign,
                                tempo=self.conversion_tempo, relevance=self.conversion_relevance,
                                excitation=self.conversion_excitation, excitation_s=self.conversion_excitation_s,
                                excitation_blend=self.conversion_excitation_blend,
                                mlp_weight=self.conversion_mlp_weight)


@dataclass
class Inventory:
    units: np.ndarray  # (N,) int32: the unit of each recorded frame
    audio: np.ndarray  # (N * samples_per_unit,) float32
    continues: np.ndarray  # (N,) bool: frame i+1 is the recording's next frame after frame i

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @classmethod
    def from_pieces(cls, pieces: list[tuple[np.ndarray, np.ndarray]], samples_per_unit: int) -> "Inventory":
        """``pieces``: (units, audio) per recording; audio is padded/cut to len(units) * samples_per_unit."""
        parts = []
        for units, audio in pieces:
            units = np.asarray(units, np.int32)
            if len(units) == 0:
                continue
            need = len(units) * samples_per_unit
            a = np.asarray(audio, np.float32)[:need]
            c = np.ones(len(units), bool)
            c[-1] = False
            parts.append(cls(units, np.pad(a, (0, need - len(a))), c))
        return cls.concat(parts)

    @classmethod
    def concat(cls, parts: list["Inventory"]) -> "Inventory":
        if not parts:
            return cls(np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, bool))
        return cls(np.concatenate([p.units for p in parts]), np.concatenate([p.audio for p in parts]),
                   np.concatenate([p.continues for p in parts]))

    def neighbours(self, offset: int) -> np.ndarray:
        """The unit ``offset`` frames before (< 0) or after (> 0) each frame in its recording; -1 past its edge."""
        n = len(self.units)
        out = np.full(n, -1, np.int64)
        k = abs(offset)
        if 0 < k < n:
            # frames i and i + k lie in one recording when no recording ends in between
            ends = np.concatenate([[0], np.cumsum(~self.continues)])  # recordings ended before each frame
            same = ends[k:n] == ends[:n - k]
            if offset < 0:
                out[k:][same] = self.units[:n - k][same]
            else:
                out[:n - k][same] = self.units[k:][same]
        return out


@dataclass
class _Pool:
    """The frames a voice may speak with: an inventory, its frames' neighbours, and each frame's extra cost."""
    inv: Inventory
    around: dict[int, np.ndarray]  # offset (±1..±context_frames) → the unit recorded there (-1: none)
    own: slice  # the voice's own frames
    extra: np.ndarray | float  # 0 for the voice's own frames, other_voice_cost for the others'


class UnitSelectionDecoder:
    def __init__(self, unit_distances: np.ndarray, samples_per_unit: int, config: DecoderConfig = DecoderConfig(),
                 voices: dict[str, Inventory] | None = None):
        d = self.unit_distances = np.asarray(unit_distances, np.float32)
        off = d[~np.eye(len(d), dtype=bool)]
        self.dist = d / (np.median(off) if len(off) and np.median(off) > 0 else 1.0)
        self.samples_per_unit = samples_per_unit
        self.config = config
        self.voices: dict[str, Inventory] = dict(voices or {})
        self._pools: dict[str, _Pool] = {}
        self._all: tuple | None = None  # (every voice's frames, their neighbours, each voice's slice)

    @property
    def n_units(self) -> int:
        return len(self.dist)

    def add_voice(self, name: str, inventory: Inventory) -> None:
        if inventory.seconds < self.config.min_inventory_s:
            raise ValueError(f"voice {name!r} has {inventory.seconds:.1f} s of recorded speech; the decoder needs "
                             f"at least {self.config.min_inventory_s:.0f} s")
        self.voices[name] = inventory
        self._pools.clear()
        self._all = None

    def _around(self, inv: Inventory) -> dict[int, np.ndarray]:
        k = self.config.context_frames
        return {o: inv.neighbours(o) for o in range(-k, k + 1) if o}

    def _pool(self, voice: str) -> _Pool:
        if voice not in self._pools:
            if self.config.other_voice_cost is None:  # its own inventory, as it is
                inv = self.voices[voice]
                self._pools[voice] = _Pool(inv, self._around(inv), slice(0, len(inv.units)), 0.0)
            else:  # every voice's frames: one inventory, shared by the voices' pools
                if self._all is None:
                    names = sorted(self.voices)
                    inv = Inventory.concat([self.voices[n] for n in names])
                    ends = np.cumsum([len(self.voices[n].units) for n in names])
                    self._all = (inv, self._around(inv),
                                 {n: slice(int(e) - len(self.voices[n].units), int(e)) for n, e in zip(names, ends)})
                inv, around, owns = self._all
                extra = np.full(len(inv.units), self.config.other_voice_cost, np.float32)
                extra[owns[voice]] = 0.0
                self._pools[voice] = _Pool(inv, around, owns[voice], extra)
        return self._pools[voice]

    def target_costs(self, units: np.ndarray, pool: _Pool) -> np.ndarray:
        """(T, N): how well each pool frame fits each position — the distance of its unit to the wanted one, plus
        ``context_weight`` times the distances of its recorded neighbours (up to ``context_frames`` on each side) to
        the wanted neighbours (a missing neighbour costs one median distance), plus the frame's extra cost."""
        d = self.dist
        cost = d[units][:, pool.inv.units] + pool.extra
        w, T = self.config.context_weight, len(units)
        for o, have in pool.around.items() if w else ():
            if abs(o) >= T:
                continue
            c = d[units[max(0, o):T + min(0, o)]][:, np.maximum(have, 0)]  # wanted unit at t + o vs recorded
            c[:, have < 0] = 1.0
            cost[max(0, -o):T - max(0, o)] += w * c
        return cost

    def select(self, units: np.ndarray, voice: str) -> np.ndarray:
        """Viterbi: the frame index (into the voice's pool) chosen for each unit."""
        if voice not in self.voices:
            raise KeyError(f"no voice {voice!r} in the decoder (it has: {', '.join(sorted(self.voices))})")
        units = np.asarray(units, np.int64)
        if len(units) == 0:
            return np.zeros(0, np.int64)
        if units.min() < 0 or units.max() >= self.n_units:
            raise ValueError(f"unit ids must lie in [0, {self.n_units}); got {units.min()}..{units.max()}")
        pool = self._pool(voice)
        tcost = self.target_costs(units, pool)
        k = min(self.config.max_candidates, tcost.shape[1])
        cand = np.argpartition(tcost, k - 1, axis=1)[:, :k] if k < tcost.shape[1] else \
            np.broadcast_to(np.arange(tcost.shape[1]), tcost.shape)
        jc = self.config.join_cost
        cont = pool.inv.continues
        idxs = [cand[0]]
        cost, back = tcost[0, cand[0]].astype(np.float32), []
        for t in range(1, len(units)):
            idx, tc = cand[t], tcost[t, cand[t]]
            prev_idx = idxs[-1]
            best = int(np.argmin(cost))
            jump = cost[best] + jc
            new = np.full(len(idx), jump, np.float32)
            arg = np.full(len(idx), best, np.int64)
            # continuing the recording: frame j follows candidate i when idx[j] == prev_idx[i] + 1 and it continues
            order = np.argsort(prev_idx)
            pos = np.clip(np.searchsorted(prev_idx[order], idx - 1), 0, len(order) - 1)
            i = order[pos]
            ok = (prev_idx[i] == idx - 1) & cont[prev_idx[i]] & (cost[i] < jump)
            new[ok], arg[ok] = cost[i][ok], i[ok]
            cost = new + tc
            back.append(arg)
            idxs.append(idx)
        path = np.zeros(len(units), np.int64)
        j = int(np.argmin(cost))
        for t in range(len(units) - 1, -1, -1):
            path[t] = idxs[t][j]
            if t:
                j = int(back[t - 1][j])
        return path

    def own_share(self, path: np.ndarray, voice: str) -> float:
        """Share of a selected path's frames recorded by the voice itself."""
        own = self._pool(voice).own
        return float(np.mean((path >= own.start) & (path < own.stop))) if len(path) else 1.0

    def synthesize(self, units: np.ndarray, voice: str) -> np.ndarray:
        """Waveform (16 kHz float32) of exactly ``len(units) * samples_per_unit`` samples."""
        path = self.select(units, voice)
        inv, spu = self._pool(voice).inv, self.samples_per_unit
        out = np.zeros(len(path) * spu, np.float32)
        if len(path) == 0:
            return out
        xf = int(self.config.crossfade_ms * SAMPLE_RATE / 1000)
        # runs of consecutive recorded frames
        starts = [0] + [t for t in range(1, len(path)) if path[t] != path[t - 1] + 1 or not inv.continues[path[t - 1]]]
        ends = starts[1:] + [len(path)]
        for s, e in zip(starts, ends):
            a = path[s] * spu
            n = (e - s) * spu
            tail = min(xf, len(inv.audio) - (a + n)) if e < len(path) else 0
            seg = inv.audio[a:a + n + max(tail, 0)].copy()
            o = s * spu
            if s > 0 and xf:  # fade in over the previous run's overhang
                k = min(xf, len(seg))
                seg[:k] *= np.linspace(0, 1, k, dtype=np.float32)
            if tail > 0:
                seg[n:] *= np.linspace(1, 0, tail, dtype=np.float32)
            end = min(len(out), o + len(seg))
            out[o:end] += seg[: end - o]
        return out

    # persistence -------------------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for i, (name, inv) in enumerate(sorted(self.voices.items())):
            fname = f"voice{i:03d}.npz"
            with atomic_path(folder / fname) as tmp, open(tmp, "wb") as f:
                np.savez(f, units=inv.units, audio=np.clip(inv.audio * 32767, -32768, 32767).astype(np.int16),
                         continues=inv.continues)
            files[name] = {"file": fname, "seconds": round(inv.seconds, 2), "frames": int(len(inv.units))}
        with atomic_path(folder / "unit_distances.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, self.unit_distances)
        write_json_atomic(folder / DECODER_FILE, {"kind": "unit_selection", "config": asdict(self.config),
                                                  "samples_per_unit": self.samples_per_unit, "voices": files})


def load_decoder(folder: str | Path) -> UnitSelectionDecoder:
    folder = Path(folder)
    try:
        meta = json.loads((folder / DECODER_FILE).read_text())
        dist = np.load(folder / "unit_distances.npy")
        voices = {}
        for name, v in meta["voices"].items():
            with np.load(folder / v["file"]) as z:
                voices[name] = Inventory(z["units"].astype(np.int32), z["audio"].astype(np.float32) / 32767,
                                         z["continues"].astype(bool))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{folder}: not a trained speech decoder ({Path(err.filename).name} missing)") from err
    except (ValueError, KeyError, OSError) as err:
        raise ValueError(f"{folder}: corrupt speech decoder: {err}") from err
    return UnitSelectionDecoder(dist, meta["samples_per_unit"], DecoderConfig(**meta["config"]), voices)
