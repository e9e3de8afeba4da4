"""pipeline.filters.urls: each blocklist rule on both sides, list files, the shipped lists, bad URLs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from gristmill_base.errors import UserError
from pipeline.filters.urls import UrlBlocklist, UrlFilterStage, url_filter

ROOT = Path(__file__).resolve().parents[3]


def build(tmp_path: Path, options: dict | None = None, **lists: str) -> UrlBlocklist:
    """A blocklist without the shipped lists; each keyword (e.g. `domains_files`) is one file's content."""
    paths: dict[str, list[str]] = {}
    for field, content in lists.items():
        path = tmp_path / f"{field}.txt"
        path.write_text(content, encoding="utf-8")
        paths[field] = [str(path)]
    return UrlBlocklist(UrlFilterStage(default_lists=False, **paths, **(options or {})))


def outcome(blocklist: UrlBlocklist, url: str | None) -> tuple[str | None, str | None]:
    verdict = blocklist.check(url, "the text")
    assert verdict.text == "the text"
    return verdict.removed_by, verdict.removed_detail


@pytest.fixture(scope="module")
def shipped() -> UrlBlocklist:
    """The default lists, loaded once for the module (a few seconds)."""
    return UrlBlocklist(UrlFilterStage())


@pytest.mark.parametrize(
    ("url", "listed"),
    [
        ("https://bad.com/page", "bad.com"),
        ("http://a.b.bad.com", "bad.com"),
        ("HTTPS://USER:pw@WWW.Bad.COM:8443/x?y#z", "bad.com"),
        ("bad.com/path", "bad.com"),
        ("//bad.com", "bad.com"),
        ("https://bad.com./", "bad.com"),
        ("https://x.sub.good.com/page", "sub.good.com"),
        ("https://sub.good.com", "sub.good.com"),
        ("https://deep.er.bad.co.uk/", "bad.co.uk"),
        ("http://10.0.0.1:8080/admin", "10.0.0.1"),
        ("http://[::1]:80/", "::1"),
        ("https://a.blocked.test/x", "blocked.test"),
        ("https://notbad.com", None),
        ("https://bad.com.evil.org/bad.com", None),
        ("https://good.com", None),
        ("https://other.good.com", None),
        ("https://bbc.co.uk/news", None),
        ("http://110.0.0.1/", None),
        ("http://10.0.0.2/", None),
    ],
)
def test_domain_rule_covers_the_host_and_its_parents_down_to_the_registered_domain(
    tmp_path: Path, url: str, listed: str | None
) -> None:
    domains = "bad.com\nsub.good.com\nbad.co.uk\nco.uk\n10.0.0.1\n::1\nblocked.test\n"
    expected = ("url_domain", f"domain={listed} in blocklist") if listed else (None, None)
    assert outcome(build(tmp_path, domains_files=domains), url) == expected


def test_a_listed_public_suffix_blocks_only_itself(tmp_path: Path) -> None:
    blocklist = build(tmp_path, domains_files="co.uk\n")
    assert outcome(blocklist, "https://bbc.co.uk/") == (None, None)
    assert outcome(blocklist, "https://co.uk/") == ("url_domain", "domain=co.uk in blocklist")


@pytest.mark.parametrize(
    ("listed", "url", "matched"),
    [
        ("www.example.org", "https://example.org/", "example.org"),
        ("www.example.org", "https://www.example.org/", "example.org"),
        ("example.org", "https://www.www.example.org/", "example.org"),
        ("xn--bcher-kva.de", "https://www.Bücher.de/x", "xn--bcher-kva.de"),
        ("bücher.de", "https://shop.xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("BÜCHER.DE", "https://bücher.de", "xn--bcher-kva.de"),
        (".dotted.net.", "https://dotted.net", "dotted.net"),
    ],
)
def test_hosts_are_compared_without_www_case_or_unicode_differences(
    tmp_path: Path, listed: str, url: str, matched: str
) -> None:
    assert outcome(build(tmp_path, domains_files=listed), url) == ("url_domain", f"domain={matched} in blocklist")


@pytest.mark.parametrize(
    ("url", "matched"),
    [
        ("http://bad.org/path/page", "bad.org/path/page"),
        ("https://www.bad.org/path/page/#frag", "bad.org/path/page"),
        ("https://user@BAD.org:443/PATH/Page", "bad.org/path/page"),
        ("example.com/some/thing", "example.com/some/thing"),
        ("https://site.net/search?q=x", "site.net/search?q=x"),
        ("https://bad.org/path", None),
        ("https://bad.org/path/page/more", None),
        ("https://sub.bad.org/path/page", None),
        ("https://site.net/search?q=y", None),
        ("https://site.net/search", None),
    ],
)
def test_exact_rule_matches_normalised_urls_only(tmp_path: Path, url: str, matched: str | None) -> None:
    urls = "bad.org/path/page\nhttps://www.Example.com/Some/Thing/\nsite.net/search?q=x\n"
    expected = ("url_exact", f"url={matched} in blocklist") if matched else (None, None)
    assert outcome(build(tmp_path, urls_files=urls), url) == expected


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("https://example.com/best-casino-2024", "casino"),
        ("https://CASINO.example.com/", "casino"),
        ("https://example.com/?game=roulette_wheel", "roulette"),
        ("https://example.com/a/b?q=xx-casino", "casino"),
        ("https://example.com/casinos", None),
        ("https://example.com/onlinecasino", None),
        ("https://example.com/", None),
    ],
)
def test_banned_words_are_whole_words_of_the_url(tmp_path: Path, url: str, word: str | None) -> None:
    blocklist = build(tmp_path, banned_words_files="casino\nRoulette\n")
    expected = ("url_banned_word", f"word={word} in banned words") if word else (None, None)
    assert outcome(blocklist, url) == expected


@pytest.mark.parametrize(
    ("threshold", "url", "words"),
    [
        (2, "https://example.com/poker", None),
        (2, "https://example.com/poker/poker-poker", None),
        (2, "https://example.com/poker-bonus", "bonus, poker"),
        (2, "https://slots.example.com/poker-bonus", "bonus, poker, slots"),
        (3, "https://example.com/poker-bonus", None),
        (3, "https://example.com/poker-bonus-slots", "bonus, poker, slots"),
        (1, "https://example.com/slots", "slots"),
    ],
)
def test_soft_words_remove_from_the_threshold_of_distinct_words(
    tmp_path: Path, threshold: int, url: str, words: str | None
) -> None:
    blocklist = build(
        tmp_path, {"soft_banned_word_threshold": threshold}, soft_banned_words_files="poker\nslots\nbonus\n"
    )
    if words is None:
        assert outcome(blocklist, url) == (None, None)
    else:
        count = words.count(",") + 1
        assert outcome(blocklist, url) == (
            "url_soft_banned_words",
            f"soft_banned_words={count} >= {threshold} ({words})",
        )


@pytest.mark.parametrize(
    ("url", "subword"),
    [
        ("https://example.com/hotxxxvideos", "xxx"),
        ("https://xx.x.example.com/", "xxx"),
        ("https://example.com/bad-word", "badword"),
        ("https://example.com/BAD_WORD", "badword"),
        ("https://example.com/x-x-y", None),
        ("https://example.com/bad/good", None),
    ],
)
def test_subwords_match_anywhere_in_the_url_without_separators(tmp_path: Path, url: str, subword: str | None) -> None:
    blocklist = build(tmp_path, banned_subwords_files="xxx\nbad word\n")
    expected = ("url_banned_subword", f"subword={subword} in url") if subword else (None, None)
    assert outcome(blocklist, url) == expected


def test_rules_apply_in_order_domain_exact_word_soft_subword(tmp_path: Path) -> None:
    blocklist = build(
        tmp_path,
        domains_files="bad.com\n",
        urls_files="worse.com/casino\n",
        banned_words_files="casino\n",
        soft_banned_words_files="poker\nslots\n",
        banned_subwords_files="xxx\n",
    )
    assert outcome(blocklist, "https://bad.com/casino-poker-slots-xxx")[0] == "url_domain"
    assert outcome(blocklist, "https://worse.com/casino")[0] == "url_exact"
    assert outcome(blocklist, "https://ok.com/casino-poker-slots-xxx")[0] == "url_banned_word"
    assert outcome(blocklist, "https://ok.com/poker-slots-xxx")[0] == "url_soft_banned_words"
    assert outcome(blocklist, "https://ok.com/poker-xxx")[0] == "url_banned_subword"


def test_list_files_skip_comments_blank_lines_and_surrounding_whitespace(tmp_path: Path) -> None:
    blocklist = build(
        tmp_path,
        domains_files="# a header\n\n   \n  spaced.com  \r\n#commented.com\nlast.com",
        banned_words_files="# words\n#disabled\n\nenabled\n",
    )
    assert outcome(blocklist, "https://spaced.com/")[0] == "url_domain"
    assert outcome(blocklist, "https://last.com/")[0] == "url_domain"
    assert outcome(blocklist, "https://commented.com/") == (None, None)
    assert outcome(blocklist, "https://example.com/disabled") == (None, None)
    assert outcome(blocklist, "https://example.com/enabled")[0] == "url_banned_word"


def test_several_files_per_list_are_merged(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("one.com\n")
    (tmp_path / "two.txt").write_text("two.com\n")
    files = [str(tmp_path / "one.txt"), str(tmp_path / "two.txt")]
    blocklist = UrlBlocklist(UrlFilterStage(default_lists=False, domains_files=files))
    assert outcome(blocklist, "https://one.com")[0] == outcome(blocklist, "https://two.com")[0] == "url_domain"


@pytest.mark.parametrize(
    "field",
    ["domains_files", "urls_files", "banned_words_files", "banned_subwords_files", "soft_banned_words_files"],
)
def test_a_missing_list_file_is_a_user_error_naming_it(tmp_path: Path, field: str) -> None:
    missing = tmp_path / "nope" / "list.txt"
    with pytest.raises(UserError, match=re.escape(str(missing))) as caught:
        UrlBlocklist(UrlFilterStage(**{field: [str(missing)]}))
    assert "\n" not in str(caught.value)


def test_a_directory_is_not_a_list_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=re.escape(str(tmp_path))):
        UrlBlocklist(UrlFilterStage(default_lists=False, domains_files=[str(tmp_path)]))


@pytest.mark.parametrize("url", [None, "", "   \t\n", b"https://bytes.example/", 42])
@pytest.mark.parametrize("policy", ["keep", "remove"])
def test_missing_url_follows_the_policy(tmp_path: Path, url: object, policy: str) -> None:
    blocklist = build(tmp_path, {"missing_url": policy})
    expected = ("url_missing", "url missing") if policy == "remove" else (None, None)
    assert outcome(blocklist, url) == expected  # type: ignore[arg-type]


def test_a_present_url_is_not_missing(tmp_path: Path) -> None:
    assert outcome(build(tmp_path, {"missing_url": "remove"}), "https://example.com/") == (None, None)


def test_shipped_lists_block_known_entries(shipped: UrlBlocklist) -> None:
    assert outcome(shipped, "https://login.0-secure-paypal.com/signin") == (
        "url_domain",
        "domain=0-secure-paypal.com in blocklist",
    )
    assert outcome(shipped, "https://0b1-bofa.org/bofa/") == ("url_exact", "url=0b1-bofa.org/bofa in blocklist")
    assert outcome(shipped, "https://example.com/buy-cialis-online") == (
        "url_banned_word",
        "word=cialis in banned words",
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://en.wikipedia.org/wiki/Python",
        "https://www.bbc.co.uk/news/world-europe-12345678",
        "https://docs.python.org/3/library/re.html",
        "https://github.com/huggingface/datatrove",
        "https://0b1-bofa.org/other",
        "https://paypal.com/signin",
    ],
)
def test_shipped_lists_keep_ordinary_sites(shipped: UrlBlocklist, url: str) -> None:
    assert outcome(shipped, url) == (None, None)


BAD_URLS = {
    "open_ipv6": "http://[::1",
    "only_scheme": "http://",
    "colons": ":::",
    "bad_port": "http://bad.com:port/x",
    "many_at": "http://a@b@bad.com:1:2/f",
    "percent": "http://%zz%00/%",
    "controls": "http://\x00\x1b\x7f/\r\n",
    "lone_surrogates": "https://\ud800bad\udfff.com/\udbff",
    "idna_reject": "https://a\u200d\ufffe.xn--.\u3002/",
    "long_label": "https://" + "é" * 80 + ".com/",
    "ten_mb": "https://bad.com/" + "x" * 10_000_000,
    "ten_mb_host": "http://" + "a." * 5_000_000 + "com",
    "garbage": "💩 not a url at all ☃",
}


@pytest.mark.parametrize("name", BAD_URLS)
def test_bad_urls_never_raise_and_are_deterministic(tmp_path: Path, shipped: UrlBlocklist, name: str) -> None:
    url = BAD_URLS[name]
    user = build(tmp_path, domains_files="bad.com\n", banned_subwords_files="xxx\n")
    for blocklist in (shipped, user):
        first = outcome(blocklist, url)
        assert outcome(blocklist, url) == first
        assert first[1] is None or first[1].isprintable()


@pytest.mark.parametrize(
    ("url", "removed_by"),
    [
        ("http://bad.com:port/x", "url_domain"),
        ("http://user@bad.com:99999999/", "url_domain"),
        ("http://[::1", None),
        ("https://bad.com/" + "x" * 10_000_000, "url_domain"),
        ("https://ok.com/xxx" + "y" * 10_000_000, "url_banned_subword"),
        ("https://ok.com/" + "y" * 70_000 + "xxx", None),
    ],
    ids=["bad_port", "huge_port", "open_ipv6", "ten_mb_listed_host", "ten_mb_subword_early", "subword_past_64k"],
)
def test_malformed_urls_are_checked_on_what_can_be_extracted(tmp_path: Path, url: str, removed_by: str | None) -> None:
    blocklist = build(tmp_path, domains_files="bad.com\n", banned_subwords_files="xxx\n")
    assert outcome(blocklist, url)[0] == removed_by


def test_url_filter_caches_the_blocklist_per_options(tmp_path: Path) -> None:
    path = tmp_path / "domains.txt"
    path.write_text("first.com\n")
    options = UrlFilterStage(default_lists=False, domains_files=[str(path)])
    assert url_filter("https://first.com/", "t", options).removed_by == "url_domain"
    path.write_text("second.com\n")  # read once: the cached blocklist does not see the edit
    assert url_filter("https://first.com/", "t", options).removed_by == "url_domain"
    assert url_filter("https://second.com/", "t", options).kept
    fresh = UrlFilterStage(default_lists=False, domains_files=[str(path)], missing_url="remove")
    assert url_filter("https://second.com/", "t", fresh).removed_by == "url_domain"


@pytest.mark.parametrize(
    "options",
    [
        {"soft_banned_word_threshold": 0},
        {"missing_url": "drop"},
        {"domains_files": "one.txt"},
        {"default_lists": "yes"},
        {"unknown": 1},
    ],
)
def test_options_are_validated(options: dict) -> None:
    with pytest.raises(ValidationError):
        UrlFilterStage(**options)


def test_registered_domains_come_from_the_bundled_suffix_list_without_network(tmp_path: Path) -> None:
    (tmp_path / "domains.txt").write_text("bad.co.uk\n")
    script = f"""
import socket
def refuse(*args, **kwargs):
    print("network used")  # libraries may swallow the error below; the output shows the attempt
    raise OSError("network used")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from pipeline.filters.urls import UrlBlocklist, UrlFilterStage
blocklist = UrlBlocklist(UrlFilterStage(default_lists=False, domains_files=[{str(tmp_path / "domains.txt")!r}]))
print(blocklist.check("https://a.b.bad.co.uk/").removed_detail)
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "no_proxy": "*", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "domain=bad.co.uk in blocklist"
    assert not (tmp_path / ".cache").exists()
