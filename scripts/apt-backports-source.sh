#!/usr/bin/env bash
# Prints apt source lines for Debian's CODENAME-backports, built from the machine's own apt
# configuration, so that a local mirror or proxy serves it as it serves everything else:
#   bash scripts/apt-backports-source.sh [APT_DIR] [CODENAME]      (defaults: /etc/apt bookworm)
# Read: APT_DIR/sources.list and APT_DIR/sources.list.d/*.list (one-line format) and
# APT_DIR/sources.list.d/*.sources (deb822: Types, URIs, Suites, Components, Enabled, Signed-By,
# Architectures, Trusted), as apt reads them (other file names are ignored). A Debian archive is an
# enabled `deb` entry with suite CODENAME, CODENAME-updates, -backports or -proposed-updates and
# component main (the security archive has no backports). For each such URI, once:
#   deb [arch=... signed-by=... trusted=yes] URI CODENAME-backports main     (options as configured)
# Likeliest first: URIs signed by debian-archive-keyring or whose path ends in /debian lead (a
# third-party repository may also name the codename). A Signed-By holding a key block instead of a
# keyring path is left out: apt then checks against its trusted keys. Exit 1, with the reason on
# stderr, when the configuration names no Debian archive.
set -euo pipefail
apt_dir=${1:-/etc/apt}
codename=${2:-bookworm}
[ -d "$apt_dir" ] || { echo "apt-backports-source: $apt_dir is not a folder" >&2; exit 2; }
files=()
[ -f "$apt_dir/sources.list" ] && files+=("$apt_dir/sources.list")
for f in "$apt_dir"/sources.list.d/*.list "$apt_dir"/sources.list.d/*.sources; do
  [ -f "$f" ] && files+=("$f")
done
if [ ${#files[@]} -eq 0 ]; then
  echo "apt-backports-source: no sources.list or sources.list.d/*.list|*.sources under $apt_dir" >&2
  exit 1
fi

lines=$(awk -v codename="$codename" '
  function archive_suite(s) {
    return s == codename || s == codename "-updates" || s == codename "-backports" || s == codename "-proposed-updates"
  }
  function has_main(components,   n, i, c) {
    n = split(components, c, /[ \t]+/)
    for (i = 1; i <= n; i++) if (c[i] == "main") return 1
    return 0
  }
  # one candidate: URI, with its one-line options ("" or "[...] ")
  function add(uri, arch, signed, trusted,   key, options, rank) {
    key = uri; sub(/\/+$/, "", key)
    if (key in seen) return
    seen[key] = 1
    options = ""
    if (arch != "") options = options " arch=" arch
    if (signed != "") options = options " signed-by=" signed
    if (trusted == "yes") options = options " trusted=yes"
    if (options != "") options = "[" substr(options, 2) "] "
    rank = (signed ~ /debian-archive-keyring/ || key ~ /\/debian$/) ? 0 : 1
    out[++count] = rank " deb " options uri " " codename "-backports main"
  }
  # one-line format: deb [opt=value ...] URI SUITE COMPONENT...
  function one_line(line,   rest, options, n, o, i, kv, arch, signed, trusted, f) {
    sub(/#.*/, "", line)
    if (line !~ /^[ \t]*deb[ \t]/) return
    rest = line; sub(/^[ \t]*deb[ \t]+/, "", rest)
    arch = signed = trusted = ""
    if (substr(rest, 1, 1) == "[") {
      if (index(rest, "]") == 0) return
      options = substr(rest, 2, index(rest, "]") - 2)
      rest = substr(rest, index(rest, "]") + 1)
      n = split(options, o, /[ \t]+/)
      for (i = 1; i <= n; i++) {
        if (split(o[i], kv, "=") != 2) continue
        if (kv[1] == "arch") arch = kv[2]
        else if (kv[1] == "signed-by") signed = kv[2]
        else if (kv[1] == "trusted") trusted = kv[2]
      }
    }
    n = split(rest, f, /[ \t]+/)
    i = (f[1] == "") ? 2 : 1 # split keeps a leading empty field when rest starts with a blank
    if (n < i + 2 || !archive_suite(f[i + 1])) return
    rest = ""
    for (n = i + 2; n in f; n++) rest = rest " " f[n]
    if (has_main(rest)) add(f[i], arch, signed, trusted)
  }
  # deb822: a paragraph of "Field: value" lines (continued by lines that start with a blank)
  function flush(   n, t, i, u, s, suited, signed) {
    if (("types" in field) && (tolower(field["enabled"]) != "no")) {
      n = split(field["types"], t, /[ \t]+/)
      for (i = 1; i <= n; i++) if (t[i] == "deb") break
      if (i <= n && has_main(field["components"])) {
        suited = 0
        n = split(field["suites"], s, /[ \t]+/)
        for (i = 1; i <= n; i++) if (archive_suite(s[i])) suited = 1
        signed = field["signed-by"]
        if (signed ~ /-----BEGIN/) signed = "" # an inline key: no one-line form
        gsub(/[ \t]+/, ",", signed)
        gsub(/[ \t]+/, ",", field["architectures"])
        if (suited) {
          n = split(field["uris"], u, /[ \t]+/)
          for (i = 1; i <= n; i++) if (u[i] != "") add(u[i], field["architectures"], signed, field["trusted"])
        }
      }
    }
    split("", field)
    last = ""
  }
  FNR == 1 { if (deb822) flush(); deb822 = (FILENAME ~ /\.sources$/) }
  !deb822 { one_line($0); next }
  /^#/ { next }
  /^[ \t]*$/ { flush(); next }
  /^[ \t]/ { if (last != "") { v = $0; sub(/^[ \t]+/, "", v); field[last] = field[last] " " v }; next }
  {
    name = tolower(substr($0, 1, index($0, ":") - 1))
    v = substr($0, index($0, ":") + 1)
    sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
    if (name == "") next
    field[name] = v
    last = name
  }
  END {
    if (deb822) flush()
    for (r = 0; r <= 1; r++) for (i = 1; i <= count; i++) if (substr(out[i], 1, 1) == r) print substr(out[i], 3)
  }
' "${files[@]}")

if [ -z "$lines" ]; then
  echo "apt-backports-source: no enabled Debian archive source for $codename (a deb entry with suite $codename and component main) in ${files[*]}" >&2
  exit 1
fi
printf '%s\n' "$lines"
