"""pipeline.recipe.load_recipe on TOML files: strict validation with one-line errors naming file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from gristmill_base.errors import UserError
from pipeline.prepared import prepare_run
from pipeline.recipe import load_recipe, recipe_from_dict
from pipeline.runner import resolved_recipe

INGEST = '[[stage]]\nkind = "ingest"\n'


def write(tmp_path: Path, text: str, name: str = "r.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(UserError) as caught:
        load_recipe(path)
    message = str(caught.value)
    assert "\n" not in message, "errors are one line"
    assert message.startswith(f"{path}: "), "errors name the recipe file"
    return message.removeprefix(f"{path}: ")


def test_minimal_recipe_gets_defaults_and_a_shard_stage(tmp_path: Path):
    recipe = load_recipe(write(tmp_path, INGEST))
    assert [stage.kind for stage in recipe.stage] == ["ingest", "shard"]
    assert recipe.ingest.extractor == "resiliparse"
    assert recipe.ingest.max_html_bytes == 5_000_000
    assert recipe.ingest.invalid_utf8 == "skip"
    assert recipe.shard.shard_size == 256_000_000
    assert recipe.executor.kind == "local"
    assert recipe.executor.workers >= 1
    assert [stage.kind for stage in recipe.stage] == ["ingest", "shard"]


def test_relative_inputs_resolve_against_the_recipe_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "recipes"
    folder.mkdir()
    text = INGEST + 'inputs = ["data/a.warc.gz", "../b.jsonl", "/abs/c.parquet", "s3://bucket/d.warc.gz"]\n'
    path = write(folder, text)
    monkeypatch.chdir(tmp_path.parent)  # not the recipe folder
    assert load_recipe(path).ingest.inputs == [
        str(folder / "data" / "a.warc.gz"),
        str(tmp_path / "b.jsonl"),
        "/abs/c.parquet",
        "s3://bucket/d.warc.gz",
    ]


def test_run_output_written_in_a_recipe_is_relative_to_it_and_a_typed_output_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The one rule for paths: written in a file, relative to that file; typed, relative to where you are."""
    folder = tmp_path / "recipes"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write(folder, '[run]\noutput = "../runs/x"\n\n' + INGEST + 'inputs = ["a.jsonl"]\n')
    (folder / "a.jsonl").write_text('{"text": "one"}\n')
    assert prepare_run(path).run_dir == tmp_path / "runs" / "x"
    assert prepare_run(path, output="typed").run_dir == elsewhere / "typed"
    unnamed = write(folder, INGEST + 'inputs = ["a.jsonl"]\n')
    assert prepare_run(unnamed).run_dir == elsewhere / "runs" / unnamed.stem  # a default: the current folder


def test_full_recipe_with_sizes_and_slurm(tmp_path: Path):
    text = (
        '[run]\nname = "cc"\nlimit = 1000\n'
        '[executor]\nkind = "slurm"\ntasks = 64\n'
        '[executor.slurm]\npartition = "cpu"\nmem_per_cpu_gb = 4\nsbatch_args = { account = "lab" }\n'
        '[[stage]]\nkind = "ingest"\nextractor = "trafilatura"\nmax_html_bytes = "2MB"\nextract_timeout = 5\n'
        '[[stage]]\nkind = "shard"\nshard_size = "1GiB"\nrow_group_size = "64MB"\ncompression_level = 9\n'
    )
    recipe = load_recipe(write(tmp_path, text))
    assert recipe.run.limit == 1000
    assert (recipe.executor.kind, recipe.executor.tasks) == ("slurm", 64)
    assert (recipe.executor.slurm.partition, recipe.executor.slurm.mem_per_cpu_gb) == ("cpu", 4.0)
    assert recipe.executor.slurm.sbatch_args == {"account": "lab"}
    assert (recipe.ingest.extractor, recipe.ingest.max_html_bytes, recipe.ingest.extract_timeout) == (
        "trafilatura",
        2_000_000,
        5.0,
    )
    assert (recipe.shard.shard_size, recipe.shard.row_group_size) == (1024**3, 64_000_000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bogus = 1\n" + INGEST, "bogus: unknown key; expected one of: executor, run, stage"),
        (
            "[run]\nnmae = 'x'\n" + INGEST,
            "run.nmae: unknown key; expected one of: allow_empty_inputs, keep_intermediate, limit, name, output",
        ),
        (
            "[executor]\nworker = 2\n" + INGEST,
            "executor.worker: unknown key; expected one of: kind, ray, slurm, tasks, workers",
        ),
        (INGEST + 'extracter = "trafilatura"\n', "stage[0].extracter: unknown key; expected one of: "),
        (
            INGEST + '[[stage]]\nkind = "shard"\nsize = 3\n',
            "stage[1].size: unknown key; expected one of: compression_level, kind,",
        ),
        (
            '[executor]\nkind = "slurm"\n[executor.slurm]\npartition = "p"\nqueue = "x"\n' + INGEST,
            "executor.slurm.queue: unknown key",
        ),
    ],
)
def test_unknown_keys_are_named_with_the_allowed_ones(tmp_path: Path, text: str, expected: str):
    assert error_of(write(tmp_path, text)).startswith(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (INGEST + 'inputs = "a.warc.gz"\n', "stage[0].inputs: expected a valid list, got 'a.warc.gz'"),
        (INGEST + 'main_content = "yes"\n', "stage[0].main_content: expected a valid boolean, got 'yes'"),
        ('[executor]\nworkers = "4"\n' + INGEST, "executor.workers: expected a valid integer, got '4'"),
        ("[executor]\nworkers = 2.5\n" + INGEST, "executor.workers: expected a valid integer, got 2.5"),
        ('stage = "ingest"\n', "stage: expected a valid list, got 'ingest'"),
    ],
)
def test_wrong_types_are_not_coerced(tmp_path: Path, text: str, expected: str):
    assert error_of(write(tmp_path, text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (INGEST + 'extractor = "foo"\n', "stage[0].extractor: expected 'resiliparse' or 'trafilatura', got 'foo'"),
        (INGEST + 'invalid_utf8 = "ignore"\n', "stage[0].invalid_utf8: expected 'skip' or 'replace', got 'ignore'"),
        (
            INGEST + 'format = "csv"\n',
            "stage[0].format: expected 'auto', 'warc', 'jsonl', 'parquet' or 'txt', got 'csv'",
        ),
        (INGEST + "extract_timeout = 0\n", "stage[0].extract_timeout: expected greater than 0, got 0"),
        ("[executor]\nworkers = 0\n" + INGEST, "executor.workers: expected greater than or equal to 1, got 0"),
        ("[run]\nlimit = 0\n" + INGEST, "run.limit: expected greater than or equal to 1, got 0"),
        (
            INGEST + '[[stage]]\nkind = "shard"\ncompression_level = 30\n',
            "stage[1].compression_level: expected less than or equal to 22, got 30",
        ),
        ('[executor]\nkind = "k8s"\n' + INGEST, "executor.kind: expected 'local', 'slurm' or 'ray', got 'k8s'"),
    ],
)
def test_bad_values_say_what_was_expected(tmp_path: Path, text: str, expected: str):
    assert error_of(write(tmp_path, text)) == expected


@pytest.mark.parametrize("key", ["shard_size", "row_group_size"])
def test_bad_byte_sizes_name_the_key(tmp_path: Path, key: str):
    message = error_of(write(tmp_path, INGEST + f'[[stage]]\nkind = "shard"\n{key} = "12XB"\n'))
    assert message.startswith(f"stage[1].{key}: ")
    assert message.endswith("got '12XB'")


def test_bad_max_html_bytes_names_the_key(tmp_path: Path):
    message = error_of(write(tmp_path, INGEST + 'max_html_bytes = "lots"\n'))
    assert message.startswith("stage[0].max_html_bytes: ")
    assert message.endswith("got 'lots'")


def test_slurm_partition_is_required(tmp_path: Path):
    with_table = '[executor]\nkind = "slurm"\n[executor.slurm]\ntime = "1:00:00"\n' + INGEST
    assert error_of(write(tmp_path, with_table)) == "executor.slurm.partition: missing required key"
    without_table = '[executor]\nkind = "slurm"\n' + INGEST
    assert error_of(write(tmp_path, without_table, "bare.toml")).startswith(
        "executor.slurm.partition: missing required key"
    )


def test_slurm_table_is_not_needed_for_local_runs(tmp_path: Path):
    recipe = load_recipe(write(tmp_path, '[executor]\nkind = "local"\nworkers = 2\n' + INGEST))
    assert (recipe.executor.kind, recipe.executor.workers, recipe.executor.slurm) == ("local", 2, None)


ALL_KINDS = (
    "'ingest', 'url_filter', 'langid', 'gopher_repetition', 'gopher_quality', 'c4', 'fineweb', 'length', 'pii', "
    "'classifier', 'hf_classifier', 'decontaminate', 'exact_dedup', 'line_dedup', 'minhash_dedup', 'shard'"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[stage]]\nkind = "shard"\n[[stage]]\nkind = "ingest"\n',
            "stage[0].kind: expected 'ingest' as the first stage",
        ),
        (INGEST + INGEST, "stage: expected exactly one 'ingest' stage, got 2"),
        (
            INGEST + '[[stage]]\nkind = "shard"\n[[stage]]\nkind = "shard"\n',
            "stage: expected exactly one 'shard' stage, got 2",
        ),
        (INGEST + '[[stage]]\nkind = "dedup"\n', f"stage[1].kind: expected one of {ALL_KINDS}, got 'dedup'"),
        ("[[stage]]\ninputs = []\n", f"stage[0].kind: expected one of {ALL_KINDS}, got None"),
        (INGEST + '[[stage]]\nkind = "pii"\n[[stage]]\nkind = "pii"\n', "stage[2].kind: 'pii' appears twice"),
        ('[run]\nname = "no stages"\n', "stage[0].kind: expected 'ingest' as the first stage"),
    ],
)
def test_stage_order_rules(tmp_path: Path, text: str, expected: str):
    assert error_of(write(tmp_path, text)).startswith(expected)


def test_invalid_toml_is_one_line_naming_the_file(tmp_path: Path):
    assert error_of(write(tmp_path, '[[stage]\nkind = "ingest"\n')).startswith("not valid TOML: ")


def test_missing_recipe_file(tmp_path: Path):
    path = tmp_path / "absent.toml"
    assert error_of(path) == "recipe file not found"


def test_recipes_are_data_only(tmp_path: Path):
    marker = tmp_path / "executed"
    text = INGEST + f"inputs = [\"$(touch {marker})\", \"__import__('os').system('touch {marker}')\"]\n"
    recipe = load_recipe(write(tmp_path, text))
    assert len(recipe.ingest.inputs) == 2
    assert not marker.exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '[executor]\nkind = "local"\n[executor.slurm]\npartition = "p"\n',
            "executor.slurm: given, but executor.kind is 'local'",
        ),
        ("[executor.ray]\ncpus_per_task = 2\n", "executor.ray: given, but executor.kind is 'local'"),
        ("extract_timeout = inf\n", "stage[0].extract_timeout"),
        ("extract_timeout = 1e9\n", "stage[0].extract_timeout: expected less than or equal to 86400"),
        ('text_field = ""\n', "stage[0].text_field"),
    ],
)
def test_settings_that_cannot_work_are_refused_up_front(tmp_path: Path, body: str, expected: str):
    stage = '[[stage]]\nkind = "ingest"\n'
    text = body if body.startswith("[executor") else stage + body
    text = text + stage if body.startswith("[executor") else text
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        load_recipe(path)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("key", ["shard_size", "row_group_size"])
def test_zero_sizes_are_refused(tmp_path: Path, key: str):
    path = tmp_path / "r.toml"
    path.write_text(f'[[stage]]\nkind = "ingest"\n[[stage]]\nkind = "shard"\n{key} = 0\n')
    with pytest.raises(UserError, match=rf"stage\[1\]\.{key}: expected greater than 0"):
        load_recipe(path)


FILTERS = INGEST + (
    '[[stage]]\nkind = "url_filter"\ndefault_lists = false\ndomains_files = ["lists/domains.txt"]\n'
    '[[stage]]\nkind = "langid"\nkeep = ["en"]\nmin_score = 0.65\n'
    '[[stage]]\nkind = "gopher_repetition"\nmax_top_ngram_chars = { "2" = 0.25 }\n'
    '[[stage]]\nkind = "pii"\n'
)


def test_filter_stages_parse_in_order_with_lists_resolved_against_the_recipe(tmp_path: Path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "domains.txt").write_text("bad.example\n")
    recipe = load_recipe(write(tmp_path, FILTERS))
    assert [s.kind for s in recipe.stage] == ["ingest", "url_filter", "langid", "gopher_repetition", "pii", "shard"]
    assert [s.kind for s in recipe.filter_stages] == ["url_filter", "langid", "gopher_repetition", "pii"]
    assert recipe.stage[1].domains_files == [str(tmp_path / "lists" / "domains.txt")]
    assert recipe.stage[3].max_top_ngram_chars == {"2": 0.25}


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ('kind = "langid"\nkeep = ["English"]\n', "stage[1].keep[0]: String should match pattern"),
        ('kind = "langid"\nmin_score = 1.5\n', "stage[1].min_score: expected less than or equal to 1, got 1.5"),
        ('kind = "gopher_quality"\nmin_words = "50"\n', "stage[1].min_words: expected a valid integer, got '50'"),
        ('kind = "c4"\nterminal_punctuation = "no"\n', "stage[1].terminal_punctuation: expected a valid boolean"),
        ('kind = "fineweb"\nmax_short_lines = 2\n', "stage[1].max_short_lines: expected less than or equal to 1"),
        ('kind = "gopher_repetition"\nmax_top_ngram_chars = { two = 0.2 }\n', "stage[1].max_top_ngram_chars: "),
        ('kind = "pii"\nphone_mask = "x"\n', "stage[1].phone_mask: unknown key; expected one of"),
    ],
)
def test_bad_filter_parameters_are_one_line_errors(tmp_path: Path, stage: str, expected: str):
    assert error_of(write(tmp_path, INGEST + "[[stage]]\n" + stage)).startswith(expected)


def test_missing_url_list_file_is_refused_up_front(tmp_path: Path):
    text = INGEST + '[[stage]]\nkind = "url_filter"\nbanned_words_files = ["absent.txt"]\n'
    assert error_of(write(tmp_path, text)) == (
        f"stage[1].banned_words_files: list file not found: {tmp_path / 'absent.txt'}"
    )


def test_switched_off_rules_stay_off_in_the_resolved_recipe(tmp_path: Path):
    (tmp_path / "in.txt").write_text("hello")
    text = (
        '[[stage]]\nkind = "ingest"\ninputs = ["in.txt"]\n'
        '[[stage]]\nkind = "gopher_quality"\nmin_words = false\n[[stage]]\nkind = "length"\n'
    )
    prepared = prepare_run(write(tmp_path, text))
    assert prepared.recipe.stage[1].min_words is None
    resolved = tmp_path / "resolved.toml"
    resolved.write_text(tomli_w.dumps(resolved_recipe(prepared)).replace("[gristmill]", "[ignored]"))
    data = tomllib.loads(resolved.read_text())
    assert data["stage"][1]["min_words"] is False and data["stage"][2]["min_chars"] is False
    del data["ignored"]
    again = recipe_from_dict(data, source="resolved.toml", base_dir=tmp_path)
    assert again.stage[1].min_words is None and again.stage[1].max_words == 100_000
