"""Dedup stages in recipes: band / row checks, the derived split, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gristmill_base.errors import UserError
from pipeline.dedup.stages import MinhashDedupStage
from pipeline.recipe import load_recipe


def recipe(tmp_path: Path, stage: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(f'[[stage]]\nkind = "ingest"\ninputs = ["x"]\n\n[[stage]]\n{stage}\n')
    return path


def error_of(path: Path) -> str:
    with pytest.raises(UserError) as raised:
        load_recipe(path)
    return str(raised.value).split(": ", 1)[1]


def test_defaults_derive_the_band_split_from_the_threshold():
    assert MinhashDedupStage().band_split() == (12, 10)
    assert MinhashDedupStage(threshold=0.7, false_positive_weight=0.5, false_negative_weight=0.5).band_split() == (
        14,
        9,
    )
    assert MinhashDedupStage(bands=14, rows=8, num_perm=112).band_split() == (14, 8)


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ('kind = "minhash_dedup"\nbands = 4', "bands and rows go together"),
        ('kind = "minhash_dedup"\nbands = 20\nrows = 10', "bands * rows = 200 exceeds num_perm = 128"),
        ('kind = "minhash_dedup"\nfalse_positive_weight = 0.5', "must be 1"),
        ('kind = "minhash_dedup"\nthreshold = 1.5', "stage[1].threshold: expected less than 1"),
        ('kind = "minhash_dedup"\nshingle = "sentence"', "stage[1].shingle: expected 'word' or 'char'"),
        ('kind = "line_dedup"\nmax_documents = 0', "stage[1].max_documents: expected greater than or equal to 1"),
        ('kind = "exact_dedup"\nnormalise = true', "stage[1].normalise: unknown key"),
    ],
)
def test_bad_dedup_keys_give_one_clear_line(tmp_path: Path, stage: str, expected: str):
    assert expected in error_of(recipe(tmp_path, stage))


def test_dedup_stages_cut_a_recipe_into_segments(tmp_path: Path):
    path = recipe(tmp_path, 'kind = "pii"\n[[stage]]\nkind = "minhash_dedup"\n[[stage]]\nkind = "langid"')
    segments = load_recipe(path).segments
    assert [(s.opener.kind if s.opener else None, [f.kind for f in s.filters]) for s in segments] == [
        (None, ["pii"]),
        ("minhash_dedup", ["langid"]),
    ]


@pytest.mark.parametrize("kind", ["exact_dedup", "line_dedup"])
def test_normalize_defaults_to_text_and_refuses_the_old_booleans(tmp_path: Path, kind: str):
    assert load_recipe(recipe(tmp_path, f'kind = "{kind}"')).stage[1].normalize == "text"
    assert load_recipe(recipe(tmp_path, f'kind = "{kind}"\nnormalize = "aggressive"')).stage[1].normalize == (
        "aggressive"
    )
    message = error_of(recipe(tmp_path, f'kind = "{kind}"\nnormalize = true'))
    assert '"text"' in message and '"aggressive"' in message and "`true` meant this before" in message
    assert "expected 'text', 'none' or 'aggressive', got 'digits'" in error_of(
        recipe(tmp_path, f'kind = "{kind}"\nnormalize = "digits"')
    )
