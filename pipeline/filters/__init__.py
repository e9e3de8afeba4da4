"""Per-document filter stages: each one a plain function on one document and a recipe stage.

from pipeline.filters import gopher_quality, GopherQualityStage
gopher_quality(text)                                   # Verdict(text, removed_by, removed_detail, columns)
gopher_quality(text, GopherQualityStage(min_words=20))
"""

from pipeline.filters.c4 import C4Stage, c4_filter
from pipeline.filters.fineweb import FineWebStage, fineweb_filter
from pipeline.filters.gopher import GopherQualityStage, GopherRepetitionStage, gopher_quality, gopher_repetition
from pipeline.filters.langid import LangIdStage, identify_language
from pipeline.filters.length import LengthStage, length_filter
from pipeline.filters.pii import PiiStage, mask_pii
from pipeline.filters.urls import UrlFilterStage, url_filter
from pipeline.filters.verdict import Verdict

__all__ = [
    "C4Stage",
    "FineWebStage",
    "GopherQualityStage",
    "GopherRepetitionStage",
    "LangIdStage",
    "LengthStage",
    "PiiStage",
    "UrlFilterStage",
    "Verdict",
    "c4_filter",
    "fineweb_filter",
    "gopher_quality",
    "gopher_repetition",
    "identify_language",
    "length_filter",
    "mask_pii",
    "url_filter",
]
