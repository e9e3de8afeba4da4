"""`gristmill plan` against figures computed by hand: parameters exact, FLOPs exact (the issue asks within 1%),
Chinchilla tokens, time, and memory per GPU by its stated accounting; the command prints them."""

from __future__ import annotations

import pytest

from gristmill.cli import main
from model.config import preset
from model.hardware import accelerator
from model.plan import Plan, parse_count

H100 = accelerator("NVIDIA H100 80GB HBM3")


def test_124m_by_hand() -> None:
    plan = Plan(preset("124m"), H100, tokens=10_000_000_000, gpus=8, mfu=0.5)
    d, layers, hidden, vocab = 768, 12, 2048, 50304
    block = 4 * d * d + 3 * d * hidden + 2 * d + 2 * 64  # q, k, v, out; gate, up, down; two norms; q / k norms
    assert plan.parameters == vocab * d + layers * block + d == 123_588_864  # tied head
    flops_per_token = 6 * (layers * (4 * d * d + 3 * d * hidden) + vocab * d) + 6 * layers * 1024 * d
    assert plan.training_flops == pytest.approx(flops_per_token * 10e9, rel=0.01)
    assert plan.chinchilla_tokens == 20 * 123_588_864
    assert plan.seconds == pytest.approx(flops_per_token * 10e9 / (8 * 989.4e12 * 0.5), rel=0.01)


def test_memory_accounting() -> None:
    config = preset("124m")
    adamw = Plan(config, H100, micro_batch=4).memory(checkpointing=False)
    p = config.parameters()
    assert adamw["weights"] + adamw["gradients"] + adamw["optimizer"] == 16 * p
    layer = 26 * 768 + 6 * 768 + 6 * 2048 + 4 * 12 + 16  # no GQA: kv = d
    assert adamw["activations"] == 4 * 1024 * (12 * layer + 6 * 768)
    checkpointed = Plan(config, H100, micro_batch=4).memory(checkpointing=True)
    assert checkpointed["activations"] == 4 * 1024 * (12 * 4 * 768 + layer + 6 * 768) < adamw["activations"]
    assert adamw["total"] == sum(v for k, v in adamw.items() if k != "total")
    matrices = 12 * (4 * 768 * 768 + 3 * 768 * 2048)
    assert adamw["bf16 weight copies"] == 2 * matrices and checkpointed["bf16 weight copies"] == 2 * matrices // 12
    no_qk_norm = Plan(preset("124m", qk_norm=False), H100).layer_activation_bytes()
    assert no_qk_norm == layer - (2 * 768 + 2 * 768)
    muon = Plan(config, H100, optimizer="muon").memory(False)
    assert muon["optimizer"] == 4 * matrices + 8 * (p - matrices)
    sharded = Plan(config, H100, gpus=8, parallel="fsdp").memory(False)
    assert sharded["weights"] == -(-4 * p // 8) and sharded["gathered blocks"] == 8 * config.block_parameters()
    assert sharded["gathered root"] == 8 * (50304 * 768 + 768)  # tied: the embedding is the head


def test_counts_parse() -> None:
    assert [parse_count(t) for t in ("10B", "300m", "2.5e9", "1_000", "4k")] == [
        10**10,
        3 * 10**8,
        25 * 10**8,
        1000,
        4000,
    ]
    for bad, message in (("ten", "expected a number"), ("1.2.3", "expected a number"), ("0", "at least 1")):
        with pytest.raises(ValueError, match=message):
            parse_count(bad)


def test_the_command_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--preset", "350m", "--tokens", "7B", "--gpu", "H200", "--gpus", "4", "--mfu", "0.45"]) == 0
    out = capsys.readouterr().out
    plan = Plan(preset("350m"), accelerator("H200"), 7 * 10**9, 4, 0.45)
    assert f"{plan.parameters:,}" in out and "7,000,000,000" in out and "4 x H200 at 45% MFU" in out
    assert f"{plan.seconds / 3600:,.1f} h" in out and "activation checkpointing" in out
    for args, message in ((["--gpu", "X100"], "expected one of"), (["--tokens", "lots"], "expected a number"),
                          (["--mfu", "2"], "fraction"), (["--heads", "5"], "multiple"),
                          (["--optimizer", "muon", "--parallel", "fsdp"], "whole matrices")):  # fmt: skip
        assert main(["plan", *args]) == 2
        assert message in capsys.readouterr().err
