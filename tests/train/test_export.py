"""`gristmill export --format hf`: transformers loads the folder as Llama (no QK-norm) or Qwen3 (QK-norm) and
gives gristmill's logits within 1e-4 in fp32; its tokenizer gives the same ids; what does not map is refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from text_factory import article

from gristmill.cli import main
from model.config import preset
from model.gpt import GPT
from tokenizer import Tokenizer, train_bpe
from train import checkpoint
from train.export import starting_documents_with

transformers = pytest.importorskip("transformers")
EOS = "<|endoftext|>"


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tok")
    (folder / "text.txt").write_text("\n\n".join("\n".join(article(i, paragraphs=3)) for i in range(20)))
    train_bpe([folder / "text.txt"], 400, [EOS], workers=1).save(str(folder / "tok"))
    return folder / "tok"


def saved_checkpoint(root: Path, tokenizer_dir: Path, vocab_size: int = 400, **overrides: object) -> tuple[GPT, Path]:
    torch.manual_seed(0)
    model = GPT(preset("tiny", vocab_size=vocab_size, kernels="torch", **overrides))
    with torch.no_grad():  # norms away from 1 so a misplaced norm weight would show
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.uniform_(0.5, 1.5)
    sha = hashlib.sha256((tokenizer_dir / "tokenizer.json").read_bytes()).hexdigest()
    config = {"model": model.config.to_dict(), "tokenizer": str(tokenizer_dir), "tokenizer_sha256": sha, "eos_id": 399}
    checkpoint.save(root, 1, dict(model.state_dict()), {}, config, {"data": {}})
    return model, root


def tokenizer_json_apart_from_its_start(folder: Path) -> dict:
    """The exported tokenizer.json without its post-processor, which must put the end-of-text token first."""
    document = json.loads((folder / "tokenizer.json").read_text())
    processor = document.pop("post_processor")
    assert processor["type"] == "TemplateProcessing" and processor["single"][0] == {
        "SpecialToken": {"id": EOS, "type_id": 0}
    }
    return {**document, "post_processor": None}


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
    ids = hf_tokenizer.encode(text, add_special_tokens=False)
    assert ids == Tokenizer.load(str(tokenizer_dir)).encode(text)
    assert hf_tokenizer.encode(text) == [399, *ids]  # end-of-text first: the context documents start in, packed
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


def test_after_add_special_the_export_holds_the_tokenizer_the_model_was_trained_with(
    tmp_path: Path, tokenizer_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pretrained model of 400 rows whose tokenizer folder got the chat tokens since (404 ids): transformers
    gets the 400-id tokenizer it was trained with, byte for byte, and every id has its row."""
    original, extended = tmp_path / "original", tmp_path / "tok"
    shutil.copytree(tokenizer_dir, original)
    shutil.copytree(tokenizer_dir, extended)
    _, root = saved_checkpoint(tmp_path / "run", extended)
    assert main(["tokenizer", "add-special", str(extended), "--chat"]) == 0
    assert Tokenizer.load(extended).vocab_size == 404
    capsys.readouterr()
    assert main(["export", "--checkpoint", str(root), "--format", "hf", "--output", str(tmp_path / "hf")]) == 0
    note = capsys.readouterr().err
    assert "<|system|>, <|user|>, <|assistant|>, <|end|>" in note and "finetune sft" in note
    assert tokenizer_json_apart_from_its_start(tmp_path / "hf") == json.loads((original / "tokenizer.json").read_text())

    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "hf"), dtype=torch.float32).eval()
    assert len(hf_tokenizer) == hf.config.vocab_size == 400
    assert None not in hf_tokenizer.convert_ids_to_tokens(list(range(400)))
    text = "<|user|>Grind the grain?<|end|><|assistant|>"
    ids = hf_tokenizer.encode(text, add_special_tokens=False)
    assert ids == Tokenizer.load(original).encode(text, disallowed_special=())  # the chat tokens are plain text
    with torch.no_grad():
        assert hf(torch.arange(400).view(4, 100)).logits.shape == (4, 100, 400)  # a row for every id
        generated = hf.generate(torch.tensor([ids]), max_new_tokens=5, do_sample=False)
    assert generated.shape == (1, len(ids) + 5)
    assert "chat_template" not in json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())


def test_a_model_with_rows_for_every_id_exports_its_tokenizer_as_it_is(tmp_path: Path, tokenizer_dir: Path) -> None:
    """Fine-tuned: 404 rows, trained with the extended tokenizer: exported as is, with the chat template."""
    extended = tmp_path / "tok"
    shutil.copytree(tokenizer_dir, extended)
    assert main(["tokenizer", "add-special", str(extended), "--chat"]) == 0
    _, root = saved_checkpoint(tmp_path / "run", extended, vocab_size=404)
    assert main(["export", "--checkpoint", str(root), "--output", str(tmp_path / "hf")]) == 0
    assert tokenizer_json_apart_from_its_start(tmp_path / "hf") == json.loads((extended / "tokenizer.json").read_text())
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    assert len(hf_tokenizer) == 404 and hf_tokenizer.chat_template
    chat = [{"role": "user", "content": "Grind?"}]
    rendered = hf_tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert hf_tokenizer.apply_chat_template(chat, add_generation_prompt=True)["input_ids"][0] != 399  # no EOS first
    assert rendered.startswith("<|user|>")


def test_a_tokenizer_with_more_ids_than_rows_and_no_known_link_is_refused(
    tmp_path: Path, tokenizer_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint that records no fingerprint cannot say the new tokens came later: refused, naming the fix."""
    extended = tmp_path / "tok"
    shutil.copytree(tokenizer_dir, extended)
    _, root = saved_checkpoint(tmp_path / "run", tokenizer_dir)
    config = root / "step-000001" / "config.json"
    config.write_text(json.dumps({k: v for k, v in json.loads(config.read_text()).items() if k != "tokenizer_sha256"}))
    assert main(["tokenizer", "add-special", str(extended), "--chat"]) == 0
    capsys.readouterr()
    args = ["export", "--checkpoint", str(root), "--output", str(tmp_path / "hf"), "--tokenizer", str(extended)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--tokenizer {extended}: 404 ids for a model of 400 embedding rows" in err[0]
    assert not (tmp_path / "hf").exists()


@pytest.mark.parametrize(
    "processor",
    [
        None,
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                      {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        ]},
    ],
)  # fmt: skip
def test_the_end_of_text_template_keeps_offsets_and_replaces_another_start(
    tmp_path: Path, tokenizer_dir: Path, processor: dict | None
) -> None:
    """HF tokenizers loads the result; the ids are end-of-text then the text's, whatever came before."""
    from tokenizers import Tokenizer as HfTokenizer

    document = json.loads((tokenizer_dir / "tokenizer.json").read_text())
    document["post_processor"] = processor
    written = starting_documents_with(json.dumps(document), EOS, 399)
    hf = HfTokenizer.from_str(written)
    plain = Tokenizer.load(str(tokenizer_dir)).encode("the grain")
    assert hf.encode("the grain").ids == [399, *plain]
    kept = [p["type"] for p in json.loads(written)["post_processor"].get("processors", [])]
    assert kept == ([] if processor is None else ["ByteLevel", "TemplateProcessing"])
