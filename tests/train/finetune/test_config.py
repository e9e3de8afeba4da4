"""The fine-tuning config: docs/finetuning.md lists every key with its default, and mistakes are one line."""

from __future__ import annotations

import re
from pathlib import Path

from chat_factory import CONVERSATIONS, finetune_config

from gristmill.cli import main
from train.finetune.config import BaseSection, DpoSection, FinetuneConfig, FinetuneData, load_finetune_config

DOC = Path(__file__).parents[3] / "docs" / "finetuning.md"


def test_the_docs_list_every_fine_tuning_key_with_its_default(tmp_path: Path) -> None:
    text = DOC.read_text()
    block = text.split("Every key, with its default", 1)[1]
    block = block.split("```toml\n", 1)[1].split("```", 1)[0]
    listed = set(re.findall(r"^#? ?(\w+) = ", block, flags=re.MULTILINE))
    assert listed == {name for section in (BaseSection, FinetuneData, DpoSection) for name in section.model_fields}
    path = tmp_path / "readme.toml"
    path.write_text(block.replace('"chat.jsonl"', f'"{CONVERSATIONS}"'))
    config = load_finetune_config(path)
    defaults = FinetuneConfig.model_validate({"base": {"checkpoint": "x"}, "data": {"train": "x"}})
    exclude = {"base": {"checkpoint"}, "data": {"train"}, "run": {"output"}}
    assert config.model_dump(exclude=exclude) == defaults.model_dump(exclude=exclude)
    assert defaults.optim.lr == 1e-4


def test_config_mistakes_are_one_line(tmp_path: Path, base, capsys) -> None:
    _, checkpoint = base
    cases = [
        ({"data": {"train": str(tmp_path / "missing.jsonl")}}, "no such file"),
        ({"data": {"seq_len": 4096}}, "longer than the base model's context of 128"),
        ({"data": {"global_batch": 6}}, "not a multiple of micro_batch"),
        ({"base": {"checkpoint": str(tmp_path)}}, "base.checkpoint"),
        ({"dpo": {"beta": 0}}, "dpo.beta"),
        ({"data": {"micro_batch": 64, "global_batch": 64}}, "fewer than one batch"),
        ({"data": {"tokenizer": str(tmp_path)}}, "data.tokenizer"),
        ({"run": {"output": str(checkpoint)}}, "the base checkpoint's own folder"),
    ]
    for number, (sections, message) in enumerate(cases):
        config = finetune_config(tmp_path, f"run{number}", checkpoint, CONVERSATIONS, **sections)
        assert main(["finetune", "sft", str(config)]) == 2, message
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0], (message, error)


def test_resuming_with_other_data_is_refused(tmp_path: Path, base, capsys) -> None:
    _, checkpoint = base
    data = tmp_path / "chat.jsonl"
    data.write_text(CONVERSATIONS.read_text())
    config = finetune_config(tmp_path, "run", checkpoint, data, run={"steps": 1})
    assert main(["finetune", "sft", str(config)]) == 0
    data.write_text(CONVERSATIONS.read_text().replace("366", "365"))
    assert main(["finetune", "sft", str(config), "--resume", "--set", "run.steps=2"]) == 2
    assert "data_sha256" in capsys.readouterr().err
