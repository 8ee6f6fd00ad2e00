#!/usr/bin/env bash
# Fetch the JavaScript the HTML book runs in the reader's browser, so that the built book works offline:
#   MathJax 3 (typesets the formulas), RequireJS and the ipywidgets HTML manager (draw the saved widgets).
# Each package comes from the npm registry at a pinned version and is checked against a pinned sha512
# (the registry's `dist.integrity`), then the files the book loads are copied into _vendor/ (git-ignored).
# _config.yml adds _vendor/ to html_static_path, so Sphinx copies it into _build/html/_static/.
#
# Usage: bash scripts/vendor_js.sh [DEST]   (default DEST: _vendor; `make html` and `make test` run it)
# Re-running is a no-op once DEST holds the pinned versions; after that the build needs no network.
# Uses npm (`npm pack`, which honours your npm registry/proxy settings); installs it with apt-get where it
# is missing, and falls back to downloading the tarballs from registry.npmjs.org with curl.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
DEST=${1:-_vendor}

# name@version  sha512 of the tarball (npm's dist.integrity)
PACKAGES="mathjax@3.2.2 sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==
@jupyter-widgets/html-manager@1.0.6 sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==
requirejs@2.3.4 sha512-qPD5gRrj6kGQ0ZySAJgqbArkaDqPMbQIT0zSZDkIv1mfA17w/tR2Faq5l2qqRf2CdQx6FWln9nUrgd2UDzb19A=="

if [ -f "$DEST/.packages" ] && [ "$(cat "$DEST/.packages")" = "$PACKAGES" ]; then
  exit 0  # already vendored at these versions
fi

PYTHON=$(command -v python3 || command -v python)
if ! command -v npm >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi  # -n: fail (and fall back to curl) rather than ask a password
  echo "npm not found: installing it with apt-get" >&2
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null; } ||
    echo "apt-get could not install npm; downloading from registry.npmjs.org with curl instead" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch SPEC INTEGRITY -> prints the path of the verified tarball
  local spec=$1 integrity=$2 tarball
  if command -v npm >/dev/null 2>&1; then
    tarball=$(cd "$work" && npm pack --silent "$spec" | tail -n 1)
  else
    local name=${spec%@*} version=${spec##*@}
    tarball="${name#@*/}-$version.tgz"
    curl -fsSL --retry 3 -o "$work/$tarball" "https://registry.npmjs.org/$name/-/$tarball"
  fi
  local actual
  actual="sha512-$("$PYTHON" -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$work/$tarball")"
  if [ "$actual" != "$integrity" ]; then
    echo "$spec: sha512 mismatch (expected $integrity, got $actual)" >&2
    exit 1
  fi
  echo "$work/$tarball"
}

unpack() {  # unpack TARBALL DIR
  mkdir -p "$2"
  tar -xzf "$1" -C "$2" --strip-components=1
}

new="$DEST.new"
rm -rf "$new"
mkdir -p "$new"
while read -r spec integrity; do
  tarball=$(fetch "$spec" "$integrity")
  unpack "$tarball" "$work/${spec%@*}"
done <<<"$PACKAGES"

# MathJax: the tex-chtml combined component, the CommonHTML fonts it loads, and the components it may load
# later (TeX extensions on first use of their macros; accessibility, speech and menu parts on a reader's request).
mj="$work/mathjax" out="$new/mathjax"
mkdir -p "$out/es5/input/tex" "$out/es5/output"
cp "$mj/LICENSE" "$mj/package.json" "$out/"
cp "$mj/es5/tex-chtml.js" "$out/es5/"
cp -r "$mj/es5/input/tex/extensions" "$out/es5/input/tex/"
cp -r "$mj/es5/output/chtml" "$out/es5/output/"
cp -r "$mj/es5/a11y" "$mj/es5/sre" "$mj/es5/ui" "$out/es5/"

# The ipywidgets HTML manager (its AMD bundle includes the standard widgets) and RequireJS, which loads it.
hm="$work/@jupyter-widgets/html-manager" out="$new/jupyter-widgets/html-manager"
mkdir -p "$out/dist"
cp "$hm/LICENSE" "$hm/package.json" "$out/"
cp "$hm/dist/embed-amd.js" "$out/dist/"
rq="$work/requirejs" out="$new/requirejs"
mkdir -p "$out"
cp "$rq/require.js" "$rq/package.json" "$out/"

printf '%s' "$PACKAGES" >"$new/.packages"
rm -rf "$DEST"
mv "$new" "$DEST"
echo "vendored into $DEST/: $(echo "$PACKAGES" | cut -d' ' -f1 | tr '\n' ' ')($(du -sh "$DEST" | cut -f1))"
