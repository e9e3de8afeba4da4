"""The GPT on CPU: exact parameter counts, causality, RoPE's relative positions, GQA, soft-cap, learning."""

from __future__ import annotations

import pytest
import torch

from model.config import PRESETS, GPTConfig, preset
from model.gpt import GPT, rope_tables
from model.kernels import reference as ops

VARIANTS = [
    GPTConfig(vocab_size=97, seq_len=32, d_model=48, n_layers=2, n_heads=4),
    GPTConfig(vocab_size=97, seq_len=32, d_model=48, n_layers=3, n_heads=4, n_kv_heads=2, mlp="relu2"),
    GPTConfig(vocab_size=97, seq_len=32, d_model=48, n_layers=1, n_heads=6, qk_norm=False, tie_embeddings=True),
    GPTConfig(vocab_size=97, seq_len=32, d_model=64, n_layers=2, n_heads=4, n_kv_heads=1, d_mlp=100),
]


@pytest.mark.parametrize("config", VARIANTS)
def test_parameter_count_is_exact(config: GPTConfig) -> None:
    assert GPT(config).parameter_count() == config.parameters()


def test_presets_have_their_advertised_sizes() -> None:
    sizes = {name: config.parameters() / 1e6 for name, config in PRESETS.items()}
    assert 110 < sizes["124m"] < 140 and 300 < sizes["350m"] < 420 and 900 < sizes["1b"] < 1300
    assert preset("tiny", d_model=128).d_model == 128
    with pytest.raises(ValueError, match="expected one of"):
        preset("huge")


def test_flops_per_token_follow_six_n_plus_attention() -> None:
    config = PRESETS["124m"]  # d 768, 12 layers, SwiGLU 2048, vocab 50304, seq 1024; q, k, v, out are 768 x 768
    matmul_weights = 12 * (4 * 768 * 768 + 3 * 768 * 2048) + 50304 * 768  # norm gains are not matmuls
    expected = 6 * matmul_weights + 6 * 12 * 1024 * 768  # + causal QK^T and AV: 2 x 2 x layers x seq x d, halved, x 3
    assert config.flops_per_token() == expected == 798_031_872
    assert config.flops_per_token(2048) > config.flops_per_token(1024)


@pytest.mark.parametrize("config", VARIANTS[:2])
def test_a_token_never_sees_the_future(config: GPTConfig) -> None:
    torch.manual_seed(0)
    model = GPT(config).eval()
    tokens = torch.randint(0, config.vocab_size, (2, 20))
    changed = tokens.clone()
    changed[:, 12:] = torch.randint(0, config.vocab_size, (2, 8))
    with torch.no_grad():
        assert torch.allclose(model(tokens)[:, :12], model(changed)[:, :12], atol=1e-5)
        assert not torch.allclose(model(tokens)[:, 12:], model(changed)[:, 12:], atol=1e-5)


def test_rope_scores_depend_only_on_relative_position() -> None:
    cos, sin = rope_tables(64, 16, 10_000.0)
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)

    def score(m: int, n: int) -> float:
        qm = ops.rope(q.view(1, 1, 1, 16).float(), cos[m : m + 1], sin[m : m + 1])
        kn = ops.rope(k.view(1, 1, 1, 16).float(), cos[n : n + 1], sin[n : n + 1])
        return float((qm * kn).sum())

    assert score(10, 3) == pytest.approx(score(40, 33), abs=1e-4)
    assert score(10, 3) != pytest.approx(score(10, 4), abs=1e-4)


def test_soft_cap_bounds_the_logits() -> None:
    config = GPTConfig(vocab_size=50, seq_len=16, d_model=32, n_layers=1, n_heads=2, logit_softcap=3.0)
    model = GPT(config)
    with torch.no_grad():
        model.output_weight.mul_(100)
        logits = model(torch.randint(0, 50, (1, 16)))
    assert logits.abs().max() <= 3.0 and logits.abs().max() > 2.5


def test_the_tiny_model_learns_a_fixed_batch() -> None:
    torch.manual_seed(0)
    config = PRESETS["tiny"]
    model = GPT(config)
    tokens = torch.randint(0, config.vocab_size, (4, config.seq_len + 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = model(tokens[:, :-1], tokens[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(torch.log(torch.tensor(512.0)).item(), abs=0.3)  # uniform at init
    assert losses[-1] < losses[0] / 3


def test_loss_ignores_masked_targets_and_equals_the_logits_cross_entropy() -> None:
    torch.manual_seed(1)
    config = VARIANTS[1]
    model = GPT(config)
    tokens = torch.randint(0, config.vocab_size, (2, 17))
    targets = tokens[:, 1:].clone()
    targets[0, :5] = -100
    loss = model(tokens[:, :-1], targets)
    logits = model(tokens[:, :-1])
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, config.vocab_size), targets.reshape(-1))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_sequence_longer_than_the_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="longer than the model's seq_len"):
        GPT(VARIANTS[0])(torch.zeros(1, 33, dtype=torch.long))


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of n_heads"):
        GPTConfig(d_model=50, n_heads=4)
    with pytest.raises(ValueError, match="multiple of n_kv_heads"):
        GPTConfig(d_model=48, n_heads=4, n_kv_heads=3)


def test_reference_ops_keep_dtype_and_compute_in_fp32() -> None:
    x = torch.randn(3, 8, dtype=torch.bfloat16)
    assert ops.rms_norm(x, None, 1e-6).dtype == torch.bfloat16
    plain = ops.rms_norm(x.double(), None, 1e-6)
    assert torch.allclose(plain.pow(2).mean(-1), torch.ones(3, dtype=torch.float64), atol=1e-4)
    hidden, weight = torch.randn(5, 8), torch.randn(11, 8)
    targets = torch.tensor([1, 2, -100, 4, 5])
    logits = hidden @ weight.T
    keep = targets != -100
    lse = torch.logsumexp(logits, -1)[keep]
    expected = torch.nn.functional.cross_entropy(logits, targets) + 1e-3 * (lse**2).mean()
    assert ops.linear_cross_entropy(hidden, weight, targets, z_loss=1e-3).item() == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_activation_checkpointing_gives_the_same_loss_and_gradients() -> None:
    torch.manual_seed(0)
    model = GPT(preset("tiny", kernels="torch"))
    tokens = torch.randint(0, 512, (2, 33))
    grads = []
    for checkpointing in (False, True):
        model.zero_grad()
        model.activation_checkpointing = checkpointing
        loss = model(tokens[:, :-1], tokens[:, 1:])
        loss.backward()
        grads.append((loss.item(), [p.grad.clone() for p in model.parameters()]))
    assert grads[0][0] == grads[1][0]
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(grads[0][1], grads[1][1], strict=True))


def test_per_token_losses_match_cross_entropy_with_gradients_in_small_chunks() -> None:
    """`reduction="none"` (evaluation, DPO) is chunked; with gradients each chunk is recomputed in backward: the
    values and gradients are those of the whole cross entropy."""
    from model.kernels.reference import token_cross_entropy

    torch.manual_seed(0)
    hidden = torch.randn(2, 50, 16, requires_grad=True)
    weight = torch.randn(300, 16, requires_grad=True)
    targets = torch.randint(0, 300, (2, 50))
    targets[0, :5] = -100
    chunked = token_cross_entropy(hidden, weight, targets, chunk_bytes=4 * 300 * 7)  # 7 tokens per chunk
    whole = torch.nn.functional.cross_entropy((hidden @ weight.T).view(-1, 300), targets.view(-1), reduction="none")
    torch.testing.assert_close(chunked, whole.view(2, 50))
    assert (chunked[0, :5] == 0).all()
    for got, expected in zip(torch.autograd.grad(chunked.sum(), (hidden, weight)),
                             torch.autograd.grad(whole.sum(), (hidden, weight)), strict=True):  # fmt: skip
        torch.testing.assert_close(got, expected)
