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
dpkg-deb -f "$deb" Depends | grep -q libpq5 || { echo "Depends lacks libpq5"; exit 1; }
dpkg -x "$deb" "$work/root"
"$work/root/usr/bin/fastappkit" --version
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
