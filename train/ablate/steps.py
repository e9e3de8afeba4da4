"""The ablation's steps, each written atomically and skipped when its output exists, so a rerun after a kill
continues where it stopped and ends with the same table:

    OUTPUT/ablation.json             the inputs (a rerun with other inputs is refused)
    OUTPUT/tokenizer/                trained once on an equal sample of every run (unless --tokenizer is given)
    OUTPUT/held-out.parquet          every run's held-out documents: the common evaluation set `held-out`
    OUTPUT/data/<run>/train.parquet  the run's training documents, selection.json (tokens, repeated), packed/
    OUTPUT/train/<run>.toml, <run>/  the training config and output (checkpoints resume exactly)
    OUTPUT/eval/<run>.json           the final checkpoint's figures on every set and task, per document and item
    OUTPUT/results.json, report.html the table and the page with the training curves
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w
import torch
from rich.console import Console

from gristmill_base.atomic import folder_atomic, publish, temp_path, write_json_atomic, write_text_atomic
from gristmill_base.errors import UserError
from gristmill_base.lifetime import child_dies_with_this_process
from gristmill_base.named import split_named
from pipeline.section import read_toml
from train.ablate.sample import RunDocuments, candidates, held_out, read_texts, run_documents, select_training

EOS = "<|endoftext|>"
DEFAULT_CONFIG: dict[str, Any] = {
    "model": {"preset": "tiny"},
    "data": {"seq_len": 256, "micro_batch": 8, "global_batch": 8},
    "optim": {"lr": 1e-3},
    "run": {"log_every": 10},
}


@dataclass
class AblateOptions:
    runs: list[str]  # [NAME=]PATH of run folders
    output: str
    tokens: int  # training tokens per run
    config: str | None = None  # a training config: its model, optim, run and data (but path) sections
    tokenizer: str | None = None
    vocab_size: int = 8192
    tokenizer_bytes: int = 20_000_000  # per run, for training the shared tokenizer
    texts: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    held_out: int = 200  # documents per run
    allow_repeat: bool = False
    seed: int = 0
    eval_batch_size: int = 16


@dataclass
class Run:
    name: str
    folder: Path


class Ablation:
    def __init__(self, options: AblateOptions, console: Console):
        self.options, self.console = options, console
        self.output = Path(options.output).resolve()
        self.runs = _runs(options.runs)
        self.config = _base_config(options.config)
        data = self.config["data"]
        self.tokens_per_step = data["global_batch"] * data["seq_len"]
        self.steps = max(1, math.ceil(options.tokens / self.tokens_per_step))
        self.config["run"].setdefault("checkpoint_every", max(1, self.steps // 10))
        _check_config(self.config, options.config)

    @property
    def training_tokens(self) -> int:
        return self.steps * self.tokens_per_step

    def check_inputs(self) -> None:
        """Record the inputs, or refuse a folder that holds an ablation of other inputs."""
        inputs = {
            "runs": {r.name: str(r.folder) for r in self.runs},
            "tokens": self.training_tokens,
            "config": self.config,
            "options": {
                k: v
                for k, v in asdict(self.options).items()
                if k not in ("runs", "output", "config", "eval_batch_size")
            },
        }
        path = self.output / "ablation.json"
        if path.is_file():
            recorded = json.loads(path.read_text())
            differs = sorted(k for k in inputs if recorded.get(k) != json.loads(json.dumps(inputs[k])))
            if differs:
                raise UserError(
                    f"{self.output}: holds an ablation of other inputs ({', '.join(differs)} differ); "
                    "--restart moves it aside and starts over, or give a new --output"
                )
        else:
            write_json_atomic(path, inputs)

    def documents(self) -> list[RunDocuments]:
        return [run_documents(run.name, run.folder, self.options.seed) for run in self.runs]

    def tokenizer(self, documents: list[RunDocuments]) -> Path:
        """The given tokenizer, or one trained on the first `tokenizer_bytes` of every run's training documents."""
        if self.options.tokenizer:
            from tokenizer.files import is_tokenizer

            given = Path(self.options.tokenizer).resolve()
            if not is_tokenizer(given):
                raise UserError(f"--tokenizer: {given} is not a tokenizer folder or file")
            return given
        folder = self.output / "tokenizer"
        if (folder / "tokenizer.json").is_file():
            return folder
        from tokenizer import train_bpe

        sample = self.output / "tokenizer-sample.parquet"
        ids, texts = [], []
        for run in documents:
            pool = candidates(run, self.options.held_out)
            count = int((pool["bytes"].cum_sum() < self.options.tokenizer_bytes).sum()) + 1
            for doc_id, text in read_texts(run, pool.head(count)):
                ids.append(f"{run.name}/{doc_id}")
                texts.append(text)
        _write_parquet(sample, pa.table({"id": ids, "text": texts}))
        self.console.print(
            f"ablate: training a {self.options.vocab_size:,}-token tokenizer on {len(texts):,} "
            f"documents, an equal share of each run"
        )
        trained = train_bpe([sample], self.options.vocab_size, [EOS], workers=1)
        with folder_atomic(folder) as work:
            trained.save(work)
        return folder

    def held_out_set(self, documents: list[RunDocuments]) -> Path | None:
        """Every run's held-out documents, once each, in place order."""
        if not self.options.held_out:
            return None
        path = self.output / "held-out.parquet"
        if path.is_file():
            return path
        rows: dict[str, tuple[int, str]] = {}
        for run in documents:
            chosen = held_out(run, self.options.held_out)
            places = dict(zip(chosen["id"].to_list(), chosen["place"].to_list(), strict=True))
            for doc_id, text in read_texts(run, chosen):
                rows.setdefault(doc_id, (places[doc_id], text))
        ordered = sorted(rows.items(), key=lambda item: (item[1][0], item[0]))
        _write_parquet(path, pa.table({"id": [i for i, _ in ordered], "text": [t for _, (_, t) in ordered]}))
        return path

    def training_data(self, documents: list[RunDocuments], tokenizer_dir: Path) -> dict[str, dict[str, Any]]:
        """Each run's training documents (all selected before any is packed or trained), then packed."""
        from pipeline.pack_command import pack
        from tokenizer import Tokenizer

        tokenizer = Tokenizer.load(str(tokenizer_dir))
        needed = self.training_tokens + 1
        selections = {}
        for run in documents:
            folder = self.output / "data" / run.name
            record = folder / "selection.json"
            if not record.is_file():
                self._select(run, tokenizer, needed, folder)
            selections[run.name] = json.loads(record.read_text())
            if selections[run.name]["repeated"] and not self.options.allow_repeat:
                chosen = selections[run.name]
                raise UserError(
                    f"run {run.name}: {chosen['tokens']:,} tokens for training, fewer than the budget of "
                    f"{needed:,}; --allow-repeat trains on it {chosen['epochs']:.2f} times, or lower "
                    "--tokens"
                )
        for run in documents:
            folder = self.output / "data" / run.name
            if not (folder / "packed" / "manifest.json").is_file():
                pack(
                    str(tokenizer_dir),
                    [str(folder / "train.parquet")],
                    str(folder / "packed"),
                    0.0,
                    1,
                    console=Console(quiet=True),
                )
        return selections

    def _select(self, run: RunDocuments, tokenizer: Any, needed: int, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "train.parquet"
        schema = pa.schema([("id", pa.string()), ("text", pa.string())])
        with pq.ParquetWriter(temp_path(path), schema, compression="zstd") as writer:
            chosen = select_training(
                run,
                self.options.held_out,
                needed,
                lambda text: len(tokenizer.encode(text, disallowed_special=())),
                writer,
            )
        publish(path)
        record = {
            "documents": chosen.documents,
            "tokens": chosen.tokens,
            "needed": needed,
            "repeated": not chosen.available,
            "epochs": needed / max(chosen.tokens, 1),
        }
        write_json_atomic(folder / "selection.json", record)

    def train_configs(self, tokenizer_dir: Path) -> dict[str, Path]:
        configs = {}
        for run in self.runs:
            config = json.loads(json.dumps(self.config))
            config["data"] |= {"path": str(self.output / "data" / run.name / "packed"), "tokenizer": str(tokenizer_dir)}
            config["run"] |= {
                "steps": self.steps,
                "seed": self.options.seed,
                "output": str(self.output / "train" / run.name),
            }
            path = self.output / "train" / f"{run.name}.toml"
            write_text_atomic(path, tomli_w.dumps(config))
            configs[run.name] = path
        return configs

    def train(self, configs: dict[str, Path]) -> None:
        """Each run's training: one per GPU in parallel where there are several, else one after another."""
        from train import checkpoint

        pending = [
            name for name in configs if _finished_step(checkpoint.latest(self.output / "train" / name)) < self.steps
        ]
        gpus = torch.cuda.device_count()
        if gpus > 1 and len(pending) > 1:
            self._train_in_parallel(configs, pending, gpus)
            return
        from train.config import load_config
        from train.loop import run_training

        for name in pending:  # a run with a checkpoint resumes (`train.rerun`)
            self.console.print(f"ablate: training {name} ({self.steps:,} steps, {self.training_tokens:,} tokens)")
            run_training(load_config(configs[name]), console=self.console)

    def _train_in_parallel(self, configs: dict[str, Path], pending: list[str], gpus: int) -> None:
        for start in range(0, len(pending), gpus):
            group = pending[start : start + gpus]
            self.console.print(f"ablate: training {', '.join(group)} in parallel, one per GPU")
            processes = {}
            for device, name in enumerate(group):
                command = [sys.executable, "-m", "gristmill", "train", str(configs[name])]  # resumes a run there
                environment = os.environ | {"CUDA_VISIBLE_DEVICES": str(device)}
                with open(self.output / "train" / f"{name}.log", "a", encoding="utf-8") as log:
                    processes[name] = subprocess.Popen(  # dies with this process: a rerun starts no second writer
                        command, env=environment, stdout=log, stderr=log, preexec_fn=child_dies_with_this_process()
                    )
            failed = [name for name, process in processes.items() if process.wait() != 0]
            if failed:
                raise UserError(
                    f"training {', '.join(failed)} failed; see {self.output / 'train'}/<run>.log; "
                    "run the same command again to resume"
                )

    def evaluate(self, held_out_path: Path | None) -> list[dict[str, Any]]:
        from train.eval.command import EvalOptions, evaluate
        from train.eval.models import load_model

        texts = ([f"held-out={held_out_path}"] if held_out_path else []) + self.options.texts
        results = []
        for run in self.runs:
            path = self.output / "eval" / f"{run.name}.json"
            if not path.is_file():
                self.console.print(f"ablate: evaluating {run.name}")
                model = load_model(str(self.output / "train" / run.name))
                options = EvalOptions(texts, self.options.tasks, batch_size=self.options.eval_batch_size)
                found = evaluate(model, options, self.console)
                write_json_atomic(path, _stored(found))
            results.append(json.loads(path.read_text()))
        return results


def _stored(found: dict[str, Any]) -> dict[str, Any]:
    """What a comparison needs of one run's evaluation: figures, bits per document, right or wrong per item."""
    items = {}
    for task, records in found["examples"].items():
        if records and "greedy" in records[0]:
            items[task] = {"acc": [float(r["greedy"]) for r in records]}
        else:
            items[task] = {
                "acc": [float(r["pred"] == r["gold"]) for r in records],
                "acc_norm": [float(r["pred_norm"] == r["gold"]) for r in records],
            }
    units = {name: {"bits": bits.tolist(), "bytes": sizes.tolist()} for name, (bits, sizes) in found["units"].items()}
    return {"texts": found["texts"], "tasks": found["tasks"], "units": units, "items": items}


def _finished_step(folder: Path | None) -> int:
    return int(json.loads((folder / "state.json").read_text())["step"]) if folder else 0


def _write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, temp_path(path), compression="zstd")
    publish(path)


def _runs(specs: list[str]) -> list[Run]:
    if len(specs) < 2:
        raise UserError("ablate: give at least two run folders to compare")
    runs = []
    for spec in specs:
        name, path = split_named(spec)
        folder = Path(path).resolve()
        if not folder.is_dir():
            raise UserError(f"run {path}: no such folder")
        runs.append(Run(name or folder.name, folder))
    names = [run.name for run in runs]
    if len(set(names)) != len(names):
        raise UserError(f"ablate: two runs are named alike ({', '.join(names)}); name them, e.g. a=runs/x b=runs/y")
    return runs


def _check_config(config: dict[str, Any], path: str | None) -> None:
    """The shared config validated before any work (data.path is filled in per run later)."""
    from pydantic import ValidationError

    from train.config import TrainConfig

    try:
        TrainConfig.model_validate(json.loads(json.dumps(config)) | {"data": config["data"] | {"path": "-"}})
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise UserError(f"{path or 'ablate config'}: {key}: {message}") from None


def _base_config(path: str | None) -> dict[str, Any]:
    """The training config every run shares: ablate's defaults under the user's file; data.path, the tokenizer,
    run.steps, run.seed and run.output are the ablation's."""
    config = json.loads(json.dumps(DEFAULT_CONFIG))
    if path:
        raw = read_toml(Path(path), "config")
        for section, values in raw.items():
            if not isinstance(values, dict):
                raise UserError(f"{path}: {section}: expected a table")
            config.setdefault(section, {}).update(values)
        for section, key in (
            ("data", "path"),
            ("data", "tokenizer"),
            ("run", "steps"),
            ("run", "output"),
            ("run", "seed"),
        ):
            config.get(section, {}).pop(key, None)
    config.pop("eval", None)  # the ablation evaluates every run itself, on the same sets
    return config
