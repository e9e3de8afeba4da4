#!/usr/bin/env bash
# make_crawl.sh -- build the large multi-language benchmark WARC crawl.
#
# What it builds: a real crawl, made with `wget --warc-file`, of the HTML
# documentation that ships in Debian 12 (bookworm) packages (Debian Handbook
# in 26 languages, Debian Reference in 11, Installation Guide in 19, FAQ,
# Developers' Reference, New Maintainers' Guide, Live Manual, Policy, the
# Securing Debian Manual in 8, Foca Linux (pt-BR),
# Python 3.11 docs, PostgreSQL 15 docs, LilyPond docs in 7 languages,
# libstdc++ 12 doxygen docs, Boost 1.81 docs).  The docs are served by
# `python3 -m http.server` bound to 127.0.0.1 only, and crawled by six
# wget processes in parallel, one per subtree, each writing its own
# OUTDIR/<job>.warc.gz (+ .cdx and a wget log).
#
# Result (Debian 12, 2 cores, Nov 2026): 6 files, ~400 MiB of .warc.gz,
# ~37k HTTP response records: ~25.7k text/html (~20.8k of them 200 pages,
# ~4.9k are 404 error pages for links the docs make to files Debian does not
# ship), ~11k images/css/js/txt/gz/pdf.  Languages: en plus ~900 pages each
# of fr/de/es/it/ja, ~670 zh, ~370 pt, ~240 ru and 20 more with ~100-240.
# ~270 request records have no matching response: wget's first try failed
# and it retried (log lines ending "[2]"); --no-verbose hides the error,
# presumably a connection dropped by the busy Python server.
# Time: apt install ~1 min (~1.5 GB of docs); crawl ~2.5 min; summary ~10 s.
# At the end it writes OUTDIR/SUMMARY.txt (needs the fastwarc Python package).
#
# Usage:  bench/make_crawl.sh OUTDIR [PORT]
#   SKIP_APT=1   do not run apt-get (packages already installed)
#   JOBS="a b"   only crawl these jobs (default: all)
# Needs root (or sudo) for apt-get; wget and python3 >= 3.7.
# Existing OUTDIR/<job>.warc.gz files are overwritten (re-running is safe).
set -euo pipefail

OUTDIR=${1:?usage: $0 OUTDIR [PORT]}
PORT=${2:-18471}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

PACKAGES=(
  debian-handbook
  debian-reference-en debian-reference-de debian-reference-es debian-reference-fr
  debian-reference-it debian-reference-ja debian-reference-pt debian-reference-pt-br
  debian-reference-zh-cn debian-reference-zh-tw debian-reference-id
  installation-guide-amd64
  developers-reference developers-reference-de developers-reference-fr
  developers-reference-it developers-reference-ja developers-reference-ru
  maint-guide maint-guide-de maint-guide-es maint-guide-fr maint-guide-it
  maint-guide-ja maint-guide-ru maint-guide-zh-cn maint-guide-zh-tw
  debian-faq debian-faq-de debian-faq-fr debian-faq-it debian-faq-ja
  debian-faq-pt debian-faq-ru debian-faq-zh-cn
  debian-policy live-manual-html harden-doc focalinux-html
  python3.11-doc postgresql-doc-15
  lilypond-doc-html lilypond-doc-html-de lilypond-doc-html-es lilypond-doc-html-fr
  lilypond-doc-html-it lilypond-doc-html-ja lilypond-doc-html-zh
  libstdc++-12-doc libboost1.81-doc
)

if [ "${SKIP_APT:-0}" != 1 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  # dpkg path-exclude rules for /usr/share/doc (common in container images)
  # would silently drop the docs; warn if present.
  if grep -rqs 'path-exclude.*/usr/share/doc' /etc/dpkg/dpkg.cfg.d/; then
    echo "WARNING: /etc/dpkg/dpkg.cfg.d excludes /usr/share/doc; docs will be missing" >&2
  fi
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends wget "${PACKAGES[@]}"
fi

# ---------------------------------------------------------------- site root
# A throw-away directory of symlinks: nicer URL paths, and no other
# /usr/share/doc content leaks into the crawl.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gristmill-crawl.XXXXXX")
SITE=$WORK/site
mkdir -p "$SITE/maint-guide"
ln -s /usr/share/doc/debian-handbook/html        "$SITE/debian-handbook"
ln -s /usr/share/doc/installation-guide-amd64    "$SITE/installation-guide"
ln -s /usr/share/debian-reference                "$SITE/debian-reference"
ln -s /usr/share/developers-reference            "$SITE/developers-reference"
ln -s /usr/share/doc/debian/FAQ                  "$SITE/debian-faq"
ln -s /usr/share/doc/debian-policy               "$SITE/debian-policy"
ln -s /usr/share/doc/live-manual/html            "$SITE/live-manual"
ln -s /usr/share/doc/harden-doc/html             "$SITE/securing-debian"
ln -s /usr/share/doc/focalinux/html              "$SITE/focalinux"
ln -s /usr/share/doc/python3.11/html             "$SITE/python3.11"
ln -s /usr/share/doc/postgresql-doc-15/html      "$SITE/postgresql-15"
ln -s /usr/share/doc/lilypond/html               "$SITE/lilypond"
ln -s /usr/share/doc/gcc-12-base/libstdc++       "$SITE/libstdc++"
ln -s /usr/share/doc/libboost1.81-doc/doc/html   "$SITE/boost"
for d in /usr/share/doc/maint-guide*/html; do
  lang=$(basename "$(dirname "$d")"); lang=${lang#maint-guide}; lang=${lang#-}
  ln -s "$d" "$SITE/maint-guide/${lang:-en}"
done

SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 -m http.server --bind 127.0.0.1 "$PORT" --directory "$SITE" \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
B=http://127.0.0.1:$PORT
for _ in $(seq 50); do
  wget -q -O /dev/null "$B/" && break
  sleep 0.2
done
wget -q -O /dev/null "$B/" || { echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }

# ------------------------------------------------------------------- jobs
# job name -> seed URLs.  Seeds list language roots that are not linked from
# the English index page of a manual.
declare -A SEEDS
SEEDS[handbook]="$B/debian-handbook/"
SEEDS[guides]="$B/installation-guide/ $B/debian-reference/ $B/developers-reference/
  $B/developers-reference/de/ $B/developers-reference/fr/ $B/developers-reference/it/
  $B/developers-reference/ja/ $B/developers-reference/ru/ $B/maint-guide/
  $B/debian-faq/ $B/debian-faq/de/ $B/debian-faq/fr/ $B/debian-faq/it/ $B/debian-faq/ja/
  $B/debian-faq/pt/ $B/debian-faq/ru/ $B/debian-faq/zh-cn/
  $B/debian-policy/ $B/live-manual/ $B/securing-debian/ $B/focalinux/"
SEEDS[python-postgresql]="$B/python3.11/ $B/postgresql-15/"
SEEDS[lilypond]="$B/lilypond/"
SEEDS[libstdcxx]="$B/libstdc++/"
SEEDS[boost]="$B/boost/"
# Extra wget options per job.  The LilyPond manuals link ~6.5k .ly source
# snippets next to their rendered images; skipping them keeps the crawl in
# the 30-40k response range and the HTML share above 2/3.
declare -A EXTRA
EXTRA[lilypond]="--reject=*.ly"
ALL_JOBS="handbook guides python-postgresql lilypond libstdcxx boost"
JOBS=${JOBS:-$ALL_JOBS}

crawl() {
  local name=$1; shift
  rm -f "$OUTDIR/$name.warc.gz" "$OUTDIR/$name.cdx"
  local rc=0
  # --delete-after: we only want the WARC; wget still parses each HTML page
  # for links before deleting it.  Spanning hosts is off by default, so only
  # 127.0.0.1:$PORT is crawled.  Exit status 8 (some 404s) is expected.
  # Run inside OUTDIR with relative names so the warcinfo record and the CDX
  # do not carry absolute paths of this machine.
  ( cd "$OUTDIR" &&
    wget --recursive --level=inf --no-parent --no-verbose --wait=0 \
         -e robots=off --delete-after --tries=2 --timeout=30 \
         --directory-prefix=".wget-tmp-$name" \
         --warc-file="$name" --warc-cdx \
         --warc-header="operator: gristmill bench/make_crawl.sh" \
         "$@" >"$name.log" 2>&1 ) || rc=$?
  rm -rf "$OUTDIR/.wget-tmp-$name"
  echo "$(date +%T) job $name done (wget exit $rc)"
}

start=$(date +%s)
pids=()
for j in $JOBS; do
  [ -n "${SEEDS[$j]:-}" ] || { echo "unknown job $j" >&2; exit 2; }
  set -f   # word-split the option/seed strings, but do not glob them
  # shellcheck disable=SC2086
  crawl "$j" ${EXTRA[$j]:-} ${SEEDS[$j]} &
  set +f
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
elapsed=$(( $(date +%s) - start ))
echo "crawl finished in $elapsed s; output in $OUTDIR"
ls -l "$OUTDIR"/*.warc.gz

# ----------------------------------------------------------------- summary
# Stop the server before the (CPU-bound) summary pass.
kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

PKGINFO=$(dpkg-query -W -f='${Package} ${Version}\n' "${PACKAGES[@]}" 2>/dev/null || true)
if python3 -c 'import fastwarc' 2>/dev/null; then
  PKGINFO=$PKGINFO ELAPSED=$elapsed python3 - "$OUTDIR" <<'PY' >"$OUTDIR/SUMMARY.txt"
import collections, glob, os, re, sys
from fastwarc.warc import ArchiveIterator, WarcRecordType

outdir = sys.argv[1]
files = sorted(glob.glob(os.path.join(outdir, "*.warc.gz")))
LANG_ATTR = re.compile(rb"<html[^>]*?\s(?:xml:)?lang\s*=\s*[\"']?([A-Za-z]{2,3})", re.I)
LANG_URL = re.compile(r"(?:/|\.)([a-z]{2})(?:[-_][A-Za-z]{2,4})?(?:/|\.html?$)")
KNOWN = set("ar ca cs da de el en es fa fr hr hu id it ja ko nb nl pl pt ro ru sv tr vi zh".split())

TAGS = re.compile(rb"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.S | re.I)
EN_STOP = set(b"the and of to is in for that with this are be as by".split())

def lang_of(url, head):
    m = LANG_ATTR.search(head)
    if m:
        return m.group(1).lower().decode()
    for m in LANG_URL.finditer(url):
        if m.group(1) in KNOWN:
            return m.group(1) + "?"
    words = TAGS.sub(b" ", head).lower().split()
    if len(words) >= 30 and sum(w in EN_STOP for w in words) >= 0.03 * len(words):
        return "en~"
    return "unknown"

types, status, ctype, ctype_detail, langs = (collections.Counter() for _ in range(5))
per_file = {}
total_bytes = 0
for fn in files:
    total_bytes += os.path.getsize(fn)
    n_resp = n_html = 0
    with open(fn, "rb") as f:
        for rec in ArchiveIterator(f, parse_http=True):
            types[str(rec.record_type)] += 1
            if rec.record_type != WarcRecordType.response:
                continue
            n_resp += 1
            status[rec.http_headers.status_code] += 1
            ct = (rec.http_content_type or "(none)").lower()
            ctype_detail[ct] += 1
            if ct == "text/html" and rec.http_headers.status_code == 200:
                n_html += 1
                url = rec.headers.get("WARC-Target-URI", "").strip("<>")
                langs[lang_of(url, rec.reader.read(32768))] += 1
            ctype["text/html" if ct == "text/html" else "other"] += 1
    per_file[os.path.basename(fn)] = (os.path.getsize(fn), n_resp, n_html)

w = sys.stdout.write
w("gristmill benchmark crawl -- built by bench/make_crawl.sh\n")
w("wget --recursive --warc-file over python3 -m http.server on 127.0.0.1\n\n")
w("Debian packages used (name version):\n")
for line in os.environ.get("PKGINFO", "").strip().splitlines():
    w("  " + line + "\n")
w("\nCrawl wall time: %s s\n" % os.environ.get("ELAPSED", "?"))
w("WARC files: %d\nTotal bytes: %d (%.1f MiB)\n\n" % (len(files), total_bytes, total_bytes / 2**20))
w("Per file: bytes, response records, text/html 200 responses\n")
for k, (b, r, h) in per_file.items():
    w("  %-28s %12d %7d %7d\n" % (k, b, r, h))
w("\nRecords by WARC-Type:\n")
for k, v in types.most_common():
    w("  %-12s %7d\n" % (k, v))
w("  %-12s %7d\n" % ("TOTAL", sum(types.values())))
w("\nResponse records by HTTP status:\n")
for k, v in sorted(status.items()):
    w("  %-12s %7d\n" % (k, v))
w("\nResponse records by Content-Type (text/html vs other):\n")
for k, v in ctype.most_common():
    w("  %-12s %7d\n" % (k, v))
w("\nResponse records by Content-Type (detail):\n")
for k, v in ctype_detail.most_common():
    w("  %-40s %7d\n" % (k, v))
w("\ntext/html 200 responses by language: 'xx' = <html lang=...>; 'xx?' = no\n"
  "lang attribute, guessed from the URL (/de/, .de.html, de-DE/); 'en~' = no\n"
  "lang attribute or URL hint, >=3% English stop words in the first 32 KiB;\n"
  "'unknown' = none of these, mostly English API reference tables and TOCs):\n")
for k, v in langs.most_common():
    w("  %-10s %7d\n" % (k, v))
PY
  echo "wrote $OUTDIR/SUMMARY.txt"
else
  echo "fastwarc not installed; skipping SUMMARY.txt (pip install fastwarc)" >&2
fi
