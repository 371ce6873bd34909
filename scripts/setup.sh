#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# setup.sh: installs the Debian packages bandbridge needs to build and test (idempotent).
#
#   scripts/setup.sh           build + test dependencies
#   scripts/setup.sh --bench   also jamulus and jacktrip for the benchmarks (optional)
#
# Touches apt only when something is missing; root runs apt directly, others via sudo.
set -euo pipefail

# build: compiler, make, pkg-config and the libraries' -dev packages
# run/test: jackd2 (jackd, jack_lsp, jack_connect, jack_iodelay), liblo-tools
# (oscsend, oscdump), sqlite3, iproute2 (ss, for free UDP ports), coreutils (timeout),
# nodejs (test/it_tablet.sh runs the Open Stage Control module in a harness),
# python3 (the OSC peer, the UDP echo and the spoofer several tests drive),
# sndfile-programs (sndfile-info reads a recorded take), g++ (test/it_nsm_real.sh
# builds the real NSM server, nsmd, from ../shared/tools/new-session-manager;
# jackd2 also brings jack_property, which test/it_jack_meta.sh reads metadata with),
# tmux (test/it_status_tty.sh reads `bandbridge status` off a terminal's screen),
# systemd (systemd-analyze checks the user unit), pipewire and pipewire-jack
# (test/it_pipewire.sh: PipeWire's JACK through pw-jack; its libjack stays out of the
# default library path, so jackd2's is still the one tests use)
PKGS=(gcc g++ make pkg-config libjack-jackd2-dev liblo-dev libsqlite3-dev libopus-dev libsodium-dev
      libsndfile1-dev libsamplerate0-dev jackd2 liblo-tools sqlite3 iproute2 coreutils nodejs
      sndfile-programs python3 tmux systemd pipewire pipewire-jack)
# test/it_browser.sh drives the tablet layout in Debian's chromium (with
# puppeteer-core: npm ci in test/browser, below); where it cannot be had the
# test skips, so a failed install is a warning
OPT_PKGS=(chromium)
BENCH_PKGS=(jamulus jacktrip)

bench=0
for a in "$@"; do
    case $a in
    --bench) bench=1 ;;
    -h | --help) sed -n '3,8p' "$0"; exit 0 ;;
    *) echo "setup: unknown argument $a" >&2; exit 2 ;;
    esac
done

missing_of() {
    local p out=()
    for p in "$@"; do
        if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
            out+=("$p")
        fi
    done
    echo "${out[*]}"
}

# test/browser's node packages (puppeteer-core), exactly as its package-lock.json
# says; again only when the lock file changed since the last install. npm comes
# with Node.js from some sources, as Debian's own package from Debian's. A
# failure is a warning: it_browser.sh then skips and says why.
node_packages() {
    local dir
    dir=$(cd "$(dirname "$0")/.." && pwd)/test/browser
    [[ -f $dir/package-lock.json ]] || return 0
    if cmp -s "$dir/package-lock.json" "$dir/node_modules/.setup-lock.json" 2>/dev/null; then
        echo "setup: test/browser's node packages present"
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm ||
            { echo "setup: warning: no npm: test/it_browser.sh will be skipped" >&2; return 0; }
    fi
    echo "setup: npm ci in test/browser"
    if (cd "$dir" && npm ci --no-audit --no-fund); then
        cp "$dir/package-lock.json" "$dir/node_modules/.setup-lock.json"
    else
        echo "setup: warning: npm ci failed in test/browser: test/it_browser.sh will be skipped" >&2
    fi
}

SUDO=()
(( EUID == 0 )) || ! command -v sudo >/dev/null 2>&1 || SUDO=(sudo)

read -r -a missing <<<"$(missing_of "${PKGS[@]}")"
read -r -a opt_missing <<<"$(missing_of "${OPT_PKGS[@]}")"
bench_missing=()
(( bench )) && read -r -a bench_missing <<<"$(missing_of "${BENCH_PKGS[@]}")"

if (( ${#missing[@]} == 0 && ${#opt_missing[@]} == 0 && ${#bench_missing[@]} == 0 )); then
    echo "setup: all packages present"
    node_packages
    exit 0
fi

all_missing=("${missing[@]}" "${opt_missing[@]}" "${bench_missing[@]}")

if (( EUID != 0 )) && ! command -v sudo >/dev/null 2>&1; then
    echo "setup: missing packages: ${all_missing[*]}" >&2
    echo "setup: need root or sudo to install them" >&2
    exit 1
fi

apt_install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@"
}

# jackd2's postinst asks whether to enable realtime limits: answer it beforehand.
echo "jackd2 jackd/tweak-rt-limits boolean false" | "${SUDO[@]}" debconf-set-selections

echo "setup: installing ${all_missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update

if (( ${#missing[@]} )); then
    apt_install "${missing[@]}"
    read -r -a still <<<"$(missing_of "${PKGS[@]}")"
    if (( ${#still[@]} )); then
        echo "setup: still missing after install: ${still[*]}" >&2
        exit 1
    fi
fi

if (( ${#opt_missing[@]} )) && ! apt_install "${opt_missing[@]}"; then
    echo "setup: warning: could not install ${opt_missing[*]} (test/it_browser.sh will be skipped)" >&2
fi

if (( ${#bench_missing[@]} )); then
    if ! apt_install "${bench_missing[@]}"; then
        echo "setup: warning: could not install ${bench_missing[*]} (benchmarks against them will be skipped)" >&2
    fi
fi
node_packages
echo "setup: done"
