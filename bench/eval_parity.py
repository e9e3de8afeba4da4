"""`gristmill eval` against lm-evaluation-harness: the same Hugging Face model, the same task files, every choice's
log-likelihood and the task figures side by side.

Models (CPU, float32): `llama-bos`, a randomly initialised Llama whose byte-level BPE tokenizer (trained here on
the bundled docstring sample) puts its BOS first, as Llama's do; `gpt2-plain`, a randomly initialised GPT-2
whose tokenizer adds nothing, as GPT-2's does; and, with --walkthrough (default runs/walkthrough/hf, when it
exists), the README walkthrough's model exported with `gristmill export --format hf`.

Tasks, built here from the Python docstrings of recipes/samples/classifier-positive.jsonl.gz (sentences cut
into contexts and continuations, distractors taken from other sentences, a few HellaSwag `[title]` / `[step]`
marks, ARC items with numeric labels and 3 to 5 choices, Winogrande blanks before punctuation, empty contexts
in gristmill's own form), each with an evaluated split and a train split:

  hellaswag   lm-eval's own hellaswag.yaml (included, data files swapped)  | the same JSONL
  arc         lm-eval's own arc_easy.yaml (hub layout)                     | the same JSONL, and AI2's layout
  piqa        lm-eval's own piqa.yaml                                      | valid.jsonl with valid-labels.lst
  winogrande  lm-eval's own winogrande default.yaml (partial evaluation)   | the same JSONL
  lambada     lm-eval's own lambada_openai.yaml (loglikelihood: acc, ppl)  | the same JSONL
  choice      a multiple_choice yaml over {context, choices, gold}         | the same JSONL (gristmill's form)

and the bundled sample tasks as they are (recipes/samples/make_eval_tasks.py, the same docstrings):
  sample_choice  eval-choice.jsonl through the multiple_choice yaml above, shots from eval-choice-shots.jsonl
  sample_cloze   eval-cloze.jsonl through lambada_openai.yaml, shots from eval-cloze-shots.jsonl

Each model runs with --shots 0 and --shots K (lm-eval `num_fewshot=K`, its default sampler and seed 1234,
examples from the train split; gristmill `--fewshot-from TASK=train file`), lm-eval's default tokenization
against gristmill's default (`--prefix-token auto`); the two tiny models also with lm-eval's
`add_bos_token=True` / `False` against `--prefix-token always` / `never`; the walkthrough model also with
`--prefix-token never` against lm-eval's default, for the scale of the rule (the export's tokenizer puts the
end-of-text token first, as the model saw documents start), and as the gristmill checkpoint it was exported
from (--walkthrough-checkpoint, default runs/walkthrough/train) under `gristmill eval`'s default against the
export under lm-eval's default: the two artefacts score alike in the two tools.
Per row: the (context, continuation) strings of every choice must be identical (lm-eval's `arguments`
against `--per-example`'s); max and mean |difference| of the per-choice log-likelihoods; acc (and acc_norm,
or perplexity for lambada) from each tool.

Usage (from the repository root, after `pip install -e ".[dev,bench]"`):
  python bench/eval_parity.py [--walkthrough runs/walkthrough/hf] [--walkthrough-checkpoint runs/walkthrough/train] \\
      [--items 40] [--shots 3] \\
      [--output bench/results/eval_parity.txt]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common  # first: thread limits for numeric libraries

sys.path.remove(str(Path(__file__).resolve().parent))  # bench/tokenizer.py and bench/train.py would hide packages

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "recipes" / "samples"
sys.path.insert(0, str(SAMPLES))
from make_eval_tasks import sentences  # noqa: E402  (the bundled tasks' sentences: the same text, the same cut)

LIMIT = 1e-4  # the largest per-choice difference allowed against lm-eval's defaults
# task -> (lm-eval's own config, included; None: a plain multiple_choice config over gristmill's form), the
# split it evaluates
TASKS = {
    "hellaswag": ("hellaswag/hellaswag.yaml", "validation"),
    "arc": ("arc/arc_easy.yaml", "test"),
    "piqa": ("piqa/piqa.yaml", "validation"),
    "winogrande": ("winogrande/default.yaml", "validation"),
    "lambada": ("lambada/lambada_openai.yaml", "test"),
    "choice": (None, "test"),
    "sample_choice": (None, "test"),  # recipes/samples/eval-choice.jsonl, its shots from eval-choice-shots.jsonl
    "sample_cloze": ("lambada/lambada_openai.yaml", "test"),  # eval-cloze.jsonl, eval-cloze-shots.jsonl
}
BUNDLED = {"sample_choice": "eval-choice", "sample_cloze": "eval-cloze"}


# ---- text and task files --------------------------------------------------------------------------------------


def split_words(sentence: str, rng: random.Random) -> tuple[str, str]:
    words = sentence.split()
    cut = rng.randrange(3, len(words) - 2)
    return " ".join(words[:cut]), " ".join(words[cut:])


def hellaswag_row(index: int, sentence: str, others: list[str], rng: random.Random) -> dict[str, Any]:
    first, rest = split_words(sentence, rng)
    ctx_a, _, ctx_b = first.rpartition(" ") if index % 5 else (first, "", "")
    endings = [rest] + [split_words(other, rng)[1] for other in others[:3]]
    rng.shuffle(endings)
    gold = endings.index(rest)
    if index % 4 == 0:  # WikiHow's marks, which the prompt drops
        endings[(gold + 1) % 4] += " [title] Then [step] go on"
    return {"ind": index, "activity_label": first.split()[0].strip(",.:"), "ctx_a": ctx_a, "ctx_b": ctx_b,
            "ctx": f"{ctx_a} {ctx_b}", "endings": endings, "label": str(gold),
            "source_id": f"docstring-{index}", "split": "val", "split_type": "indomain"}  # fmt: skip


def arc_row(index: int, sentence: str, others: list[str], rng: random.Random) -> dict[str, Any]:
    first, rest = split_words(sentence, rng)
    texts = [rest] + [split_words(other, rng)[1] for other in others[: 2 + index % 3]]
    rng.shuffle(texts)
    labels = [str(i + 1) for i in range(len(texts))] if index % 4 == 0 else list("ABCDE"[: len(texts)])
    return {"id": f"doc_{index}", "question": f"How does this sentence go on: {first}?",
            "choices": {"text": texts, "label": labels}, "answerKey": labels[texts.index(rest)]}  # fmt: skip


def piqa_row(index: int, sentence: str, others: list[str], rng: random.Random) -> dict[str, Any]:
    first, rest = split_words(sentence, rng)
    wrong = split_words(others[0], rng)[1]
    label = rng.randrange(2)
    return {"goal": first, "sol1": [rest, wrong][label], "sol2": [wrong, rest][label], "label": label}


def winogrande_row(index: int, sentence: str, others: list[str], rng: random.Random) -> dict[str, Any] | None:
    words = sentence.split()
    places = [i for i, w in enumerate(words[2:], 2) if re.fullmatch(r"[A-Za-z]{4,}[.,;:]?", w)]
    if not places:
        return None
    place = places[-1] if index % 3 == 0 else rng.choice(places)  # the last word: a blank before punctuation
    word = re.match(r"[A-Za-z]+", words[place])[0]
    blanked = " ".join([*words[:place], words[place].replace(word, "_", 1), *words[place + 1 :]])
    decoy = next((w for w in re.findall(r"[A-Za-z]{4,}", " ".join(others)) if w != word), "other")
    answer = rng.randrange(2)
    options = [word, decoy] if answer == 0 else [decoy, word]
    return {"sentence": blanked, "option1": options[0], "option2": options[1], "answer": str(answer + 1)}


def lambada_row(index: int, sentence: str, others: list[str], rng: random.Random) -> dict[str, Any]:
    return {"text": f"{others[0]} {sentence.rstrip('.!?')}"}


def choice_row(index: int, sentence: str, others: list[str], rng: random.Random) -> dict[str, Any]:
    first, rest = split_words(sentence, rng)
    choices = [rest] + [split_words(other, rng)[1] for other in others[: 1 + index % 3]]
    rng.shuffle(choices)
    context = "" if index % 6 == 0 else first + (" " if index % 6 == 1 else "")  # empty; a trailing space
    return {"id": f"c{index}", "context": context, "choices": choices, "gold": choices.index(rest)}


BUILDERS = {"hellaswag": hellaswag_row, "arc": arc_row, "piqa": piqa_row, "winogrande": winogrande_row,
            "lambada": lambada_row, "choice": choice_row}  # fmt: skip


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def build_tasks(folder: Path, items: int, pool: int) -> dict[str, dict[str, str]]:
    """Per task: the files lm-eval reads (`train`, its evaluated split) and those gristmill reads (`gristmill`,
    maybe `gristmill_ai2`, and `gristmill_train`); and the yaml folder lm-eval includes."""
    texts = sentences()
    rng = random.Random(0)
    files: dict[str, dict[str, str]] = {}
    harness = Path(sys.modules["lm_eval"].__file__).parent / "tasks"
    for task, build in BUILDERS.items():
        order = rng.sample(range(len(texts)), len(texts))
        rows = []
        for position, index in enumerate(order):
            others = [texts[order[(position + k) % len(order)]] for k in range(1, 5)]
            row = build(len(rows), texts[index], others, rng)
            if row is not None:
                rows.append(row)
            if len(rows) == items + pool:
                break
        evaluated, train = rows[:items], rows[items:]
        split = TASKS[task][1]
        paths = {"train": write_jsonl(folder / f"{task}_train.jsonl", train),
                 split: write_jsonl(folder / f"{task}_{split}.jsonl", evaluated)}  # fmt: skip
        paths["gristmill"], paths["gristmill_train"] = paths[split], paths["train"]
        if task == "arc":  # AI2's JSONL: {"question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}
            ai2 = [{"id": r["id"], "answerKey": r["answerKey"], "question": {"stem": r["question"], "choices": [
                {"text": t, "label": lab} for t, lab in zip(r["choices"]["text"], r["choices"]["label"], strict=True)
            ]}} for r in evaluated]  # fmt: skip
            paths["gristmill_ai2"] = write_jsonl(folder / "ARC-Easy-Test.jsonl", ai2)
        if task == "piqa":  # as distributed: the labels in a file beside the items
            for name, part in (("valid", evaluated), ("train", train)):
                write_jsonl(folder / f"{name}.jsonl", [{k: v for k, v in r.items() if k != "label"} for r in part])
                (folder / f"{name}-labels.lst").write_text("".join(f"{r['label']}\n" for r in part))
            paths["gristmill"], paths["gristmill_train"] = str(folder / "valid.jsonl"), str(folder / "train.jsonl")
        files[task] = paths
    for task, stem in BUNDLED.items():
        evaluated, train = str(SAMPLES / f"{stem}.jsonl"), str(SAMPLES / f"{stem}-shots.jsonl")
        files[task] = {"train": train, "test": evaluated, "gristmill": evaluated, "gristmill_train": train}
    for task, paths in files.items():
        write_yaml(folder, task, paths, harness)
    return files


def write_yaml(folder: Path, task: str, paths: dict[str, str], harness: Path) -> None:
    """lm-eval's own task config (included by absolute path) on these files; gristmill's form gets a plain
    multiple_choice config. Every split is named, so few-shot examples come from `train`."""
    config, split = TASKS[task]
    data = {"train": paths["train"], split: paths[split]}
    lines = [f"task: parity_{task}", "dataset_path: json", "dataset_name: null",
             "dataset_kwargs:", "  data_files:", *[f"    {k}: {v}" for k, v in data.items()],
             "training_split: train"]  # fmt: skip
    if config:  # lambada_openai names only a test split: without `train`, its few-shot examples are test items
        lines = [f"include: {harness / config}", *lines, "tag: []"]
    else:
        lines += ["output_type: multiple_choice", f"{split}_split: {split}", "doc_to_text: '{{context}}'",
                  "doc_to_choice: '{{choices}}'", "doc_to_target: '{{gold}}'", "metric_list:",
                  "  - metric: acc", "  - metric: acc_norm", "metadata:", "  version: 1.0"]  # fmt: skip
    (folder / f"parity_{task}.yaml").write_text("\n".join(lines) + "\n")


# ---- models ---------------------------------------------------------------------------------------------------


def tiny_model(folder: Path, architecture: str) -> Path:
    """A randomly initialised model (seed 0) with a byte-level BPE tokenizer trained on the docstrings: Llama
    with a tokenizer that puts `<s>` first, or GPT-2 with one that adds nothing (`<|endoftext|>` both ends)."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    llama = architecture == "llama"
    specials = ["<s>", "</s>"] if llama else ["<|endoftext|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2048, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    bpe.train_from_iterator(sentences(), trainer)
    if llama:
        bpe.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=specials[0],
                                                     eos_token=specials[-1])  # fmt: skip
    torch.manual_seed(0)
    if llama:
        config = transformers.LlamaConfig(
            vocab_size=bpe.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, bos_token_id=0,
            eos_token_id=1, initializer_range=0.1,
        )  # fmt: skip
        model = transformers.LlamaForCausalLM(config)
    else:
        config = transformers.GPT2Config(
            vocab_size=bpe.get_vocab_size(),
            n_embd=64,
            n_layer=2,
            n_head=4,
            n_positions=1024,
            bos_token_id=0,
            eos_token_id=0,
            initializer_range=0.1,
        )
        model = transformers.GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# ---- the two tools --------------------------------------------------------------------------------------------


def run_harness(model: Path, tasks: Path, shots: int, add_bos_token: bool | None) -> dict[str, list[dict]]:
    """Per task, per document (in order): its choices' (context, continuation) and log-likelihoods, and its
    metrics as lm-eval scored them."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    model_args = {"pretrained": str(model), "dtype": "float32"}
    if add_bos_token is not None:
        model_args["add_bos_token"] = add_bos_token
    names = [f"parity_{task}" for task in TASKS]
    results = lm_eval.simple_evaluate(
        model="hf", model_args=model_args, tasks=names, num_fewshot=shots, batch_size=16, device="cpu",
        log_samples=True, task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
    )  # fmt: skip
    found = {}
    for task in TASKS:
        samples = sorted(results["samples"][f"parity_{task}"], key=lambda s: s["doc_id"])
        found[task] = [{"pairs": [tuple(pair) for pair in s["arguments"]], "lls": [r[0][0] for r in s["resps"]],
                        "metrics": {m: s[m] for m in ("acc", "acc_norm") if m in s}} for s in samples]  # fmt: skip
    return found


def run_gristmill(model: Path, files: dict[str, dict[str, str]], shots: int, prefix: str) -> dict[str, Any]:
    """Per task (and ARC also from AI2's layout): its records as --per-example writes them, and its figures."""
    from rich.console import Console

    from train.eval.command import EvalOptions, evaluate, read_inputs
    from train.eval.models import load_model

    specs = [f"{task}={paths['gristmill']}" for task, paths in files.items()] + [
        f"arc_ai2={files['arc']['gristmill_ai2']}"
    ]
    pools = [f"{task}={paths['gristmill_train']}" for task, paths in files.items()] + [
        f"arc_ai2={files['arc']['gristmill_train']}"
    ]
    if shots == 0:
        pools = []
    options = EvalOptions([], specs, shots=shots, fewshot_from=pools, batch_size=16)
    inputs = read_inputs(options)
    scorer = load_model(str(model), device="cpu", dtype="fp32", prefix=prefix)
    found = evaluate(scorer, options, Console(file=io.StringIO()), inputs)
    figures = {row["task"]: row for row in found["tasks"]}
    return {task: {"records": records, "figures": figures[task]} for task, records in found["examples"].items()}


# ---- comparison -----------------------------------------------------------------------------------------------


def harness_mean(documents: list[dict], metric: str) -> float:
    return sum(float(d["metrics"][metric]) for d in documents) / len(documents)


def compare(harness: dict[str, list[dict]], ours: dict[str, Any]) -> list[dict[str, Any]]:
    """Per gristmill task: its prompts and figures against lm-eval's for the same documents."""
    rows = []
    for name, mine in ours.items():
        theirs = harness["arc" if name == "arc_ai2" else name]
        records, figures = mine["records"], mine["figures"]
        if len(records) != len(theirs):
            raise SystemExit(f"{name}: {len(records)} items in gristmill, {len(theirs)} in lm-eval")
        same = all(
            list(zip(r["contexts"], r["continuations"], strict=True)) == t["pairs"]
            for r, t in zip(records, theirs, strict=True)
        )
        differences = [abs(a - b) for r, t in zip(records, theirs, strict=True)
                       for a, b in zip(r["loglikelihoods"], t["lls"], strict=True)]  # fmt: skip
        if figures["format"] == "cloze":  # lm-eval's perplexity: exp of minus the mean log-likelihood
            second = ("perplexity", math.exp(-sum(t["lls"][0] for t in theirs) / len(theirs)), figures["perplexity"])
        elif "acc_norm" in theirs[0]["metrics"]:
            second = ("acc_norm", harness_mean(theirs, "acc_norm"), figures["acc_norm"])
        else:  # lm-eval's Winogrande reports acc only
            second = ("", None, None)
        rows.append({"task": name, "items": len(records), "choices": len(differences), "same": same,
                     "max": max(differences), "mean": sum(differences) / len(differences),
                     "acc": (harness_mean(theirs, "acc"), figures["acc"]), "second": second})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--walkthrough", type=Path, default=Path("runs/walkthrough/hf"))
    parser.add_argument("--walkthrough-checkpoint", type=Path, default=Path("runs/walkthrough/train"))
    parser.add_argument("--items", type=int, default=40, help="evaluated items per task")
    parser.add_argument("--shots", type=int, default=3, help="the few-shot setting besides 0")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "eval_parity.txt")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    import lm_eval  # noqa: F401  (its folder holds the task configs included)

    report = common.Report()
    say = report.say
    say("gristmill eval vs lm-evaluation-harness: per-choice log-likelihoods on the same model and task files")
    say(f"{common.versions('lm_eval', 'transformers', 'torch')}; {common.cpu_model()}; float32 on the CPU")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        files = build_tasks(work, args.items, pool=20)
        models = {"llama-bos": tiny_model(work / "llama-bos", "llama"),
                  "gpt2-plain": tiny_model(work / "gpt2-plain", "gpt2")}  # fmt: skip
        if args.walkthrough.is_dir():
            models["walkthrough"] = args.walkthrough
            say(f"walkthrough: {args.walkthrough} (the README walkthrough's model, `gristmill export --format hf`)")
        else:
            say(f"(no walkthrough model at {args.walkthrough}: its rows are left out)")
        runs = [(name, "auto", None, shots) for name in models for shots in (0, args.shots)]
        runs += [(name, prefix, add_bos, shots) for name in ("llama-bos", "gpt2-plain")
                 for prefix, add_bos in (("always", True), ("never", False)) for shots in (0, args.shots)]  # fmt: skip
        scored_by_gristmill = dict(models)
        if "walkthrough" in models:
            runs += [("walkthrough", "never", None, shots) for shots in (0, args.shots)]
            if args.walkthrough_checkpoint.is_dir():  # lm-eval on the export, gristmill on the checkpoint
                scored_by_gristmill["walkthrough-ckpt"] = args.walkthrough_checkpoint
                models["walkthrough-ckpt"] = args.walkthrough
                runs += [("walkthrough-ckpt", "auto", None, shots) for shots in (0, args.shots)]
        table, worst_default = [], 0.0
        for name, prefix, add_bos, shots in runs:
            harness = run_harness(models[name], work, shots, add_bos)
            ours = run_gristmill(scored_by_gristmill[name], files, shots, prefix)
            setting = "default" if add_bos is None else f"add_bos_token={add_bos}"
            for row in compare(harness, ours):
                if prefix == "auto":
                    worst_default = max(worst_default, row["max"])
                metric, theirs, mine = row["second"]
                second = ["", ""] if theirs is None else [f"{theirs:.4f}", f"{mine:.4f}"]
                table.append([name, setting, prefix, shots, row["task"], row["items"], row["choices"],
                              "yes" if row["same"] else "NO", f"{row['max']:.2e}", f"{row['mean']:.2e}",
                              f"{row['acc'][0]:.4f}", f"{row['acc'][1]:.4f}", metric, *second])  # fmt: skip
    say(f"tasks: {args.items} evaluated items each (train split: 20), few-shot K = {args.shots}; "
        f"{time.perf_counter() - began:,.0f} s in all")  # fmt: skip
    say()
    common.table(say, ["model", "lm-eval", "--prefix-token", "shots", "task", "items", "choices",
                       "same strings", "max |d ll|", "mean |d ll|", "acc lm-eval", "acc gristmill", "",
                       "lm-eval", "gristmill"], table, left=3)  # fmt: skip
    say()
    verdict = "within" if worst_default <= LIMIT else "OVER"
    say(f"largest per-choice difference against lm-eval's defaults (--prefix-token auto): {worst_default:.2e}, "
        f"{verdict} the {LIMIT:g} limit")  # fmt: skip
    report.save(args.output)
    if worst_default > LIMIT:
        sys.exit(1)


if __name__ == "__main__":
    main()
