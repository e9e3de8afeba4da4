"""Document masking: a packed window of documents gives each document the logits it has alone, on both
backends (masked SDPA, and FlexAttention's forward, which runs eagerly on CPU)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.attention import document_mask, document_positions
from model.config import preset
from model.gpt import GPT

LENGTHS = (7, 15, 10)  # three documents of different lengths packed into one window
CONFIGS = {
    "gqa": preset("tiny", kernels="torch"),  # 4 heads, 2 kv heads
    "mha": preset("tiny", kernels="torch", n_kv_heads=None, mlp="relu2"),
    "auto kernels": preset("tiny", n_kv_heads=1),
}
BACKENDS = ["sdpa", pytest.param("flex", marks=pytest.mark.filterwarnings("ignore:flex_attention called without"))]


def packed(lengths: tuple[int, ...] = LENGTHS, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Random tokens [batch, sum(lengths)] and their document ids 0, 0, ..., 1, 1, ..., 2, ..."""
    documents = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths)).expand(batch, -1)
    return torch.randint(0, 512, documents.shape), documents.contiguous()


def model_for(config_name: str, backend: str) -> GPT:
    torch.manual_seed(0)
    model = GPT(CONFIGS[config_name]).eval()
    model.attention_backend = backend
    return model


def each_alone(model: GPT, tokens: torch.Tensor) -> torch.Tensor:
    """Each document run on its own, the logits concatenated back into the window's order."""
    return torch.cat([model(document) for document in tokens.split(LENGTHS, dim=1)], dim=1)


def test_document_positions_and_mask_on_a_hand_written_window() -> None:
    documents = torch.tensor([[4, 4, 4, 7, 7, 9], [0, 0, 0, 0, 0, 0], [3, 5, 5, 5, 6, 6]])
    assert document_positions(documents).tolist() == [[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5], [0, 0, 1, 2, 0, 1]]
    mask = document_mask(documents[:1, :4])
    assert mask.shape == (1, 1, 4, 4) and mask.dtype == torch.bool
    assert mask[0, 0].int().tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1]]
    assert torch.equal(document_mask(documents[1:2])[0, 0], torch.ones(6, 6, dtype=torch.bool).tril())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("config_name", CONFIGS)
@torch.no_grad()
def test_a_packed_window_gives_each_document_its_own_logits(config_name: str, backend: str) -> None:
    model = model_for(config_name, backend)
    tokens, documents = packed()
    logits = model(tokens, documents=documents, positions=document_positions(documents))
    assert torch.allclose(logits, each_alone(model, tokens), atol=1e-5)
    assert not torch.allclose(model(tokens)[:, LENGTHS[0] :], logits[:, LENGTHS[0] :], atol=1e-3)  # it matters


@pytest.mark.parametrize("backend", BACKENDS)
@torch.no_grad()
def test_without_restarted_positions_rope_keeps_documents_apart_too(backend: str) -> None:
    model = model_for("gqa", backend)
    tokens, documents = packed()
    assert torch.allclose(model(tokens, documents=documents), each_alone(model, tokens), atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
@torch.no_grad()
def test_one_document_per_row_is_plain_causal_attention(backend: str) -> None:
    model = model_for("gqa", backend)
    tokens, _ = packed()
    one = torch.zeros_like(tokens)
    positions = torch.arange(tokens.shape[1]).expand_as(tokens)
    expected = model(tokens)
    assert torch.allclose(model(tokens, documents=one), expected, atol=1e-5)
    assert torch.allclose(model(tokens, documents=one, positions=positions), expected, atol=1e-5)


def test_ignored_targets_get_no_gradient_and_the_loss_is_the_mean_over_the_rest() -> None:
    model = model_for("gqa", "sdpa")
    tokens, documents = packed()
    targets = torch.randint(0, 512, tokens.shape)
    ignored = torch.zeros_like(targets, dtype=torch.bool)
    ignored[:, LENGTHS[0] - 1] = ignored[0, -4:] = True  # e.g. the last token of a document predicts nothing
    targets[ignored] = -100
    captured = []
    model.norm.register_forward_hook(lambda module, inputs, output: captured.append(output))
    loss = model(tokens, targets, documents=documents, positions=document_positions(documents))
    hidden = captured[0]
    hidden.retain_grad()
    loss.backward()
    gradient_norms = hidden.grad.norm(dim=-1)
    assert torch.all(gradient_norms[ignored] == 0) and torch.all(gradient_norms[~ignored] > 0)
    expected = F.cross_entropy(model.logits(hidden.detach())[~ignored], targets[~ignored])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_masked_sdpa_trains_and_matches_with_activation_checkpointing() -> None:
    model = model_for("gqa", "sdpa").train()
    tokens, documents = packed()
    runs = []
    for checkpointing in (False, True):
        model.zero_grad()
        model.activation_checkpointing = checkpointing
        model(tokens[:, :-1], tokens[:, 1:], documents=documents[:, :-1]).backward()
        runs.append([p.grad.clone() for p in model.parameters()])
    assert all(g.isfinite().all() for g in runs[0]) and any(g.abs().sum() > 0 for g in runs[0])
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(*runs, strict=True))


def test_positions_beyond_the_model_are_refused() -> None:
    model = model_for("gqa", "sdpa")
    tokens, documents = packed()
    with pytest.raises(ValueError, match="positions must lie in"):
        model(tokens, documents=documents, positions=document_positions(documents) + 60)
