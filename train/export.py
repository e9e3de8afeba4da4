"""`gristmill export --format hf`: a checkpoint as a Hugging Face `transformers` folder.

gristmill's GPT maps onto two stock architectures: without QK-norm it is Llama (`LlamaForCausalLM`), with
QK-norm (RMSNorm over each head's q and k before RoPE) it is Qwen3 (`Qwen3ForCausalLM`). Both share the
rest: pre-norm RMSNorm blocks, RoPE over (first half, second half) pairs, grouped-query attention without
biases, a SwiGLU MLP, a tied or separate head. A ReLU^2 MLP or a logit soft-cap has no counterpart there, and
is refused with the reason rather than exported as something that computes different logits.

The folder holds `config.json`, `model.safetensors` (fp32, the checkpoint's tensors renamed),
`generation_config.json` and the tokenizer: its `tokenizer.json` as trained, with a post-processor that puts the
end-of-text token first (see `starting_documents_with`), plus `tokenizer_config.json`. A
model with rows for the chat tokens (fine-tuned) also gets the chat format as `chat_template` (transformers'
`apply_chat_template` then gives gristmill's ids) and the turn end as a stop token.

The tokenizer written is the one the model was trained with, with an id for each embedding row: a tokenizer
extended since (`gristmill tokenizer add-special` on a pretrained model's folder) is written without the tokens
added after training, which the model has no rows for (transformers would fail on them with an IndexError).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from gristmill_base.atomic import folder_atomic, write_json_atomic, write_text_atomic
from gristmill_base.errors import UserError
from model.config import GPTConfig
from model.gpt import GPT
from tokenizer import Tokenizer
from tokenizer.chat import CHAT_TOKENS, END, TEMPLATE
from tokenizer.files import fingerprint
from tokenizer.hf_json import hf_text
from train.checkpoint import read_model
from train.generate_command import checkpoint_eos, tokenizer_folder

LAYER_NAMES = {
    "attention_norm.weight": "input_layernorm.weight",
    "attention.q.weight": "self_attn.q_proj.weight",
    "attention.k.weight": "self_attn.k_proj.weight",
    "attention.v.weight": "self_attn.v_proj.weight",
    "attention.out.weight": "self_attn.o_proj.weight",
    "attention.q_norm.weight": "self_attn.q_norm.weight",
    "attention.k_norm.weight": "self_attn.k_norm.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
    "mlp.gate.weight": "mlp.gate_proj.weight",
    "mlp.up.weight": "mlp.up_proj.weight",
    "mlp.down.weight": "mlp.down_proj.weight",
}


def hf_name(name: str) -> str:
    """The transformers name of a gristmill parameter."""
    if name == "embedding.weight":
        return "model.embed_tokens.weight"
    if name == "norm.weight":
        return "model.norm.weight"
    if name == "head.weight":
        return "lm_head.weight"
    _, layer, rest = name.split(".", 2)  # blocks.<i>.<rest>
    return f"model.layers.{layer}.{LAYER_NAMES[rest]}"


def hf_config(config: GPTConfig, eos_id: int | None) -> dict[str, Any]:
    if config.mlp != "swiglu":
        raise UserError("export --format hf: mlp = 'relu2' has no Llama / Qwen3 counterpart (their MLP is SwiGLU)")
    if config.logit_softcap:
        raise UserError("export --format hf: logit_softcap has no Llama / Qwen3 counterpart")
    qwen3 = config.qk_norm
    settings: dict[str, Any] = {
        "architectures": ["Qwen3ForCausalLM" if qwen3 else "LlamaForCausalLM"],
        "model_type": "qwen3" if qwen3 else "llama",
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.hidden,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.kv_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.seq_len,
        "rms_norm_eps": config.norm_eps,
        "rope_theta": config.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "tie_word_embeddings": config.tie_embeddings,
        "initializer_range": 0.02,
        "torch_dtype": "float32",
        "use_cache": True,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
    }
    if qwen3:
        settings.update({"use_sliding_window": False, "sliding_window": None, "max_window_layers": config.n_layers})
    else:
        settings.update({"mlp_bias": False, "pretraining_tp": 1})
    return settings


def hf_weights(model: GPT) -> dict:
    return {hf_name(name): tensor.detach().float().contiguous() for name, tensor in model.state_dict().items()}


def check_output(final: Path, sources: list[Path]) -> None:
    """`--output` may be new or a previous export (replaced); never a checkpoint, a file or another folder."""
    resolved = final.resolve()
    for source in sources:
        if resolved == source.resolve() or source.resolve() in resolved.parents:
            raise UserError(f"--output {final}: inside the checkpoint it exports; choose another folder")
    if final.exists() and not final.is_dir():
        raise UserError(f"--output {final}: is a file")
    if final.is_dir() and any(final.iterdir()):
        try:
            previous = "architectures" in json.loads((final / "config.json").read_text())
        except (OSError, ValueError):
            previous = False
        if not previous:
            raise UserError(f"--output {final}: a folder that is not an earlier export; choose a new or empty one")


def trained_tokenizer(tokenizer: Tokenizer, rows: int, extended: bool, where: str) -> Tokenizer:
    """The tokenizer with an id for each of the model's `rows`: `tokenizer` itself where it has no more ids; an
    extension of the one the model was trained with (`extended`: special tokens added at new ids, every other id
    kept) without the tokens added since; else a UserError saying what to pass."""
    if tokenizer.vocab_size <= rows:
        return tokenizer
    definition = tokenizer.definition
    later = [added for added in definition.added if added.id >= rows]
    if extended and all(added.special for added in later) and max(definition.vocab, default=-1) < rows:
        names = ", ".join(added.content for added in later)
        print(
            f"note: {where} has {len(later)} token(s) added since this model was trained ({names}): the export "
            f"holds the tokenizer it was trained with ({rows:,} ids); fine-tune (gristmill finetune sft) to use them",
            file=sys.stderr,
        )
        return Tokenizer.from_definition(replace(definition, added=[a for a in definition.added if a.id < rows]))
    raise UserError(
        f"{where}: {tokenizer.vocab_size:,} ids for a model of {rows:,} embedding rows: pass --tokenizer with the "
        "tokenizer this model was trained with (or fine-tune it with the new tokens first: gristmill finetune sft)"
    )


def export_hf(checkpoint: str, output: str, tokenizer_dir: str | None = None) -> Path:
    """Write the Hugging Face folder `output` (atomically: built beside it, then renamed into place)."""
    try:
        model, config, folder = read_model(Path(checkpoint))
    except ValueError as error:
        raise UserError(f"--checkpoint: {error}") from None
    final = Path(output)
    check_output(final, [Path(checkpoint), folder])
    tokenizer_path = tokenizer_folder(config, tokenizer_dir)
    loaded = Tokenizer.load(str(tokenizer_path))
    extended = config.get("tokenizer_sha256", "") not in ("", fingerprint(tokenizer_path))  # same_ids held
    where = f"--tokenizer {tokenizer_dir}" if tokenizer_dir else f"the checkpoint's tokenizer {tokenizer_path}"
    tokenizer = trained_tokenizer(loaded, model.config.vocab_size, extended, where)
    eos_id = checkpoint_eos(config, tokenizer)
    settings = hf_config(model.config, eos_id)
    eos = next((token for token, added in tokenizer.added.items() if added.id == eos_id), None)
    special = {name: eos for name in ("bos_token", "eos_token")} if eos else {}
    stop_ids = [eos_id]
    chat_ids = [tokenizer.special_ids.get(token, model.config.vocab_size) for token in CHAT_TOKENS]
    if max(chat_ids) < model.config.vocab_size:  # a chat model (not a base model whose tokenizer has them since)
        special["chat_template"] = TEMPLATE
        stop_ids = [tokenizer.special_ids[END], *stop_ids]
    with folder_atomic(final) as work:
        save_file(hf_weights(model), str(work / "model.safetensors"), metadata={"format": "pt"})
        write_json_atomic(work / "config.json", settings)
        stops = stop_ids[0] if len(stop_ids) == 1 else stop_ids
        write_json_atomic(work / "generation_config.json", {"bos_token_id": eos_id, "eos_token_id": stops})
        source = tokenizer_path / "tokenizer.json" if tokenizer_path.is_dir() else tokenizer_path
        if tokenizer is loaded and source.name == "tokenizer.json" and source.is_file():  # the file packed with
            text = source.read_text(encoding="utf-8")
        else:  # a rank file, GPT-2's files or the tokenizer before add-special: as HF's tokenizer.json, same ids
            text = hf_text(tokenizer.definition)
        write_text_atomic(work / "tokenizer.json", starting_documents_with(text, eos, eos_id) if eos else text)
        tokenizer_config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": model.config.seq_len,
            "clean_up_tokenization_spaces": False,
            **special,
        }
        write_json_atomic(work / "tokenizer_config.json", tokenizer_config)
    return final


def starting_documents_with(tokenizer_json: str, eos: str, eos_id: int) -> str:
    """The tokenizer.json with a post-processor that puts the end-of-text token before every text, as a Llama
    tokenizer puts its BOS: `gristmill pack` ends every document with it, so in training each document began
    right after one. `tokenizer(prompt)` then gives the context the model learnt, and lm-evaluation-harness's
    default (the tokenizer's own special tokens) scores the export as `gristmill eval` scores the checkpoint.
    `add_special_tokens=False`, and `apply_chat_template`, which passes it, add nothing."""
    document = json.loads(tokenizer_json)
    first = {"SpecialToken": {"id": eos, "type_id": 0}}
    template = {
        "type": "TemplateProcessing",
        "single": [first, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [first, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {eos: {"id": eos, "ids": [eos_id], "tokens": [eos]}},
    }
    old = document.get("post_processor") or {}
    steps = old.get("processors", []) if old.get("type") == "Sequence" else [old] if old else []
    kept = [step for step in steps if step.get("type") == "ByteLevel"]  # offsets only; a template (a BOS the
    # vocabulary's own model was trained with) is replaced: this model saw end-of-text before its documents
    document["post_processor"] = {"type": "Sequence", "processors": [*kept, template]} if kept else template
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def describe(folder: Path) -> str:
    settings = json.loads((folder / "config.json").read_text())
    layers, vocab = settings["num_hidden_layers"], settings["vocab_size"]
    chat = ", chat template" if "chat_template" in json.loads((folder / "tokenizer_config.json").read_text()) else ""
    return f"{folder}: {settings['architectures'][0]}, {layers} layers, vocab {vocab:,}{chat}"
