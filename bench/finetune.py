"""Fine-tuning side by side: `gristmill finetune sft` / `dpo` vs TRL's `SFTTrainer` / `DPOTrainer`, on CPU.

Both start from the same weights: a randomly initialised gristmill GPT (default d_model 256, 4 layers, 4
heads, context 512, a gristmill BPE tokenizer of ~8k tokens with the chat tokens added by `gristmill
tokenizer add-special --chat`), saved as a checkpoint and exported with `gristmill export --format hf`
(Qwen3ForCausalLM with gristmill's chat template) for TRL; the report says how far the two models' logits
are apart. Each run is one child process (wall time and sampled peak RSS, `common.run_child`) with the same
number of torch threads (`--threads`: OMP/MKL variables and `torch.set_num_threads`), fp32, no
`torch.compile`, no gradient checkpointing, one forward pass per optimizer step (no accumulation).

Data, two sets of each kind: `bundled` = recipes/samples/chat (48 short conversations, 96 preference pairs),
`synthetic` = --conversations multi-turn conversations made deterministically from tests/text_factory.py
sentences (generated questions, answers of 1 to ~30 sentences, lengths spread up to the context) and one
preference pair for each of the first --pair-count conversations (the last answer chosen; rejected: a
dismissive reply or the answer's first sentence cut short). Only records that fit the context (<= seq_len
tokens) are kept, so nothing is truncated or skipped on either side. The token ids and learned positions TRL
prepares (through the exported chat template) are compared with gristmill's rendering of every record it
reads: they must be identical.

Held equal, SFT:
  - weights, token ids, learned tokens (assistant content and its turn end; TRL: `assistant_only_loss` with
    gristmill's template plus `{% generation %}` markers, which renders the same text), loss = mean over the
    step's learned tokens;
  - optimizer steps (--sft-steps), torch.optim.AdamW on both (TRL `optim="adamw_torch"`, not its fused
    default) with lr --lr held constant, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on matrices only (norm
    gains excluded on both), gradient clipping at 1.0; TRL's own defaults bf16 and activation checkpointing off;
  - the data order: TRL reads, sequentially, the conversations gristmill's steps take, in the order its loader
    packs them (a seeded permutation per epoch); only those, so TRL tokenizes fewer than gristmill, which
    renders the whole file (a second or less of `wall s`);
  - the batch: gristmill takes --windows packed windows of seq_len per step (a varying number of
    conversations); TRL padded (`packing=False`) takes the mean number of conversations of gristmill's steps,
    each batch padded to its longest; TRL packed (`packing=True`, bfd, padding-free) takes --windows windows
    of seq_len, as gristmill. So steps and data are equal, the tokens of a step only about equal: compare
    tokens/s (real tokens: the conversations' own, no padding; each conversation counted as its full length).
  - first-step sanity: TRL's loss (its collator and loss) on exactly the conversations of gristmill's first
    step, from the same weights, vs gristmill's logged first-step loss.
Held equal, DPO: beta 0.1, sigmoid loss, --pairs pairs per step in gristmill's seeded order (TRL reads whole
epochs of pairs in that order, sequentially: the same batches at every step),
--dpo-steps steps, AdamW as above with lr --dpo-lr; the reference is a frozen copy (gristmill: the base
checkpoint loaded again; TRL: `ref_model=None`, loaded again from the same folder) or precomputed
(gristmill `dpo.precompute_reference`, TRL `precompute_ref_log_probs`, both over the whole training set
before the first step). Each batch is padded to its longest sequence on both sides. The first loss is
log 2 = 0.6931 on both (policy = reference). DPO starts from the same random base as SFT, not from an SFT
result (each side's would differ).

Times: `step s` is from the end of step 1 to the end of the last step (step 1, which carries the warm-up, is
left out on both sides; no evaluation or checkpoint falls inside it); `wall s` is the whole child process:
imports, tokenizing, model loading, reference precomputation and (gristmill) the final checkpoint included.
Ratios are gristmill's throughput / TRL's (above 1: gristmill faster). The runs are sequential and take every
core they are given, so the report also says which share of the CPUs other processes took meanwhile (from
/proc/stat less the children's own CPU time): above a few per cent the figures are skewed.

Usage (from the repository root, after `pip install -e ".[dev,bench]"`):
  python bench/finetune.py [--threads 2] [--sft-steps 8] [--dpo-steps 8] [--windows 4] [--pairs 8] \\
      [--conversations 400] [--pair-count 200] [--d-model 256] [--layers 4] [--heads 4] [--seq-len 512] \\
      [--vocab 8192] [--sets bundled synthetic] [--output bench/results/finetune.txt]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import common  # first: thread limits for numeric libraries

sys.path.remove(str(Path(__file__).resolve().parent))  # bench/tokenizer.py and bench/train.py would hide packages
ROOT = Path(__file__).resolve().parents[1]

SAMPLES = ROOT / "recipes" / "samples" / "chat"
EOS = "<|endoftext|>"
# gristmill's chat format (tokenizer/chat.py TEMPLATE) with `{% generation %}` around what gristmill learns
# (an assistant message's content and its turn end), for TRL's assistant_only_loss; it renders the same text.
TRAINING_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{- raise_exception('unknown role: ' + message['role']) -}}"
    "{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|assistant|>' -}}{%- generation -%}{{- message['content'] + '<|end|>' -}}{%- endgeneration -%}"
    "{%- else -%}"
    "{{- '<|' + message['role'] + '|>' + message['content'] + '<|end|>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>' -}}{%- endif -%}"
)
QUESTIONS = [
    "What happened {place}?",
    "Tell me what {subject} did.",
    "Why did {subject} care about {object}?",
    "Can you describe {object} for me?",
    "What do the records say about {subject}?",
    "Summarise the day, please: I only know it was {place}.",
    "Who else was there?",
    "And what happened after that?",
    "Give me more detail, please.",
    "Is there anything else about {object}?",
]
SYSTEMS = [
    "You are the village archivist. Answer from the records, in full paragraphs.",
    "You are a patient storyteller. Keep to what the ledgers say.",
]
UNHELPFUL = [
    "I don't know.",
    "Look it up yourself.",
    "That is not something I want to talk about.",
    "Ask someone else.",
    "I would rather not say.",
]
BETAS, EPS, WEIGHT_DECAY, CLIP, SEED = (0.9, 0.95), 1e-8, 0.1, 1.0, 0


# ---------------------------------------------------------------------------------------------------- data


def synthetic_conversations(count: int, max_sentences: int) -> list[dict[str, Any]]:
    """`count` conversations, deterministic: 1-4 turns, a system prompt in a third of them, answers made of
    text_factory sentences (four to a paragraph); the total length drawn uniformly up to ~the context."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("text_factory", ROOT / "tests" / "text_factory.py")
    assert spec and spec.loader
    tf = importlib.util.module_from_spec(spec)  # by path: tests/ on sys.path would hide the gristmill package
    spec.loader.exec_module(tf)
    conversations = []
    for number in range(count):
        rng = random.Random(f"conversation-{number}")
        turns = rng.choice([1, 1, 2, 2, 3, 4])
        sentences = max(turns, round(rng.uniform(0.04, 1.0) * max_sentences))
        cuts = sorted(rng.sample(range(1, sentences), turns - 1)) if turns > 1 else []
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, sentences], strict=True)]
        messages = [{"role": "system", "content": rng.choice(SYSTEMS)}] if rng.random() < 1 / 3 else []
        for size in sizes:
            words = {
                "subject": rng.choice(tf.SUBJECTS),
                "object": rng.choice(tf.OBJECTS),
                "place": rng.choice(tf.PLACES),
            }
            said = [tf.sentence(rng) for _ in range(size)]
            answer = "\n\n".join(" ".join(said[i : i + 4]) for i in range(0, size, 4))
            messages += [{"role": "user", "content": rng.choice(QUESTIONS).format(**words)},
                         {"role": "assistant", "content": answer}]  # fmt: skip
        conversations.append({"messages": messages})
    return conversations


def synthetic_pairs(conversations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One pair per conversation: the history as prompt, its last answer chosen; rejected: a dismissive
    reply (even numbers) or the answer's first sentence and a shrug (odd)."""
    pairs = []
    for number, record in enumerate(conversations):
        *prompt, last = record["messages"]
        rng = random.Random(f"pair-{number}")
        first = last["content"].split(". ")[0].rstrip(".")
        rejected = rng.choice(UNHELPFUL) if number % 2 == 0 else f"{first}. I do not remember the rest."
        pairs.append({"prompt": prompt, "chosen": last["content"], "rejected": rejected})
    return pairs


def openai_form(record: dict[str, Any]) -> dict[str, Any]:
    """A conversation as {"messages": [...]}, from either form gristmill reads (TRL's dataset needs one)."""
    if "messages" in record:
        return {"messages": record["messages"]}
    roles = {"human": "user", "gpt": "assistant", "system": "system"}
    return {"messages": [{"role": roles[m["from"]], "content": m["value"]} for m in record["conversations"]]}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- model set-up


def build_base(work: Path, args: argparse.Namespace, texts: list[str]) -> tuple[Path, Path, Path]:
    """(tokenizer, checkpoint, HF folder) under `work`, built once per set-up (reused when the key matches)."""
    key = json.dumps([args.vocab, args.seq_len, args.d_model, args.layers, args.heads, args.conversations,
                      hashlib.sha256("\n".join(texts).encode()).hexdigest()])  # fmt: skip
    tokenizer_path, base, hf = work / "tokenizer", work / "base", work / "hf"
    stamp = work / "setup.json"
    if stamp.is_file() and stamp.read_text() == key and (hf / "config.json").is_file():
        return tokenizer_path, base, hf
    import torch

    from gristmill.cli import main as gristmill
    from model.config import GPTConfig
    from model.gpt import GPT
    from tokenizer import Tokenizer, train_bpe
    from tokenizer.chat import CHAT_TOKENS
    from tokenizer.files import fingerprint
    from train import checkpoint

    for path in (tokenizer_path, base, hf):
        shutil.rmtree(path, ignore_errors=True)
    stamp.unlink(missing_ok=True)
    corpus = work / "corpus.txt"  # the conversations' texts and the repository's prose
    prose = [(ROOT / "README.md").read_text(), *(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))]
    corpus.write_text("\n".join(texts + prose), encoding="utf-8")
    train_bpe([corpus], args.vocab - len(CHAT_TOKENS), [EOS], warn=False).save(tokenizer_path)
    assert gristmill(["tokenizer", "add-special", str(tokenizer_path), "--chat"]) == 0
    tokenizer = Tokenizer.load(tokenizer_path)
    torch.manual_seed(SEED)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, seq_len=args.seq_len, d_model=args.d_model,
                       n_layers=args.layers, n_heads=args.heads)  # fmt: skip
    meta = {"model": config.to_dict(), "tokenizer": str(tokenizer_path),
            "tokenizer_sha256": fingerprint(tokenizer_path), "eos_id": tokenizer.special_ids[EOS]}  # fmt: skip
    checkpoint.save(base, 0, GPT(config).state_dict(), {}, meta, {"data": {}})
    assert gristmill(["export", "--checkpoint", str(base), "--format", "hf", "--output", str(hf)]) == 0
    stamp.write_text(key)
    return tokenizer_path, base, hf


def logits_gap(base: Path, hf: Path, ids: list[int]) -> float:
    """Largest |gristmill logit - transformers logit| over one sequence, fp32."""
    import torch
    from transformers import AutoModelForCausalLM

    from train.checkpoint import read_model

    ours, _, _ = read_model(base)
    theirs = AutoModelForCausalLM.from_pretrained(str(hf), dtype=torch.float32).eval()
    tokens = torch.tensor([ids])
    with torch.no_grad():
        return float((ours(tokens).float() - theirs(tokens).logits.float()).abs().max())


# ------------------------------------------------------------------------------- what gristmill will take


def sft_plan(rendered: list[Any], seq_len: int, windows: int, steps: int) -> list[list[int]]:
    """The conversation indices of each of gristmill's `steps` SFT steps (file order, no held-out part, seed
    SEED, one rank), as its ConversationLoader packs them; checked against the loader's own windows."""
    import numpy as np

    from train.finetune.sft import ConversationLoader, pack, windows_of

    loader = iter(ConversationLoader(rendered, seq_len, windows, 0, 0, 1, SEED))
    plan: list[list[int]] = []
    epoch = 0
    while len(plan) < steps:
        order = np.random.default_rng([SEED, epoch]).permutation(len(rendered))
        groups = pack(rendered, order, seq_len)
        for start in range(0, len(groups) // windows * windows, windows):
            batch = groups[start : start + windows]
            expected = next(loader)
            assert (windows_of(rendered, batch, seq_len, 0).inputs == expected.inputs).all(), "loader order changed"
            plan.append([index for group in batch for index in group])
            if len(plan) == steps:
                break
        epoch += 1
    return plan


def dpo_order(pairs: int, batch: int, steps: int) -> list[int]:
    """The pair indices gristmill's PairLoader takes over `steps` steps, in order."""
    from train.finetune.dpo import PairIds, PairLoader

    loader = iter(PairLoader([PairIds([0], [1], [2])] * pairs, batch, 0, 0, 1, SEED))
    return [int(i) for _ in range(steps) for i in next(loader).indices]


# ------------------------------------------------------------------------------------------------ children


def gristmill_child(kind: str, config: str, result: str, threads: int) -> None:
    """`gristmill finetune KIND CONFIG` in this process; the time each step's record is written is noted
    (a wrapper around MetricSinks.write that only reads the clock)."""
    import torch

    torch.set_num_threads(threads)
    from gristmill.cli import main
    from train import tracking

    times: list[float] = []
    write = tracking.MetricSinks.write

    def timed(self: Any, record: dict[str, Any]) -> None:
        times.append(time.perf_counter())
        write(self, record)

    tracking.MetricSinks.write = timed  # type: ignore[method-assign]
    code = main(["finetune", kind, config])
    Path(result).write_text(json.dumps({"code": code, "times": times, "threads": torch.get_num_threads()}))
    if code:
        raise SystemExit(code)


def trl_child(spec_path: str) -> None:
    """One TRL run as the spec says; writes step end times, the log history and checks to spec['result']."""
    spec = json.loads(Path(spec_path).read_text())
    import torch

    torch.set_num_threads(spec["threads"])
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            times.append(time.perf_counter())

    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32)
    common_args = {
        "output_dir": spec["out"], "max_steps": spec["steps"], "per_device_train_batch_size": spec["batch"],
        "gradient_accumulation_steps": 1, "learning_rate": spec["lr"], "lr_scheduler_type": "constant",
        "warmup_steps": 0, "optim": "adamw_torch", "adam_beta1": BETAS[0], "adam_beta2": BETAS[1],
        "adam_epsilon": EPS, "weight_decay": WEIGHT_DECAY, "max_grad_norm": CLIP, "bf16": False, "fp16": False,
        "activation_checkpointing": False, "logging_steps": 1, "save_strategy": "no", "eval_strategy": "no",
        "report_to": "none", "seed": SEED, "train_sampling_strategy": "sequential", "use_cpu": True,
        "dataloader_num_workers": 0, "disable_tqdm": True, "max_length": spec["seq_len"],
    }  # fmt: skip
    rows = read_jsonl(Path(spec["data"]))
    out: dict[str, Any] = {}
    if spec["kind"] == "sft":
        from trl import SFTConfig, SFTTrainer

        tokenizer.chat_template = TRAINING_TEMPLATE
        config = SFTConfig(**common_args, packing=spec["packing"], assistant_only_loss=True)
        trainer: Any = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                                  processing_class=tokenizer, callbacks=[Clock()])  # fmt: skip
        if spec["packing"]:
            out["seq_lengths"] = trainer.train_dataset.select_columns(["seq_lengths"]).to_dict()["seq_lengths"]
        else:  # rows are still the conversations, in order: ids and the first-step check
            prepared = trainer.train_dataset
            out["prepared"] = prepared.select_columns(["input_ids", "labels"]).to_dict()
            batch = trainer.data_collator([{k: prepared[i][k] for k in ("input_ids", "labels")}
                                           for i in range(spec["first"])])  # fmt: skip
            model.eval()
            with torch.no_grad():
                out["first_batch_loss"] = float(trainer.compute_loss(model, batch))
            model.train()
            trainer._metrics["eval"].clear()
    else:
        from trl import DPOConfig, DPOTrainer

        config = DPOConfig(**common_args, beta=spec["beta"], precompute_ref_log_probs=spec["precompute"],
                           precompute_ref_batch_size=spec["batch"])  # fmt: skip
        trainer = DPOTrainer(model=model, ref_model=None, args=config, train_dataset=Dataset.from_list(rows),
                             processing_class=tokenizer, callbacks=[Clock()])  # fmt: skip
        prepared = trainer.train_dataset
        out["prepared"] = prepared.select_columns(["prompt_ids", "chosen_ids", "rejected_ids"]).to_dict()
    trainer.train()
    out.update({"times": times, "log": trainer.state.log_history, "threads": torch.get_num_threads()})
    Path(spec["result"]).write_text(json.dumps(out))


# --------------------------------------------------------------------------------------------------- parent


def toml(values: dict[str, dict[str, Any]]) -> str:
    return "".join(f"[{s}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items()) + "\n"
                   for s, keys in values.items())  # fmt: skip


class Bench:
    def __init__(self, args: argparse.Namespace, report: common.Report, tokenizer: Path, base: Path, hf: Path):
        self.args, self.say, self.base, self.hf = args, report.say, base, hf
        from tokenizer import Tokenizer
        from tokenizer.chat import ChatFormat

        self.chat = ChatFormat(Tokenizer.load(tokenizer))
        self.runs = args.work / "runs"
        shutil.rmtree(self.runs, ignore_errors=True)
        self.runs.mkdir(parents=True)
        self.sft_rows: list[list[Any]] = []
        self.dpo_rows: list[list[Any]] = []
        self.ratios: list[str] = []
        self.checks: list[str] = []
        self.contention: list[tuple[float, str]] = []

    def env(self) -> None:
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
            os.environ[variable] = str(self.args.threads)  # the children's; the parent stays at one
        os.environ["TOKENIZERS_PARALLELISM"] = "false"

    def child(self, name: str, command: list[str]) -> common.Measured:
        """Run a child; note the share of the machine's CPU time that other processes took meanwhile."""
        self.env()
        busy, ours = busy_seconds(), children_seconds()
        measured = common.run_child([sys.executable, __file__, *command], self.runs / f"{name}.log")
        others = (busy_seconds() - busy) - (children_seconds() - ours)
        self.contention.append((max(others, 0.0) / (measured.wall_s * (os.cpu_count() or 1)), name))
        return measured

    def trl(self, label: str, spec_path: Path, spec: dict) -> tuple[common.Measured, dict]:
        """Run TRL's side in a child from its spec (written to `spec_path`); the measurement and its result."""
        spec_path.write_text(json.dumps(spec))
        measured = self.child(label, ["--child", "trl", str(spec_path)])
        return measured, json.loads(Path(spec["result"]).read_text())

    def messages(self, record: dict[str, Any]) -> list[Any]:
        from train.finetune.records import conversation

        return conversation(record, None)

    # ------------------------------------------------------------------------------------------------ SFT

    def sft(self, name: str, records: list[dict[str, Any]]) -> None:
        args = self.args
        rendered = [self.chat.render(self.messages(r)) for r in records]
        plan = sft_plan(rendered, args.seq_len, args.windows, args.sft_steps)
        sizes = [len(r.ids) for r in rendered]
        self.say(f"{name} SFT: {len(records):,} conversations of {min(sizes)}..{max(sizes)} tokens "
                 f"(median {statistics.median(sizes):.0f}), {sum(sizes):,} tokens; gristmill packs "
                 f"{statistics.mean(map(len, plan)):.1f} conversations per step on average "
                 f"({min(map(len, plan))}..{max(map(len, plan))})")  # fmt: skip
        folder = self.runs / f"{name}-sft"
        folder.mkdir()
        data = write_jsonl(folder / "conversations.jsonl", records)
        config = folder / "gristmill.toml"
        config.write_text(toml({
            "base": {"checkpoint": str(self.base)},
            "data": {"train": str(data), "val_fraction": 0.0, "seq_len": args.seq_len,
                     "micro_batch": args.windows, "global_batch": args.windows},
            "optim": {"lr": args.lr, "warmup": 0, "min_ratio": 1.0, "weight_decay": WEIGHT_DECAY,
                      "betas": list(BETAS), "grad_clip": CLIP},
            "run": {"steps": args.sft_steps, "output": str(folder / "gristmill"), "log_every": 1, "eval_every": 0,
                    "checkpoint_every": 0, "seed": SEED, "dtype": "fp32"},
        }))  # fmt: skip
        result = folder / "gristmill.json"
        measured = self.child(f"{name}-sft-gristmill", ["--child", "gristmill", "sft", str(config), str(result),
                                                        str(args.threads)])  # fmt: skip
        timed = json.loads(result.read_text())
        metrics = read_jsonl(folder / "gristmill" / "metrics.jsonl")
        losses = [m["loss"] for m in metrics]
        ours = self.sft_row("gristmill finetune sft", measured, timed["times"],
                            [sum(sizes[i] for i in step) for step in plan], [len(s) for s in plan], losses)  # fmt: skip
        # TRL reads the conversations of gristmill's steps, in gristmill's order (and only those)
        order = [index for step in plan for index in step]
        per_step = round(len(order) / len(plan))
        capacity = (len(plan) - 1) * args.windows * args.seq_len  # window positions of the timed steps
        fill = {"gristmill": sum(sizes[i] - 1 for step in plan[1:] for i in step) / capacity}
        trl_data = write_jsonl(folder / "trl.jsonl", [openai_form(records[i]) for i in order])
        theirs = []
        for packing in (False, True):
            label = "TRL SFTTrainer, packing (bfd)" if packing else "TRL SFTTrainer, padding"
            batch = args.windows if packing else per_step
            spec = {"kind": "sft", "model": str(self.hf), "data": str(trl_data), "batch": batch,
                    "steps": args.sft_steps, "lr": args.lr, "seq_len": args.seq_len, "packing": packing,
                    "threads": args.threads, "out": str(folder / f"trl-{int(packing)}"), "first": len(plan[0]),
                    "result": str(folder / f"trl-{int(packing)}.json")}  # fmt: skip
            measured, out = self.trl(f"{name}-sft-trl-{int(packing)}", folder / f"trl-{int(packing)}-spec.json", spec)
            steps_log = [e for e in out["log"] if "loss" in e and "num_tokens" in e]
            cumulative = [int(e["num_tokens"]) for e in steps_log]
            tokens = [b - a for a, b in zip([0, *cumulative], cumulative, strict=False)]
            if packing:  # sequential: step k takes packed rows k*batch ..; each row holds len(seq_lengths)
                counts = [len(lengths) for lengths in out["seq_lengths"]]
                conversations = [sum(counts[k * batch : (k + 1) * batch]) for k in range(len(tokens))]
                fill["TRL bfd"] = sum(tokens[1:]) / capacity
            else:  # sequential batches of `batch` rows, the last of each pass shorter (drop_last is off)
                rows = [order[i : i + batch] for _ in range(len(tokens)) for i in range(0, len(order), batch)]
                rows = rows[: len(tokens)]
                assert [sum(sizes[i] for i in r) for r in rows] == tokens, "TRL's batches are not the expected ones"
                conversations = [len(r) for r in rows]
                padded = sum(len(r) * max(sizes[i] for i in r) for r in rows[1:])
                fill["TRL padding"] = sum(tokens[1:]) / padded
            row = self.sft_row(label, measured, out["times"], tokens, conversations, [e["loss"] for e in steps_log])
            theirs.append((label, row))
            if not packing:
                self.check_sft(name, rendered, order, out)
                self.checks.append(f"{name} SFT first step, the same {len(plan[0])} conversations and weights: "
                                   f"gristmill loss {losses[0]:.5f}, TRL {out['first_batch_loss']:.5f} "
                                   f"(difference {abs(losses[0] - out['first_batch_loss']):.1e})")  # fmt: skip
        for label, row in theirs:
            self.ratios.append(f"{name} SFT tokens/s, gristmill / {label}: {ours[-1] / row[-1]:.2f}x")
        self.checks.append(f"{name} SFT real tokens per position of the timed steps: gristmill "
                           f"{100 * fill['gristmill']:.0f}% of its windows, TRL padding "
                           f"{100 * fill['TRL padding']:.0f}% of its padded batches, TRL bfd "
                           f"{100 * fill['TRL bfd']:.0f}% of its windows (padding-free: none computed)")  # fmt: skip

    def sft_row(self, label: str, measured: common.Measured, times: list[float], tokens: list[int],
                conversations: list[int], losses: list[float]) -> list[float]:  # fmt: skip
        """A table row (kept in self.sft_rows); returns [tokens/s] for the ratios."""
        seconds = times[-1] - times[0]
        timed_tokens = sum(tokens[1:])
        self.sft_rows.append([label, len(times) - 1, f"{sum(conversations[1:]):,}", f"{timed_tokens:,}",
                              f"{seconds:,.1f}", f"{timed_tokens / seconds:,.0f}", f"{measured.wall_s:,.1f}",
                              f"{measured.max_rss / 2**20:,.0f}", f"{losses[0]:.4f}", f"{losses[-1]:.4f}"])  # fmt: skip
        return [timed_tokens / seconds]

    def check_sft(self, name: str, rendered: list[Any], order: list[int], out: dict[str, Any]) -> None:
        prepared = out["prepared"]
        same = len(prepared["input_ids"]) == len(order) and all(
            ids == rendered[i].ids and labels == [t if learn else -100 for t, learn in
                                                  zip(rendered[i].ids, rendered[i].learn, strict=True)]
            for i, ids, labels in zip(order, prepared["input_ids"], prepared["labels"], strict=False)
        )  # fmt: skip
        self.checks.append(f"{name} SFT: TRL's token ids and learned positions equal gristmill's for all "
                           f"{len(order):,} conversations it reads: {'yes' if same else 'NO'}")  # fmt: skip

    # ------------------------------------------------------------------------------------------------ DPO

    def dpo(self, name: str, records: list[dict[str, Any]]) -> None:
        from train.finetune.records import preference

        args = self.args
        pairs = [preference(r, None) for r in records]
        ids = [self.pair_ids(p) for p in pairs]
        lengths = [len(prompt) + max(len(c), len(r)) for prompt, c, r in ids]
        self.say(f"{name} DPO: {len(pairs):,} pairs, prompt + longer answer {min(lengths)}..{max(lengths)} tokens "
                 f"(median {statistics.median(lengths):.0f})")  # fmt: skip
        folder = self.runs / f"{name}-dpo"
        folder.mkdir()
        data = write_jsonl(folder / "pairs.jsonl", records)
        order = dpo_order(len(pairs), args.pairs, args.dpo_steps)
        epochs = math.ceil(len(order) / (len(pairs) // args.pairs * args.pairs))
        full = dpo_order(len(pairs), args.pairs, epochs * (len(pairs) // args.pairs))  # whole epochs for precompute
        trl_rows = [{"prompt": [{"role": m.role, "content": m.content} for m in pairs[i].prompt],
                     "chosen": [{"role": "assistant", "content": pairs[i].chosen}],
                     "rejected": [{"role": "assistant", "content": pairs[i].rejected}]} for i in full]  # fmt: skip
        trl_data = write_jsonl(folder / "trl.jsonl", trl_rows)
        results = []
        for precompute in (False, True):
            how = "precomputed reference" if precompute else "reference model"
            tag = f"{int(precompute)}"
            config = folder / f"gristmill-{tag}.toml"
            config.write_text(toml({
                "base": {"checkpoint": str(self.base)},
                "data": {"train": str(data), "val_fraction": 0.0, "seq_len": args.seq_len,
                         "micro_batch": args.pairs, "global_batch": args.pairs},
                "dpo": {"beta": args.beta, "precompute_reference": precompute},
                "optim": {"lr": args.dpo_lr, "warmup": 0, "min_ratio": 1.0, "weight_decay": WEIGHT_DECAY,
                          "betas": list(BETAS), "grad_clip": CLIP},
                "run": {"steps": args.dpo_steps, "output": str(folder / f"gristmill-{tag}"), "log_every": 1,
                        "eval_every": 0, "checkpoint_every": 0, "seed": SEED, "dtype": "fp32"},
            }))  # fmt: skip
            result = folder / f"gristmill-{tag}.json"
            measured = self.child(f"{name}-dpo-gristmill-{tag}", ["--child", "gristmill", "dpo", str(config),
                                                                  str(result), str(args.threads)])  # fmt: skip
            timed = json.loads(result.read_text())
            metrics = read_jsonl(folder / f"gristmill-{tag}" / "metrics.jsonl")
            ours = self.dpo_row(f"gristmill finetune dpo, {how}", measured, timed["times"],
                                [m["loss"] for m in metrics], [m["dpo/accuracy"] for m in metrics],
                                [m["dpo/margin"] for m in metrics])  # fmt: skip
            spec = {"kind": "dpo", "model": str(self.hf), "data": str(trl_data), "batch": args.pairs,
                    "steps": args.dpo_steps, "lr": args.dpo_lr, "seq_len": args.seq_len, "beta": args.beta,
                    "precompute": precompute, "threads": args.threads, "out": str(folder / f"trl-{tag}"),
                    "result": str(folder / f"trl-{tag}.json")}  # fmt: skip
            measured, out = self.trl(f"{name}-dpo-trl-{tag}", folder / f"trl-{tag}-spec.json", spec)
            steps_log = [e for e in out["log"] if "loss" in e and "rewards/accuracies" in e]
            theirs = self.dpo_row(f"TRL DPOTrainer, {how}", measured, out["times"], [e["loss"] for e in steps_log],
                                  [e["rewards/accuracies"] for e in steps_log],
                                  [e["rewards/margins"] for e in steps_log])  # fmt: skip
            results.append((how, ours, theirs))
            if not precompute:
                prepared = out["prepared"]
                same = all([p, [*c], [*r]] == [ids[i][0], ids[i][1], ids[i][2]] for i, p, c, r in
                           zip(full, prepared["prompt_ids"], prepared["chosen_ids"], prepared["rejected_ids"],
                               strict=True))  # fmt: skip
                self.checks.append(f"{name} DPO: TRL's prompt, chosen and rejected ids equal gristmill's for all "
                                   f"{len(full):,} pairs it reads: {'yes' if same else 'NO'}")  # fmt: skip
        for how, ours, theirs in results:
            self.ratios.append(f"{name} DPO pairs/s, gristmill / TRL, {how}: {ours / theirs:.2f}x")

    def pair_ids(self, pair: Any) -> tuple[list[int], list[int], list[int]]:
        """gristmill's prompt, chosen and rejected ids (as train/finetune/command.py renders a pair)."""
        prompt = self.chat.prompt(pair.prompt)
        answers = self.chat.tokenizer.encode_batch([pair.chosen, pair.rejected], disallowed_special=())
        return prompt, [*answers[0], self.chat.end_id], [*answers[1], self.chat.end_id]

    def dpo_row(self, label: str, measured: common.Measured, times: list[float], losses: list[float],
                accuracies: list[float], margins: list[float]) -> float:  # fmt: skip
        seconds = times[-1] - times[0]
        pairs = (len(times) - 1) * self.args.pairs
        self.dpo_rows.append([label, len(times) - 1, f"{pairs:,}", f"{seconds:,.1f}", f"{pairs / seconds:,.2f}",
                              f"{measured.wall_s:,.1f}", f"{measured.max_rss / 2**20:,.0f}", f"{losses[0]:.4f}",
                              f"{losses[-1]:.4f}", f"{accuracies[-1]:.3f}", f"{margins[-1]:.3f}"])  # fmt: skip
        return pairs / seconds


def busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all processes, all cores) since boot, from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def children_seconds() -> float:
    """CPU seconds (user + system) of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fits(chat: Any, record: dict[str, Any], seq_len: int) -> bool:
    from train.finetune.records import conversation

    return len(chat.render(conversation(record, None)).ids) <= seq_len


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every run (default 2)")
    parser.add_argument("--sft-steps", type=int, default=8)
    parser.add_argument("--dpo-steps", type=int, default=8)
    parser.add_argument("--windows", type=int, default=4, help="SFT: windows of seq_len per step (gristmill, TRL bfd)")
    parser.add_argument("--pairs", type=int, default=8, help="DPO: pairs per step")
    parser.add_argument("--lr", type=float, default=1e-3, help="SFT learning rate (constant)")
    parser.add_argument("--dpo-lr", type=float, default=3e-4, help="DPO learning rate (constant)")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--conversations", type=int, default=400, help="synthetic conversations")
    parser.add_argument("--pair-count", type=int, default=200, help="synthetic pairs: from the first N conversations")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--sets", nargs="+", default=["bundled", "synthetic"], choices=["bundled", "synthetic"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gristmill-finetune-bench"))
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "gristmill":
            gristmill_child(args.child[1], args.child[2], args.child[3], int(args.child[4]))
        else:
            trl_child(args.child[1])
        return
    started = time.perf_counter()
    report = common.Report()
    say = report.say
    args.work.mkdir(parents=True, exist_ok=True)
    bundled = read_jsonl(SAMPLES / "conversations.jsonl")
    bundled_pairs = read_jsonl(SAMPLES / "preferences.jsonl")
    synthetic = synthetic_conversations(args.conversations, max_sentences=args.seq_len // 16)
    texts = [m["content"] for r in bundled + synthetic for m in openai_form(r)["messages"]]
    tokenizer, base, hf = build_base(args.work, args, texts)
    bench = Bench(args, report, tokenizer, base, hf)
    kept = [r for r in synthetic if fits(bench.chat, r, args.seq_len)]
    sets = {
        "bundled": ([r for r in bundled if fits(bench.chat, r, args.seq_len)], bundled_pairs),
        "synthetic": (kept, synthetic_pairs(kept[: args.pair_count])),
    }
    from model.config import GPTConfig

    model = GPTConfig(**json.loads((base / "step-000000" / "config.json").read_text())["model"])
    say(f"fine-tuning bench on {common.cpu_model()}, {args.threads} torch threads per run; "
        f"{common.versions('torch', 'transformers', 'trl', 'accelerate', 'datasets')}")  # fmt: skip
    say(f"model: gristmill GPT, random init (seed {SEED}), d_model {model.d_model}, {model.n_layers} layers, "
        f"{model.n_heads} heads, context {model.seq_len}, vocab {model.vocab_size:,} (chat tokens included), "
        f"{model.parameters():,} parameters, fp32; TRL gets its `gristmill export` (Qwen3ForCausalLM)")  # fmt: skip
    sample = bench.chat.render(bench.messages(kept[0])).ids
    say(f"exported model: largest |logit difference| on a {len(sample)}-token conversation "
        f"{logits_gap(base, hf, sample):.1e}")  # fmt: skip
    say(f"synthetic set: {len(kept):,} of {len(synthetic):,} generated conversations fit the context of "
        f"{args.seq_len} tokens")  # fmt: skip
    say(f"SFT: {args.sft_steps} steps, lr {args.lr} constant, AdamW betas {BETAS}, weight decay {WEIGHT_DECAY} "
        f"(matrices), clip {CLIP}; gristmill and TRL packed: {args.windows} windows of {args.seq_len} per "
        "step")  # fmt: skip
    say(f"DPO: {args.dpo_steps} steps of {args.pairs} pairs, beta {args.beta}, lr {args.dpo_lr} constant")
    say()
    for name in args.sets:
        bench.sft(name, sets[name][0])
    for name in args.sets:
        bench.dpo(name, sets[name][1])
    say()
    sft_headers = ["SFT", "steps timed", "conversations", "real tokens", "step s", "tokens/s", "wall s",
                   "peak RSS MiB", "loss step 1", "loss last"]  # fmt: skip
    dpo_headers = ["DPO", "steps timed", "pairs", "step s", "pairs/s", "wall s", "peak RSS MiB", "loss step 1",
                   "loss last", "reward accuracy last", "margin last"]  # fmt: skip
    for headers, rows in ((sft_headers, bench.sft_rows), (dpo_headers, bench.dpo_rows)):
        per_set = len(rows) // len(args.sets)
        for number, name in enumerate(args.sets):
            say(f"{name}:")
            common.table(say, headers, rows[number * per_set : (number + 1) * per_set])
            say()
    say("ratios (above 1: gristmill faster):")
    for line in bench.ratios:
        say(f"  {line}")
    say("checks:")
    for line in bench.checks:
        say(f"  {line}")
    worst, where = max(bench.contention)
    mean = statistics.mean(share for share, _ in bench.contention)
    say(f"  other processes' share of the CPUs during the runs: mean {100 * mean:.0f}%, at most {100 * worst:.0f}% "
        f"({where}){'; figures skewed: rerun on an idle machine' if worst > 0.05 else ''}")  # fmt: skip
    say(f"bench time {time.perf_counter() - started:,.0f} s (logs: {bench.runs})")
    report.save(args.output)


if __name__ == "__main__":
    main()
