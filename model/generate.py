"""Text generation from a trained GPT: batched prompts (left padded), a KV cache, and sampling with temperature,
top-k and top-p (nucleus), reproducible with a seed.

Every prompt is fed after the tokenizer's end-of-text token: in packed training data each document follows
the previous one's EOS, so that is the context in which the model learned how documents begin. A row stops at
a stop token (EOS) or after `max_new_tokens`.

Generation may run past the model's context: the model sees only the latest tokens, as nanoGPT crops its
input to the last `seq_len`. A prompt longer than the context keeps its last `seq_len` tokens. When the cache
is full and another token must be fed, a fresh cache is filled, left padded as the prompts were, and
generation goes on: a row whose window (with the token just chosen) exceeds the context keeps its last `keep`
tokens (3/4 of the context: prompt and new tokens alike); a shorter row (one with padding) keeps all of its
own, so every row gives the tokens it gives alone, whatever batch it is in. A cache
cannot just drop its oldest token (every later position's keys and values were computed with it in view),
and a rebuild costs one prefill, so sliding by a quarter of the context at a time rather than by one token
keeps that cost to one prefill per `seq_len / 4` new tokens. Positions count from each window's first token,
so after a slide the model sees what a forward pass over the window gives. Requests that fit the context
never slide: they give the same tokens as before sliding existed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from model.gpt import GPT
from model.kv_cache import KVCache


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.8  # 0: greedy
    top_k: int | None = None  # keep the k most likely tokens
    top_p: float | None = None  # keep the smallest set of most likely tokens whose probability reaches p

    def __post_init__(self) -> None:
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ValueError(f"temperature {self.temperature}: must be a number >= 0")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k {self.top_k}: must be >= 1")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")


def choose(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None = None) -> torch.Tensor:
    """The next token of each row of logits [batch, vocab]."""
    if sampling.temperature == 0:
        return logits.argmax(-1)
    logits = logits.float()
    logits = (logits - logits.max(-1, keepdim=True).values) / sampling.temperature  # a tiny T gives -inf, not nan
    if sampling.top_k is not None and sampling.top_k < logits.shape[-1]:
        kth = torch.topk(logits, sampling.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p is not None and sampling.top_p < 1:
        ordered, order = torch.sort(logits, dim=-1, descending=True)
        probabilities = ordered.softmax(-1)
        before = probabilities.cumsum(-1) - probabilities  # mass of the more likely tokens
        ordered = ordered.masked_fill(before >= sampling.top_p, float("-inf"))  # the most likely always stays
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, ordered)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(
    model: GPT,
    prompts: list[list[int]],
    max_new_tokens: int,
    sampling: Sampling,
    stop_ids: set[int],
    seed: int = 0,
    on_step: Callable[[list[int | None]], None] | None = None,
    on_slide: Callable[[int], None] | None = None,
) -> list[list[int]]:
    """New tokens for each prompt (stop token excluded). `on_step` gets, after each step, each row's new token
    (None for rows already stopped): for streaming. `on_slide` gets, the first time the window slides (a
    prompt cut to the context, or a full cache rebuilt), the number of tokens kept: for a note."""
    if not prompts or any(not p for p in prompts):
        raise ValueError("every prompt needs at least one token")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens {max_new_tokens}: must be >= 1")
    seq_len = model.config.seq_len
    keep = max(1, 3 * seq_len // 4)
    rows = [p[-seq_len:] for p in prompts]  # each row's window: what the cache holds, then the token just chosen
    slid = any(len(p) > seq_len for p in prompts)
    if slid and on_slide is not None:
        on_slide(seq_len)
    generator = torch.Generator(model.embedding.weight.device).manual_seed(seed)
    model.eval()
    cache, logits = _prefill(model, rows, max_new_tokens - 1)  # the last new token is never fed back
    outputs: list[list[int]] = [[] for _ in prompts]
    running = [True] * len(prompts)
    for step in range(max_new_tokens):
        chosen = choose(logits, sampling, generator)
        emitted: list[int | None] = []
        for row, token in enumerate(chosen.tolist()):
            rows[row].append(token)
            if running[row] and token in stop_ids:
                running[row] = False
            emitted.append(token if running[row] else None)
            if running[row]:
                outputs[row].append(token)
        if on_step is not None:
            on_step(emitted)
        if not any(running) or step + 1 == max_new_tokens:
            break
        if cache.filled == cache.keys.shape[3]:  # full: the rows whose window now exceeds the context slide
            rows = [r[-keep:] if len(r) > seq_len else r for r in rows]  # the others keep theirs, as alone
            if not slid and on_slide is not None:
                on_slide(keep)
            slid = True
            cache, logits = _prefill(model, rows, max_new_tokens - step - 2)
        else:
            logits = model.next_logits(chosen[:, None], cache)
    return outputs


def _prefill(model: GPT, rows: list[list[int]], then: int) -> tuple[KVCache, torch.Tensor]:
    """A new cache holding the rows (left padded) with room for `then` more tokens, as far as the context
    allows; the logits after each row."""
    device = model.embedding.weight.device
    longest = max(len(r) for r in rows)
    pads = torch.tensor([longest - len(r) for r in rows], device=device)
    tokens = torch.tensor([[0] * (longest - len(r)) + r for r in rows], device=device)
    cache = KVCache(model.config, pads, min(model.config.seq_len, longest + then), model.embedding.weight.dtype)
    return cache, model.next_logits(tokens, cache)
