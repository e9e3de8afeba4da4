#!/usr/bin/env bash
# make_sample.sh -- rebuild recipes/samples/quickstart.warc.gz.
#
# Builds a small static web site in a temp dir from real Debian documentation
# HTML (Installation Guide and Debian Administrator's Handbook, 10 languages)
# plus deliberate near-duplicates, exact duplicates, junk pages, a few
# non-HTML files and dangling links; serves it with `python3 -m http.server`
# on 127.0.0.1 only; crawls it with `wget --recursive --warc-file`; stops the
# server.  Takes a few seconds.  See README.md for what is in the sample.
#
# Usage:  recipes/samples/make_sample.sh [OUTPUT.warc.gz] [PORT]
#   default output: quickstart.warc.gz next to this script; default port 18472
#   (the port is part of every URL in the WARC, so keep 18472 to get the same
#   URLs).  INSTALL=1 apt-get installs the two source packages first.
# Needs: wget, python3 (stdlib only), and the Debian 12 packages
#   installation-guide-amd64 and debian-handbook.  If the fastwarc Python
#   package is importable, record counts are printed at the end.
# The page selection is deterministic, so a rebuild with the same package
# versions gives the same pages; WARC record ids and dates always differ.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/quickstart.warc.gz}
PORT=${2:-18472}
case $OUT in *.warc.gz) ;; *) echo "output must end in .warc.gz" >&2; exit 2;; esac
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
NAME=$(basename "$OUT" .warc.gz)

if [ "${INSTALL:-0}" = 1 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
    wget installation-guide-amd64 debian-handbook
fi
for d in /usr/share/doc/installation-guide-amd64/en /usr/share/doc/debian-handbook/html/en-US; do
  [ -d "$d" ] || { echo "missing $d: apt-get install installation-guide-amd64 debian-handbook (or INSTALL=1)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gristmill-sample.XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ build the site
python3 - "$WORK/site" <<'PY'
import html, os, posixpath, re, sys
from urllib.parse import unquote

SITE = sys.argv[1]
IG = "/usr/share/doc/installation-guide-amd64"
HB = "/usr/share/doc/debian-handbook/html"
# (site lang, installation-guide dir, handbook dir or None, #IG pages)
LANGS = [
    ("en", "en", "en-US", 20), ("de", "de", "de-DE", 20), ("fr", "fr", "fr-FR", 20),
    ("es", "es", "es-ES", 20), ("ja", "ja", "ja-JP", 20), ("zh", "zh_CN", "zh-CN", 20),
    ("ru", "ru", "ru-RU", 20), ("it", "it", None, 8), ("pt", "pt", None, 8),
    ("ko", "ko", None, 8),
]
HB_PAGES = ["foreword.html", "sect.apt-cache.html", "sect.dhcp.html",
            "sect.creating-accounts.html", "sect.automatic-upgrades.html"]

def write(path, data):
    full = os.path.join(SITE, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))

def read(path):
    with open(path, "rb") as f:
        return f.read()

# ---- choose real pages: the same Installation Guide file names in every
# language (chapters first, document order), 2-12 KB in English.
def ig_key(fn):
    return (not fn.startswith("ch"), fn)

ig_names = [fn for fn in sorted(os.listdir(f"{IG}/en"), key=ig_key)
            if fn.endswith(".html") and fn != "index.html"
            and 2048 <= os.path.getsize(f"{IG}/en/{fn}") <= 12288
            and all(os.path.exists(f"{IG}/{d}/{fn}") for _, d, _, _ in LANGS)]

src2url = {}          # source file (absolute) -> site URL path
pages = []            # (site url, source file, lang, title)
for lang, igd, hbd, n in LANGS:
    for fn in ig_names[:n]:
        url = f"/{lang}/install/{fn}"
        src2url[f"{IG}/{igd}/{fn}"] = url
        pages.append((url, f"{IG}/{igd}/{fn}", lang))
    if hbd:
        for fn in HB_PAGES:
            if os.path.exists(f"{HB}/{hbd}/{fn}"):
                url = f"/{lang}/handbook/{fn}"
                src2url[f"{HB}/{hbd}/{fn}"] = url
                pages.append((url, f"{HB}/{hbd}/{fn}", lang))
    # one shared copy of the Installation Guide stylesheet and icons
    src2url[f"{IG}/{igd}/install.css"] = "/static/install.css"
    for img in os.listdir(f"{IG}/en/images"):
        src2url[f"{IG}/{igd}/images/{img}"] = f"/static/images/{img}"
write("/static/install.css", read(f"{IG}/en/install.css"))
for img in sorted(os.listdir(f"{IG}/en/images")):
    write(f"/static/images/{img}", read(f"{IG}/en/images/{img}"))

# ---- rewrite links: keep those that point at a page/asset in the sample,
# keep external and fragment links, drop the rest (<a> loses its href,
# <img>/<link> are removed) so the crawl stays inside the sample.
TAG = re.compile(r"<(a|link|img|script)\b[^>]*>", re.I | re.S)
ATTR = re.compile(r"""\b(href|src)\s*=\s*(["'])(.*?)\2""", re.I | re.S)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")

def rewrite(text, src):
    base = posixpath.dirname(src)
    def fix_tag(m):
        tag, name = m.group(0), m.group(1).lower()
        a = ATTR.search(tag)
        if not a:
            return tag
        val = html.unescape(a.group(3)).strip()
        if not val or val.startswith("#") or SCHEME.match(val):
            return tag
        path, _, frag = val.partition("#")
        path = path.split("?")[0]
        target = posixpath.normpath(posixpath.join(base, unquote(path))) if path else src
        if target in src2url:
            new = src2url[target] + ("#" + frag if frag else "")
            return tag[:a.start()] + f'{a.group(1)}="{html.escape(new)}"' + tag[a.end():]
        if name == "a":
            return tag[:a.start()].rstrip() + tag[a.end():]
        if name == "script":
            return tag[:a.start()].rstrip() + tag[a.end():]
        return ""
    return TAG.sub(fix_tag, text)

TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
real = {}
for url, src, lang in pages:
    text = rewrite(read(src).decode("utf-8"), src)
    real[url] = text
    write(url, text)

def title_of(text, default):
    m = TITLE.search(text)
    t = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", m.group(1)))).strip() if m else ""
    return t or default

# ---- exact duplicates: byte-identical copies under other URLs
by_lang = {}
for url, _, lang in pages:
    by_lang.setdefault(lang, []).append(url)
exact = [("/archive/2023/ch01s01.html", "/en/install/" + ig_names[1]),
         ("/en/install/copy-of-" + ig_names[2], "/en/install/" + ig_names[2]),
         ("/mirror/de/" + ig_names[3], "/de/install/" + ig_names[3]),
         ("/archive/fr/foreword.html", "/fr/handbook/foreword.html"),
         ("/mirror/ja/" + ig_names[4], "/ja/install/" + ig_names[4])]
for dst, src in exact:
    write(dst, real[src])

# ---- near duplicates: real pages with small edits
# a paragraph: <p>..</p> (Installation Guide) or a Publican
# <div class="para">..</div> without nested divs (Handbook)
P = re.compile(r"<p\b[^>]*>.*?</p>|<div class=\"para\">(?:(?!</?div\b).)*?</div>", re.I | re.S)
BODY = re.compile(r"<body\b[^>]*>", re.I)
NAV = re.compile(r'<div class="nav(header|footer)">.*?</div>', re.I | re.S)

def edit_words(t):
    # two small wording changes plus one inserted sentence in the 2nd paragraph
    t = re.sub(r"(>[^<]*?)\bDebian\b(?! GNU)", r"\1Debian GNU/Linux", t, count=2)
    t = re.sub(r"(>[^<]*?)\b(19|20)(\d\d)\b", lambda m: m.group(1) + str(int(m.group(2) + m.group(3)) + 1), t, count=1)
    ps = list(P.finditer(t))
    if len(ps) > 1:
        end = ps[1].end() - (6 if ps[1].group(0).endswith("</div>") else 4)
        t = t[:end] + " (This sentence was added by the mirror.)" + t[end:]
    return t

def new_chrome(t):
    # different header and footer around the same content
    t = NAV.sub("", t)
    t = BODY.sub(lambda m: m.group(0) + '<div class="mirror-top"><a href="/">Docs mirror</a> '
                 '| <a href="/misc/sitemap-links.html">Site map</a> | Search</div>', t, count=1)
    return t.replace("</body>", '<div class="mirror-foot">Mirrored from www.debian.org '
                     'for offline reading. Content licensed under the GNU GPL v2. '
                     'Last synchronised 2024-03-01.</div></body>', 1)

def drop_paragraph(t):
    # remove the last paragraph and mark the title as an archived copy
    ps = list(P.finditer(t))
    if len(ps) >= 2:
        t = t[:ps[-1].start()] + t[ps[-1].end():]
    return TITLE.sub(lambda m: m.group(0).replace("</title>", " (archived copy)</title>"), t, count=1)

near = []
k = 0
for lang in ["en", "de", "fr", "es", "ja", "zh", "ru", "it", "pt", "ko", "en", "de", "fr", "es", "ru"]:
    # k < 10: Installation Guide pages; k >= 10: Handbook pages
    idx = 3 + k if k < 10 else 20 + (k - 10) % 5
    src = by_lang[lang][idx % len(by_lang[lang])]
    fn = posixpath.basename(src)
    kind, func = [("edited", edit_words), ("rechromed", new_chrome), ("trimmed", drop_paragraph)][k % 3]
    dst = {"edited": f"/mirror/{lang}/{fn}", "rechromed": f"/print/{lang}/{fn}",
           "trimmed": f"/old/{lang}/{fn}"}[kind]
    text = func(real[src])
    assert text != real[src], (src, kind)
    near.append((dst, src, kind))
    write(dst, text)
    k += 1

# ---- junk pages
def strip_text(t):
    t = re.sub(r"<(script|style)\b.*?</\1>", " ", t, flags=re.S | re.I)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", t))).strip()

def paragraphs(lang, codec, n=4):
    out = []
    for url in by_lang[lang]:
        for m in P.finditer(real[url]):
            s = strip_text(m.group(0))
            if len(s) < 40:
                continue
            try:
                s.encode(codec)
            except UnicodeEncodeError:
                continue
            out.append(s)
            if len(out) == n:
                return out
    return out

def legacy(title, lang, codec, meta, extra=""):
    ps = paragraphs(lang, codec)
    body = "".join(f"<p>{html.escape(p, quote=False)}</p>\n" for p in ps)
    doc = (f"<!DOCTYPE html>\n<html>\n<head>\n{meta}\n<title>{html.escape(title)}</title>\n"
           f"</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{extra}{body}</body>\n</html>\n")
    return doc.encode(codec)

nav_links = "\n".join(f'<li><a href="{u}">{posixpath.basename(u)}</a></li>' for u, _, _ in pages[:60])
lorem = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
         "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure "
         "dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. "
         "Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt "
         "mollit anim id est laborum.")
spam_words = ("debian hosting cheap linux server best debian vps download debian free "
              "linux install guide fast debian mirror top 10 linux distro").split()
spam = " ".join(spam_words[(i * 7) % len(spam_words)] for i in range(600))
js = "\n".join(
    f"  function w{i}(a, b) {{ var r = []; for (var j = 0; j < a.length; j++) "
    f"{{ r.push((a[j] * {i + 3} + b) % 251); }} return r.join(','); }}" for i in range(120))
table = "\n".join("<tr>" + "".join(f"<td>{(r * 37 + c * 11) % 1000}</td>" for c in range(8)) + "</tr>"
                  for r in range(80))
junk = {
    "/misc/empty.html": "<!DOCTYPE html><html><head><title></title></head><body></body></html>\n",
    "/misc/blank.html": "<html>\n<head><meta charset=\"utf-8\"><title> </title></head>\n<body>\n&nbsp;<br>\n\n   \n</body>\n</html>\n",
    "/misc/coming-soon.html": "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Coming soon</title></head>\n<body><h1>Coming soon</h1><p>Under construction.</p></body></html>\n",
    "/misc/redirect.html": "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Moved</title>\n"
        f"<meta http-equiv=\"refresh\" content=\"0; url=/en/install/{ig_names[0]}\"></head>\n<body></body></html>\n",
    "/misc/sitemap-links.html": "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Site map</title></head>\n"
        f"<body><nav><ul>\n{nav_links}\n</ul></nav></body></html>\n",
    "/misc/best-debian-hosting.html": "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<title>Best Debian Hosting Cheap Debian VPS Free Debian Download</title>\n"
        f"<meta name=\"keywords\" content=\"{', '.join(spam_words)}\"></head>\n<body><h1>debian hosting debian hosting debian hosting</h1>\n<p>{spam}</p></body></html>\n",
    "/misc/lorem.html": "<!DOCTYPE html>\n<html lang=\"la\"><head><meta charset=\"utf-8\"><title>Lorem ipsum</title></head>\n<body>\n"
        + "\n".join(f"<p>{lorem}</p>" for _ in range(8)) + "\n</body></html>\n",
    "/misc/app.html": "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Dashboard</title>\n<script>\n"
        f"{js}\n  document.addEventListener('DOMContentLoaded', function () {{ document.getElementById('app').textContent = w1([1,2,3], 4); }});\n</script></head>\n"
        "<body><div id=\"app\">Loading&hellip;</div><noscript>Please enable JavaScript.</noscript></body></html>\n",
    "/misc/not-found.html": "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>404 Not Found</title></head>\n"
        "<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n",
    "/misc/cookies.html": "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Privacy settings</title></head>\n"
        "<body><div class=\"cookie-banner\"><p>We use cookies to improve your experience. By continuing to browse you agree to our use of cookies.</p>"
        "<button>Accept all</button> <button>Reject</button> <a href=\"/misc/lorem.html\">Privacy policy</a></div></body></html>\n",
    "/misc/login.html": "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Sign in</title></head>\n"
        "<body><form action=\"/login\" method=\"post\"><label>User <input name=\"u\"></label> "
        "<label>Password <input type=\"password\" name=\"p\"></label> <button>Sign in</button></form>"
        "<p><a href=\"/misc/coming-soon.html\">Forgot password?</a></p></body></html>\n",
    "/misc/table-dump.html": "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>export</title></head>\n"
        f"<body><table>\n{table}\n</table></body></html>\n",
}
for url, text in junk.items():
    write(url, text)
# legacy charsets declared only in the HTML (python's server sends a bare
# "Content-Type: text/html")
write("/misc/cp1252.html", legacy("Guide d\u2019installation \u2013 extrait \u00ab\u00a0ancien\u00a0\u00bb", "fr", "cp1252",
                                  '<meta charset="windows-1252">',
                                  "<p>Prix\u00a0: 10\u00a0\u20ac \u2014 \u201cguillemets\u201d</p>\n"))
write("/misc/shift_jis.html", legacy("\u30a4\u30f3\u30b9\u30c8\u30fc\u30eb\u30ac\u30a4\u30c9\uff08\u65e7\u7248\uff09", "ja", "shift_jis",
                                     '<meta charset="Shift_JIS">'))
write("/misc/koi8r.html", legacy("\u0420\u0443\u043a\u043e\u0432\u043e\u0434\u0441\u0442\u0432\u043e (\u0441\u0442\u0430\u0440\u0430\u044f \u0432\u0435\u0440\u0441\u0438\u044f)", "ru", "koi8_r",
                                 '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">'))
write("/misc/gbk.html", legacy("\u5b89\u88c5\u6307\u5357\uff08\u65e7\u7248\uff09", "zh", "gbk", '<meta charset="gbk">'))
# PNG bytes behind an .html name: served as text/html
write("/misc/logo.html", read(f"{HB}/en-US/images/debian.png"))
junk_urls = sorted(list(junk) + ["/misc/cp1252.html", "/misc/shift_jis.html", "/misc/koi8r.html",
                                 "/misc/gbk.html", "/misc/logo.html"])

# ---- a plain directory (no index.html): linked without the trailing slash,
# so the crawl records a 301 and then python's generated listing
write("/files/GPL-2.txt", read("/usr/share/common-licenses/GPL-2"))
write("/files/note.png", read(f"{HB}/en-US/Common_Content/images/note.png"))

# ---- index page linking everything (plus two dangling links -> 404)
NAMES = {"en": "English", "de": "Deutsch", "fr": "Fran\u00e7ais", "es": "Espa\u00f1ol",
         "ja": "\u65e5\u672c\u8a9e", "zh": "\u4e2d\u6587", "ru": "\u0420\u0443\u0441\u0441\u043a\u0438\u0439",
         "it": "Italiano", "pt": "Portugu\u00eas", "ko": "\ud55c\uad6d\uc5b4"}
out = ['<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
       '<title>gristmill quickstart sample site</title>\n'
       '<link rel="stylesheet" href="/static/install.css">\n</head>\n<body>\n'
       '<h1>Debian documentation sample</h1>\n'
       '<p>Pages from the Debian Installation Guide and The Debian Administrator\'s Handbook.</p>\n']
for lang, _, _, _ in LANGS:
    out.append(f'<h2 lang="{lang}">{NAMES[lang]}</h2>\n<ul>\n')
    for url in by_lang[lang]:
        out.append(f'<li><a href="{url}">{html.escape(title_of(real[url], url))}</a></li>\n')
    out.append("</ul>\n")
out.append("<h2>Mirrors and archives</h2>\n<ul>\n")
for dst, _ in exact:
    out.append(f'<li><a href="{dst}">{dst}</a></li>\n')
for dst, _, _ in near:
    out.append(f'<li><a href="{dst}">{dst}</a></li>\n')
out.append("</ul>\n<h2>Other</h2>\n<ul>\n")
for url in junk_urls:
    out.append(f'<li><a href="{url}">{url}</a></li>\n')
out.append('<li><a href="/files">Files</a></li>\n'
           f'<li><a href="/en/install/removed-section.html">Old installation notes</a></li>\n'
           f'<li><a href="/de/handbook/sect.old-page.html">Alte Seite</a></li>\n'
           '</ul>\n</body>\n</html>\n')
write("/index.html", "".join(out))

print(f"site: {len(pages)} real pages ({len(LANGS)} languages), {len(exact)} exact duplicates, "
      f"{len(near)} near duplicates, {len(junk_urls)} junk pages", file=sys.stderr)
PY

# ------------------------------------------------------------- serve + crawl
python3 -m http.server --bind 127.0.0.1 "$PORT" --directory "$WORK/site" \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
  wget -q -O /dev/null "http://127.0.0.1:$PORT/" && break
  sleep 0.2
done

rc=0
( cd "$WORK" &&
  wget --recursive --level=inf --no-parent --no-verbose --wait=0 \
       -e robots=off --delete-after --directory-prefix=tmp \
       --warc-file="$NAME" \
       "http://127.0.0.1:$PORT/" >wget.log 2>&1 ) || rc=$?
# exit status 8 = some 404s, which the sample contains on purpose
[ "$rc" = 0 ] || [ "$rc" = 8 ] || { cat "$WORK/wget.log" >&2; echo "wget failed ($rc)" >&2; exit 1; }
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
mv "$WORK/$NAME.warc.gz" "$OUT"
echo "wrote $OUT ($(stat -c %s "$OUT") bytes)"

# --------------------------------------------------------------- statistics
if python3 -c 'import fastwarc' 2>/dev/null; then
  python3 - "$OUT" <<'PY'
import collections, sys
from fastwarc.warc import ArchiveIterator, WarcRecordType
types, status, ctype = collections.Counter(), collections.Counter(), collections.Counter()
with open(sys.argv[1], "rb") as f:
    for rec in ArchiveIterator(f, parse_http=True):
        types[str(rec.record_type)] += 1
        if rec.record_type == WarcRecordType.response:
            status[rec.http_headers.status_code] += 1
            ctype[rec.http_content_type or "(none)"] += 1
print("records by WARC-Type:", dict(types.most_common()))
print("responses by HTTP status:", dict(sorted(status.items())))
print("responses by Content-Type:", dict(ctype.most_common()))
PY
fi
