"""MinHash signatures and LSH band keys, vectorised with numpy over datasketch's hash family.

The permutations are datasketch's "affine32" family (`datasketch.MinHash(num_perm, seed).permutations`):
each shingle hash h (32 bits) is pre-mixed with the 32-bit MurmurHash3 finaliser, then permuted as
`a * h + b mod 2**32` with odd `a`. A signature here equals, value for value, the `hashvalues` of a
`datasketch.MinHash` fed the same 32-bit shingle hashes; it is only computed a document at a time in
numpy instead of a Python loop. The band and row split comes from datasketch's `MinHashLSH`, which picks
the split minimising weighted false-positive and false-negative areas around the threshold.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from datasketch import MinHash, MinHashLSH

from pipeline.dedup.shingles import fmix

EMPTY = np.uint32(0xFFFFFFFF)
BLOCK = 512
_U32 = np.uint32


class MinHasher:
    """Signatures of `num_perm` values per document; an empty shingle set gives all-EMPTY."""

    def __init__(self, num_perm: int, seed: int):
        a, b = MinHash(num_perm=num_perm, seed=seed).permutations
        self.a = a.astype(_U32)[None, :]
        self.b = b.astype(_U32)[None, :]
        self.num_perm = num_perm

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        """Blocks of BLOCK shingles at a time: the [block x num_perm] products stay in cache, and a long
        document needs no more memory than a short one. Repeated shingles cannot change a minimum."""
        signature = np.full(self.num_perm, EMPTY, dtype=_U32)
        hashed = fmix((shingles >> np.uint64(32)).astype(_U32), 32)[:, None]
        products = np.empty((min(len(hashed), BLOCK), self.num_perm), dtype=_U32)
        with np.errstate(over="ignore"):
            for start in range(0, len(hashed), BLOCK):
                block = hashed[start : start + BLOCK]
                permuted = products[: len(block)]
                np.multiply(block, self.a, out=permuted)
                permuted += self.b
                np.minimum(signature, permuted.min(axis=0), out=signature)
        return signature


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64[bands, n]: the `rows` values of each band combined into one 64-bit key. Two documents
    share a key when their band values are equal (or, with probability 2**-64, by chance)."""
    keys = np.zeros((bands, signatures.shape[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            acc = np.full(signatures.shape[0], band, dtype=np.uint64)
            for value in signatures[:, band * rows : (band + 1) * rows].T:
                acc = fmix(acc * np.uint64(0x9E3779B97F4A7C15) + value.astype(np.uint64))
            keys[band] = acc
    return keys


@lru_cache(maxsize=64)
def lsh_parameters(
    threshold: float, num_perm: int, false_positive_weight: float, false_negative_weight: float
) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm, chosen by datasketch for the threshold and weights."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(false_positive_weight, false_negative_weight))
    return lsh.b, lsh.r


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """The chance that two documents of this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - similarity**rows) ** bands
