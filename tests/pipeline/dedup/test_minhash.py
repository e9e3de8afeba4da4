"""Signatures equal datasketch's, band keys collide exactly when bands agree, LSH parameters are datasketch's."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from text_factory import article

from pipeline.dedup.minhash import EMPTY, MinHasher, band_keys, candidate_probability, lsh_parameters
from pipeline.dedup.shingles import word_shingles


def datasketch_signature(shingles: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=lambda value: value)
    reference.update_batch([int(h >> np.uint64(32)) for h in shingles])
    return reference.hashvalues


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (112, 7), (9, 0)])
def test_signatures_are_datasketch_affine32_value_for_value(num_perm: int, seed: int):
    shingles = word_shingles("\n".join(article(seed)), 5)
    assert np.array_equal(MinHasher(num_perm, seed).signature(shingles), datasketch_signature(shingles, num_perm, seed))


def test_the_share_of_equal_values_estimates_jaccard():
    first = set(word_shingles("\n".join(article(1)), 5).tolist())
    paragraphs = article(1)
    paragraphs[3:6] = article(50)[:3]
    second = set(word_shingles("\n".join(paragraphs), 5).tolist())
    exact = len(first & second) / len(first | second)
    hasher = MinHasher(512, 1)
    sig_a = hasher.signature(np.array(sorted(first), dtype=np.uint64))
    sig_b = hasher.signature(np.array(sorted(second), dtype=np.uint64))
    assert abs((sig_a == sig_b).mean() - exact) < 4 * np.sqrt(exact * (1 - exact) / 512)


def test_no_shingles_gives_the_empty_signature():
    assert (MinHasher(16, 1).signature(np.empty(0, np.uint64)) == EMPTY).all()


def test_band_keys_agree_exactly_where_the_band_values_agree():
    rng = np.random.default_rng(0)
    signatures = rng.integers(0, 2**32, size=(4, 12), dtype=np.uint32)
    signatures[1, 0:4] = signatures[0, 0:4]  # band 0 shared by docs 0 and 1
    signatures[2, 4:8] = signatures[0, 4:8]  # band 1 shared by docs 0 and 2
    signatures[3, 8:11] = signatures[0, 8:11]  # 3 of 4 values of band 2: not shared
    keys = band_keys(signatures, bands=3, rows=4)
    assert keys.shape == (3, 4)
    assert keys[0, 0] == keys[0, 1] and keys[1, 0] == keys[1, 2]
    assert keys[2, 0] != keys[2, 3] and keys[0, 0] != keys[0, 2]
    assert len(set(keys[:, 0].tolist())) == 3  # the same values in another band make another key


@pytest.mark.parametrize(("threshold", "weights"), [(0.8, (0.2, 0.8)), (0.7, (0.5, 0.5)), (0.9, (0.3, 0.7))])
def test_lsh_parameters_are_datasketchs_choice(threshold: float, weights: tuple[float, float]):
    lsh = MinHashLSH(threshold=threshold, num_perm=128, weights=weights)
    assert lsh_parameters(threshold, 128, *weights) == (lsh.b, lsh.r)


def test_candidate_probability_is_the_lsh_s_curve():
    assert candidate_probability(1.0, 12, 10) == 1.0
    assert candidate_probability(0.0, 12, 10) == 0.0
    assert candidate_probability(0.9, 12, 10) > 0.99 > 0.3 > candidate_probability(0.7, 12, 10)
