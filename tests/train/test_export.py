"""`gristmill export --format hf`: transformers loads the folder as Llama (no QK-norm) or Qwen3 (QK-norm) and
gives gristmill's logits within 1e-4 in fp32; its tokenizer gives the same ids; what does not map is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from text_factory import article

from gristmill.cli import main
from model.config import preset
from model.gpt import GPT
from tokenizer import Tokenizer, train_bpe
from train import checkpoint

transformers = pytest.importorskip("transformers")
EOS = "<|endoftext|>"


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tok")
    (folder / "text.txt").write_text("\n\n".join("\n".join(article(i, paragraphs=3)) for i in range(20)))
    train_bpe([folder / "text.txt"], 400, [EOS], workers=1).save(str(folder / "tok"))
    return folder / "tok"


def saved_checkpoint(root: Path, tokenizer_dir: Path, **overrides: object) -> tuple[GPT, Path]:
    torch.manual_seed(0)
    model = GPT(preset("tiny", vocab_size=400, kernels="torch", **overrides))
    with torch.no_grad():  # norms away from 1 so a misplaced norm weight would show
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.uniform_(0.5, 1.5)
    sha = hashlib.sha256((tokenizer_dir / "tokenizer.json").read_bytes()).hexdigest()
    config = {"model": model.config.to_dict(), "tokenizer": str(tokenizer_dir), "tokenizer_sha256": sha, "eos_id": 399}
    checkpoint.save(root, 1, dict(model.state_dict()), {}, config, {"data": {}})
    return model, root


@pytest.mark.parametrize(
    ("overrides", "architecture"),
    [
        ({"qk_norm": True, "tie_embeddings": False}, "Qwen3ForCausalLM"),
        ({"qk_norm": False, "tie_embeddings": True, "n_kv_heads": 1}, "LlamaForCausalLM"),
    ],
)
def test_transformers_gives_the_same_logits_and_ids(
    tmp_path: Path, tokenizer_dir: Path, overrides: dict, architecture: str
) -> None:
    model, root = saved_checkpoint(tmp_path / "run", tokenizer_dir, **overrides)
    assert main(["export", "--checkpoint", str(root), "--format", "hf", "--output", str(tmp_path / "hf")]) == 0
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "hf"), dtype=torch.float32).eval()
    assert type(hf).__name__ == architecture
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    text = "The miller grinds the grain; la meunière moud le grain. 🙂"
    ids = hf_tokenizer.encode(text)
    assert ids == Tokenizer.load(str(tokenizer_dir)).encode(text)
    assert hf_tokenizer.eos_token == EOS
    tokens = torch.tensor([ids[:60], list(reversed(ids[:60]))])
    with torch.no_grad():
        assert torch.allclose(hf(tokens).logits, model(tokens), atol=1e-4)


@pytest.mark.parametrize(
    ("overrides", "message"), [({"mlp": "relu2"}, "relu2"), ({"logit_softcap": 30.0}, "logit_softcap")]
)
def test_options_that_do_not_map_are_refused(
    tmp_path: Path, tokenizer_dir: Path, overrides: dict, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, root = saved_checkpoint(tmp_path / "run", tokenizer_dir, **overrides)
    assert main(["export", "--checkpoint", str(root), "--output", str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "no Llama / Qwen3 counterpart" in err[0]
    assert not (tmp_path / "hf").exists()


def test_the_output_folder_is_never_something_else(
    tmp_path: Path, tokenizer_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, root = saved_checkpoint(tmp_path / "run", tokenizer_dir)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    (tmp_path / "file").write_text("x")
    for output, message in ((root, "inside the checkpoint"), (root / "step-000001", "inside the checkpoint"),
                            (other, "not an earlier export"), (tmp_path / "file", "is a file")):  # fmt: skip
        assert main(["export", "--checkpoint", str(root), "--output", str(output)]) == 2
        assert message in capsys.readouterr().err
    assert (other / "keep.txt").read_text() == "mine" and (root / "latest").is_file()
    for _ in range(2):  # a new folder, then the earlier export replaced
        assert main(["export", "--checkpoint", str(root), "--output", str(tmp_path / "hf")]) == 0
    assert sorted(p.name for p in (tmp_path / "hf").iterdir()) == [
        "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"
    ]  # fmt: skip
