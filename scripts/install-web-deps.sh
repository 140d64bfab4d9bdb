#!/usr/bin/env bash
# Installs what the wasm build and the browser e2e tests need, from Debian apt, crates.io and npm only.
#
# - A wasm32 standard library (see below).
# - wasm-bindgen CLI, pinned to exactly the wasm-bindgen version in Cargo.lock (the CLI refuses a
#   mismatched module).
# - Debian's chromium (never a downloaded browser), yamllint, and the e2e npm packages.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

apt_install() {
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
    fi
}

# `--build-only`: just what building the wasm package needs (the Pages workflow: no browser, no test tools).
build_only=0
[ "${1:-}" = --build-only ] && build_only=1

need_apt=()
if [ "$build_only" = 0 ]; then
    command -v chromium >/dev/null || need_apt+=(chromium)
    command -v yamllint >/dev/null || need_apt+=(yamllint)
    command -v node >/dev/null || need_apt+=(nodejs)
    command -v npm >/dev/null || need_apt+=(npm)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install-web-deps: apt-get install ${need_apt[*]}"
    apt_install "${need_apt[@]}"
fi

# The wasm32 standard library: rustup's target, else the std sources of the active toolchain (rebuilt by
# scripts/build-wasm.sh with -Zbuild-std): rustup's rust-src component, else Debian's rust-src package of
# exactly the same Rust version (an architecture-independent tarball of the sources), unpacked into
# ~/.cache/glassbox and linked where rustup's rust-src would be. Debian's own rustc-web (1.85 in bookworm)
# is too old for tract 0.23 (needs Rust 1.91), hence this route.
sysroot="$(rustc --print sysroot)"
src_link="$sysroot/lib/rustlib/src/rust"
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    :
elif rustup target add wasm32-unknown-unknown 2>/dev/null; then
    :
elif [ -f "$src_link/library/std/Cargo.toml" ] || rustup component add rust-src 2>/dev/null; then
    :
else
    version="$(rustc --version | awk '{print $2}')"
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/glassbox"
    apt_dir="$cache/apt"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$cache"
    for suite in trixie-backports sid; do
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main"
    done > "$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
    apt-get "${apt_opts[@]}" update -qq
    deb_version="$(apt-cache "${apt_opts[@]}" madison rust-src | awk -v v="$version" '$3 ~ "^"v"[+]" {print $3; exit}')"
    if [ -z "$deb_version" ]; then
        echo "install-web-deps: no Debian rust-src for Rust $version; install a toolchain with the wasm32 target" >&2
        exit 1
    fi
    echo "install-web-deps: std sources for Rust $version from Debian rust-src $deb_version"
    (cd "$cache" && apt-get "${apt_opts[@]}" download "rust-src=$deb_version" && \
        rm -rf "rust-src-$version" && dpkg-deb -x rust-src_*.deb "rust-src-$version" && rm -f rust-src_*.deb)
    mkdir -p "$(dirname "$src_link")"
    ln -sfn "$cache/rust-src-$version/usr/src/rustc-$version" "$src_link"
fi

# wasm-bindgen CLI: exactly the library version that Cargo.lock resolved.
bindgen_version="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' "$ROOT/Cargo.lock")"
if [ -z "$bindgen_version" ]; then
    echo "install-web-deps: no wasm-bindgen in Cargo.lock; run 'cargo generate-lockfile' first" >&2
    exit 1
fi
# `--locked` first (the CLI's own lock file, the reproducible build); when the registry no longer serves a
# crate that lock file names (it happened: webpki-roots 1.0.11), the same CLI version resolved afresh.
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
cli_version() { "$cargo_bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}'; }
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ] && [ "$(cli_version)" != "$bindgen_version" ]; then
    echo "install-web-deps: cargo install wasm-bindgen-cli $bindgen_version"
    if ! cargo install --locked wasm-bindgen-cli --version "=$bindgen_version"; then
        echo "install-web-deps: the CLI's Cargo.lock does not resolve on this registry; resolving its dependencies afresh"
        cargo install --force wasm-bindgen-cli --version "=$bindgen_version"
    fi
    if [ "$(cli_version)" != "$bindgen_version" ]; then
        echo "install-web-deps: $cargo_bin/wasm-bindgen reports '$(cli_version)', expected $bindgen_version" >&2
        exit 1
    fi
fi
case ":$PATH:" in *":$cargo_bin:"*) ;; *) echo "install-web-deps: add $cargo_bin to PATH (wasm-bindgen is there)";; esac

# e2e test driver (playwright-core only: it never downloads a browser).
if [ "$build_only" = 0 ] && [ ! -d "$ROOT/tests/e2e/node_modules/playwright-core" ]; then
    (cd "$ROOT/tests/e2e" && npm ci --no-audit --no-fund)
fi
echo "install-web-deps: done"
