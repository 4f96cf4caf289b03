#!/usr/bin/env bash
# The Debian package: built with CPack from this build, it holds the engine and the SDK, its
# fastappkit runs, and find_package(fastappkit) finds the SDK in it. The package is unpacked
# into a temp root (dpkg -x) rather than installed, so the test leaves the machine as it was;
# `apt install ./fastappkit_*.deb` installs the same files under /usr.
set -euo pipefail
build=$1
work=$(mktemp -d /tmp/fastappkit-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$build" && cpack -G DEB -B "$work/out" >/dev/null)
deb=$(ls "$work"/out/fastappkit_*.deb)
echo "package: $(basename "$deb")"
dpkg-deb -f "$deb" Package Version Depends
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/fastappkit ./usr/include/fastappkit/plugin.hpp ./usr/include/fastappkit/plugin_abi.h \
    ./usr/share/bash-completion/completions/fastappkit; do
  grep -q " $f\$" <<<"$contents" || { echo "missing in the package: $f"; exit 1; }
done
grep -q '/cmake/fastappkit/fastappkitConfig.cmake$' <<<"$contents" || { echo "missing: fastappkitConfig.cmake"; exit 1; }
# Dependencies as dpkg-shlibdeps derives them from the executable's shared libraries, and the two
# it opens when first needed (libpq5, libssl3): a security update of any of them reaches fastappkit.
depends=$(dpkg-deb -f "$deb" Depends)
for p in libpq5 libsqlite3-0 libstdc++6 libboost-program-options libssl3; do
  grep -q "$p" <<<"$depends" || { echo "Depends lacks $p: $depends"; exit 1; }
done
dpkg -x "$deb" "$work/root"
exe="$work/root/usr/bin/fastappkit"
"$exe" --version
# A position-independent executable (ELF type DYN with the PIE flag) with full RELRO (a
# GNU_RELRO segment and BIND_NOW), linking the system's shared libraries, none copied in.
readelf -h "$exe" | grep -q 'Type: *DYN' || { echo "not a PIE: $(readelf -h "$exe" | grep Type)"; exit 1; }
dynamic=$(readelf -d "$exe")
grep -q 'Flags: .*PIE' <<<"$dynamic" || { echo "no PIE flag in FLAGS_1"; exit 1; }
grep -q 'BIND_NOW\|Flags: .*NOW' <<<"$dynamic" || { echo "no BIND_NOW: RELRO is partial"; exit 1; }
readelf -l "$exe" | grep -q GNU_RELRO || { echo "no GNU_RELRO segment"; exit 1; }
for lib in libsqlite3.so.0 libstdc++.so.6 libboost_program_options; do
  grep -q "NEEDED.*$lib" <<<"$dynamic" || { echo "does not link the shared $lib"; exit 1; }
done
# find_package(fastappkit) from the unpacked package.
mkdir -p "$work/consumer"
cat > "$work/consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(consumer LANGUAGES CXX)
find_package(fastappkit 0.1 REQUIRED)
if(NOT COMMAND fastappkit_add_plugin)
  message(FATAL_ERROR "fastappkit_add_plugin is not defined")
endif()
message(STATUS "found fastappkit ${fastappkit_VERSION}")
CMAKE
cmake -S "$work/consumer" -B "$work/consumer/build" -DCMAKE_PREFIX_PATH="$work/root/usr" | grep 'found fastappkit'
# The SDK in the package builds an example plugin out of the source tree, and the packaged
# fastappkit loads it (its own checks: ABI, trust, models, migrations).
src=$(cd "$(dirname "$0")/../.." && pwd)
cp -r "$src/plugins/audit" "$work/audit"
cmake -S "$work/audit" -B "$work/audit/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/root/usr" >/dev/null
cmake --build "$work/audit/build" >/dev/null
test -f "$work/audit/build/plugins/audit/plugin.toml" || { echo "the packaged SDK built no plugin"; exit 1; }
cp -r "$src/apps-example" "$work/project"
rm -rf "$work/project/plugins" "$work/project/app.db" "$work/project/.fastappkit"
mkdir -p "$work/project/plugins" && cp -r "$work/audit/build/plugins/audit" "$work/project/plugins/"
printf '[tool.fastappkit]\napps = ["apps.blog", "audit"]\n' >"$work/project/fastappkit.toml"
"$exe" -C "$work/project" --database-url "sqlite:///$work/project/app.db" migrate all >/dev/null
"$exe" -C "$work/project" --database-url "sqlite:///$work/project/app.db" app validate audit >/dev/null
# A lean package (issue 33): small, its executable stripped, with the manual page, the guides,
# and bash-completion recommended (it loads the completion script).
size=$(stat -c %s "$deb")
[ "$size" -lt $((8 * 1024 * 1024)) ] || { echo "the package is $size bytes (limit 8 MiB)"; exit 1; }
if readelf -S "$exe" | grep -q '\.debug_info'; then echo "the packaged executable has debug information"; exit 1; fi
if readelf -S "$exe" | grep -q ' \.symtab'; then echo "the packaged executable is not stripped"; exit 1; fi
man1="$work/root/usr/share/man/man1/fastappkit.1.gz"
test -f "$man1" || { echo "missing: /usr/share/man/man1/fastappkit.1.gz"; exit 1; }
zcat "$man1" | grep -q '^\.TH FASTAPPKIT 1' || { echo "the manual page has no .TH line"; exit 1; }
zcat "$man1" | grep -q 'migrate adopt' || { echo "the manual page lacks commands of the table"; exit 1; }
if command -v man >/dev/null; then
  MANWIDTH=80 man -l "$man1" 2>&1 | grep -q 'GLOBAL OPTIONS' || { echo "man -l cannot render the page"; exit 1; }
fi
for f in README.md getting-started.md models.md migrations.md cli.md plugins.md adopt.md; do
  test -f "$work/root/usr/share/doc/fastappkit/$f" || { echo "missing: /usr/share/doc/fastappkit/$f"; exit 1; }
done
dpkg-deb -f "$deb" Recommends | grep -q bash-completion || { echo "Recommends lacks bash-completion"; exit 1; }
echo "package size: $size bytes"
echo "ok"
