"""Generation: the KV cache gives the logits of a full forward pass, left-padded batches give each prompt's own
tokens, and sampling keeps to temperature, top-k and top-p, reproducibly."""

from __future__ import annotations

import pytest
import torch

from model.config import preset
from model.generate import Sampling, choose, generate
from model.gpt import GPT
from model.kv_cache import KVCache

GREEDY = Sampling(temperature=0)


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(preset("tiny", kernels="torch", seq_len=48, logit_softcap=30.0)).double().eval()


def uncached_greedy(model: GPT, prompt: list[int], steps: int) -> tuple[list[int], list[torch.Tensor]]:
    tokens, logits_seen = list(prompt), []
    for _ in range(steps):
        logits = model(torch.tensor([tokens]))[0, -1]
        logits_seen.append(logits)
        tokens.append(int(logits.argmax()))
    return tokens[len(prompt) :], logits_seen


def test_the_cache_gives_the_logits_of_a_full_forward_pass(model: GPT) -> None:
    prompt = [5, 17, 300, 2, 44]
    expected, expected_logits = uncached_greedy(model, prompt, 12)
    cache = KVCache(model.config, torch.tensor([0]), len(prompt) + 12, torch.float64)
    logits = model.next_logits(torch.tensor([prompt]), cache)
    for step in range(12):
        assert torch.allclose(logits[0], expected_logits[step], atol=1e-10)
        logits = model.next_logits(torch.tensor([[expected[step]]]), cache)
    assert generate(model, [prompt], 12, GREEDY, stop_ids=set()) == [expected]


def test_a_left_padded_batch_gives_each_prompt_its_own_tokens(model: GPT) -> None:
    prompts = [[1, 2, 3, 4, 5, 6, 7], [400], [9, 9, 100]]
    batched = generate(model, prompts, 10, GREEDY, stop_ids=set())
    assert batched == [generate(model, [p], 10, GREEDY, stop_ids=set())[0] for p in prompts]
    assert batched[0] == uncached_greedy(model, prompts[0], 10)[0]


def test_a_row_stops_at_its_stop_token_and_streaming_sees_each_step(model: GPT) -> None:
    free = generate(model, [[3, 1, 4]], 8, GREEDY, stop_ids=set())[0]
    stop = free[3]
    steps: list[list[int | None]] = []
    stopped = generate(model, [[3, 1, 4], [1, 5]], 8, GREEDY, stop_ids={stop}, on_step=steps.append)
    assert stopped[0] == free[: free.index(stop)]
    assert [s[0] for s in steps][: len(stopped[0])] == stopped[0]
    assert all(s[0] is None for s in steps[len(stopped[0]) :])


def test_sampling_rules() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]]).repeat(4000, 1)
    assert (choose(logits, GREEDY) == 0).all()
    assert (choose(logits, Sampling(temperature=1.0, top_k=1)) == 0).all()
    generator = torch.Generator().manual_seed(0)
    picked = choose(logits, Sampling(temperature=1.0, top_k=3), generator)
    assert set(picked.tolist()) == {0, 1, 2}
    probabilities = logits[0].softmax(-1)  # top-p 0.8: 0 (0.53) and 1 (0.20) reach 0.73 < 0.8, so 2 joins
    picked = choose(logits, Sampling(temperature=1.0, top_p=0.8), generator)
    assert set(picked.tolist()) == {0, 1, 2} and probabilities[:2].sum() < 0.8 <= probabilities[:3].sum()
    free = torch.bincount(choose(logits, Sampling(temperature=1.0), generator), minlength=5) / 4000
    assert torch.allclose(free, probabilities, atol=0.03)
    hot = torch.bincount(choose(logits, Sampling(temperature=2.0), generator), minlength=5) / 4000
    assert torch.allclose(hot, (logits[0] / 2).softmax(-1), atol=0.03)
    again = [choose(logits[:50], Sampling(1.0), torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(*again)


def test_too_long_a_request_is_refused(model: GPT) -> None:
    with pytest.raises(ValueError, match="exceed the model's context of 48"):
        generate(model, [[1] * 40], 10, GREEDY, stop_ids=set())


def test_edges_of_the_context_and_of_temperature(model: GPT) -> None:
    assert len(generate(model, [[1] * 47], 2, GREEDY, stop_ids=set())[0]) == 2  # the 2nd new token is never fed
    with pytest.raises(ValueError, match="context"):
        generate(model, [[1] * 47], 3, GREEDY, stop_ids=set())
    logits = torch.tensor([[3.0, 1.0, 2.0]])
    assert choose(logits, Sampling(temperature=1e-40)).item() == 0  # no overflow to nan
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="temperature"):
            Sampling(temperature=bad)
