"""For the evaluation tests: a hand-built scoring model (bytes are tokens, and the next byte's log-probability
depends only on the byte before it, through a fixed table, so its log-likelihoods can be summed by hand), the
multiple-choice task scored during training and after it, and tiny randomly initialised Hugging Face models
(Llama architecture, a real byte-level BPE tokenizer that puts its BOS first or adds nothing)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

from train.eval.models import TokenScorer

PREFIX = 0
TASK_ROWS = [
    {
        "id": "m1",
        "context": "The old miller",
        "choices": ["repaired the mill", "sold the river", "photographed"],
        "gold": 0,
    },
    {
        "id": "m2",
        "context": "In the morning the baker",
        "choices": ["counted the loaves", "questioned the sky"],
        "gold": 0,
    },
    {"id": "m3", "context": "", "choices": ["the shepherd", "a weaver from the hills"], "gold": 1},
]


class ByteBigram(TokenScorer):
    def __init__(self, max_length: int = 64, seed: int = 0, table: np.ndarray | None = None):
        super().__init__("byte-bigram", PREFIX, max_length, torch.device("cpu"), bf16=False)
        chosen = np.random.default_rng(seed).normal(0, 2, (256, 256)) if table is None else table
        self.table = torch.from_numpy(chosen)

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def _logits(self, inputs: torch.Tensor, batch_index: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.table[inputs[batch_index, positions]]

    def by_hand(self, tokens: list[int]) -> float:
        """The summed log-probability of tokens[1:] given the token before each."""
        logprobs = torch.log_softmax(self.table, dim=-1)
        return float(sum(logprobs[a, b] for a, b in pairwise(tokens)))


def tiny_hf_model(folder: Path, texts: list[str], adds_bos: bool) -> Path:
    """A Llama with random weights (seed 0, so every call gives the same model) and a byte-level BPE tokenizer
    trained on `texts`, whose encode puts `<s>` first when `adds_bos`, saved as a Hugging Face folder."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>"], initial_alphabet=alphabet)
    bpe.train_from_iterator(texts, trainer)
    if adds_bos:
        bpe.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=bpe.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, bos_token_id=0, eos_token_id=1,
        initializer_range=0.5,  # far from uniform, so a token more or less before a context shows
    )  # fmt: skip
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def harness_loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """One (context, continuation) pair as lm-evaluation-harness 0.4 scores it with this tokenizer."""
    if context == "":
        prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        context_ids, continuation_ids = [prefix], tokenizer.encode(continuation, add_special_tokens=False)
    else:
        spaces = len(context) - len(context.rstrip())
        context, continuation = context[: len(context) - spaces], context[len(context) - spaces :] + continuation
        context_ids = tokenizer.encode(context)
        continuation_ids = tokenizer.encode(context + continuation)[len(context_ids) :]
    tokens = torch.tensor([context_ids + continuation_ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=tokens[:, :-1]).logits[0].double(), dim=-1)
    first = len(context_ids) - 1
    return float(sum(logprobs[first + i, t] for i, t in enumerate(continuation_ids)))
