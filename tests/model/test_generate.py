"""Generation: the KV cache gives the logits of a full forward pass, left-padded batches give each prompt's own
tokens, generation past the context slides its window as documented, and sampling keeps to temperature, top-k
and top-p, reproducibly. `gristmill generate` on a small checkpoint says once that the window slid."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console
from safetensors.torch import save_model
from text_factory import article

from gristmill_base.errors import UserError
from model.config import preset
from model.generate import Sampling, choose, generate
from model.gpt import GPT
from model.kv_cache import KVCache
from tokenizer import train_bpe
from tokenizer.files import fingerprint
from train.generate_command import run_generate

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


def sliding_greedy(model: GPT, prompts: list[list[int]], steps: int) -> tuple[list[list[int]], int]:
    """The documented rule without a cache, each row in a forward pass of its own: a row's window starts as its
    prompt's last seq_len tokens and takes each chosen token; when a window would feed more than the context,
    it keeps its last 3/4 of the context (each row on its own). The new tokens and the number of slides."""
    seq_len = model.config.seq_len
    windows, outputs, slides = [p[-seq_len:] for p in prompts], [[] for _ in prompts], 0
    for _ in range(steps):
        for window, output in zip(windows, outputs, strict=True):
            token = int(model(torch.tensor([window]))[0, -1].argmax())
            window.append(token)
            output.append(token)
        if max(len(w) for w in windows) > seq_len:
            windows, slides = [w[-(3 * seq_len // 4) :] if len(w) > seq_len else w for w in windows], slides + 1
    return outputs, slides


def test_generation_slides_past_the_context_as_a_forward_pass_over_the_window(model: GPT) -> None:
    kept: list[int] = []
    new = generate(model, [[5, 17, 300, 2]], 150, GREEDY, stop_ids=set(), on_slide=kept.append)[0]
    expected, slides = sliding_greedy(model, [[5, 17, 300, 2]], 150)
    assert len(new) == 150 and kept == [36] and slides >= 9
    assert new == expected[0]


def test_a_prompt_longer_than_the_context_keeps_its_last_tokens(model: GPT) -> None:
    prompt = [(7 * i) % 500 + 1 for i in range(70)]
    kept: list[int] = []
    new = generate(model, [prompt], 30, GREEDY, stop_ids=set(), on_slide=kept.append)[0]
    assert kept == [48] and new == sliding_greedy(model, [prompt], 30)[0][0]
    assert new[:1] == uncached_greedy(model, prompt[-48:], 1)[0]


def test_a_batch_of_different_lengths_gives_each_row_its_tokens_alone_and_stopped_rows_do_no_harm(model: GPT) -> None:
    prompts = [[(3 * i) % 400 + 1 for i in range(40)], [400, 12, 9], [(11 * i) % 450 + 2 for i in range(60)]]
    expected, slides = sliding_greedy(model, prompts, 80)
    assert slides >= 5
    assert generate(model, prompts, 80, GREEDY, stop_ids=set()) == expected
    assert expected == [generate(model, [prompt], 80, GREEDY, stop_ids=set())[0] for prompt in prompts]
    stop = expected[1][50]  # row 1 stops after slides; the others go on (or stop at their own first `stop`)
    stopped = generate(model, prompts, 80, GREEDY, stop_ids={stop})
    assert stopped == [row[: row.index(stop)] if stop in row else row for row in expected]


def test_requests_that_fit_the_context_never_slide(model: GPT) -> None:
    kept: list[int] = []
    prompt = [(5 * i) % 300 + 1 for i in range(40)]
    new = generate(model, [prompt], 9, GREEDY, stop_ids=set(), on_slide=kept.append)[0]  # 40 + 8 fed: the context
    assert new == uncached_greedy(model, prompt, 9)[0] and kept == []
    assert generate(model, [prompt], 10, GREEDY, stop_ids=set(), on_slide=kept.append)[0][:9] == new
    assert kept == [36]


def test_edges_of_the_context_and_of_temperature(model: GPT) -> None:
    assert len(generate(model, [[1] * 47], 2, GREEDY, stop_ids=set())[0]) == 2  # the 2nd new token is never fed
    assert len(generate(model, [[1] * 48], 1, GREEDY, stop_ids=set())[0]) == 1
    with pytest.raises(ValueError, match="max_new_tokens 0"):
        generate(model, [[1]], 0, GREEDY, stop_ids=set())
    logits = torch.tensor([[3.0, 1.0, 2.0]])
    assert choose(logits, Sampling(temperature=1e-40)).item() == 0  # no overflow to nan
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="temperature"):
            Sampling(temperature=bad)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A step folder: a random tiny GPT of context 32 over a small BPE tokenizer. The head's end-of-text row is
    zero, so greedy decoding (whose top logit is > 0 among 300 random ones) never stops early."""
    folder = tmp_path_factory.mktemp("checkpoint")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n\n".join(p for seed in range(4) for p in article(seed, paragraphs=4)))
    tokenizer = train_bpe([corpus], vocab_size=300, special_tokens=["<|endoftext|>"], warn=False)
    tokenizer.save(folder / "tokenizer")
    eos = tokenizer.special_ids["<|endoftext|>"]
    torch.manual_seed(0)
    model = GPT(preset("tiny", vocab_size=eos + 1, seq_len=32, kernels="torch"))
    assert model.head is not None
    with torch.no_grad():
        model.head.weight[eos] = 0
    step = folder / "step-000001"
    step.mkdir()
    save_model(model, str(step / "model.safetensors"))
    config = {"model": model.config.to_dict(), "tokenizer": str(folder / "tokenizer"), "eos_id": eos,
              "tokenizer_sha256": fingerprint(folder / "tokenizer")}  # fmt: skip
    (step / "config.json").write_text(json.dumps(config))
    return step


def generate_text(checkpoint: Path, **options: Any) -> tuple[list[str], str]:
    out = io.StringIO()
    completions = run_generate(str(checkpoint), max_new_tokens=100, sampling=GREEDY, device="cpu",
                               console=Console(file=out, width=200), **options)  # fmt: skip
    return completions, out.getvalue()


def test_the_command_says_once_that_the_window_slid(checkpoint: Path, tmp_path: Path) -> None:
    note = "note: the model's context is 32 tokens: generation goes on over the last"
    completions, out = generate_text(checkpoint, prompt="The mill")
    assert out.count(note) == 1 and f"{note} 24 (the oldest tokens dropped)\n" in out
    assert "\n" + note in out.split("The mill", 1)[1]  # mid-stream, on a line of its own
    assert "1 prompt(s), 100 new tokens" in out and completions[0]

    long = "The miller grinds the grain every morning. " * 8
    _, out = generate_text(checkpoint, prompt=long)
    assert out.count(note) == 1 and out.index(f"{note} 32 (") < out.index(long[:40])  # cut: said before the stream
    assert "1 prompt(s), 100 new tokens" in out

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The mill\nA sack of flour\nWater\n")
    completions, out = generate_text(checkpoint, prompt_file=str(prompts), batch_size=2)  # two batches, each slides
    assert out.count(note) == 1 and "3 prompt(s), 300 new tokens" in out and len(completions) == 3


def test_the_command_checks_its_inputs_before_printing(checkpoint: Path, tmp_path: Path) -> None:
    for options, message in (
        ({"prompt": "x", "max_new_tokens": 0}, "--max-new-tokens 0"),
        ({"prompt_file": str(tmp_path / "missing.txt")}, "--prompt-file"),
        ({"prompt": "x", "tokenizer_dir": str(tmp_path)}, "not a tokenizer"),
    ):
        out = io.StringIO()
        with pytest.raises(UserError, match=message):
            run_generate(str(checkpoint), console=Console(file=out), device="cpu", **options)
        assert out.getvalue() == ""
