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
echo "ok"
