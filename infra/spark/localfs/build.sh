#!/usr/bin/env bash
# Builds geopulse-localfs.jar (NioLocalFileSystem.java beside this script) against the Hadoop
# client jar of the environment's pyspark; idempotent (rebuilt only when the source or pyspark
# changes). Usage: build.sh <venv>; writes <venv>/share/geopulse/geopulse-localfs.jar.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$1"
OUT="$VENV/share/geopulse"
JAR="$OUT/geopulse-localfs.jar"
HADOOP="$(ls "$VENV"/lib/python3*/site-packages/pyspark/jars/hadoop-client-api-*.jar | head -1)"
want="$(sha256sum "$HERE/NioLocalFileSystem.java" | cut -c1-16)-$(basename "$HADOOP")"
[ -f "$JAR" ] && [ "$(cat "$OUT/.localfs" 2>/dev/null)" = "$want" ] && exit 0
command -v javac >/dev/null || { echo "[bootstrap] javac missing: install a JDK (openjdk-17-jdk-headless)" >&2; exit 1; }
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
javac -nowarn --release 17 -cp "$HADOOP" -d "$build" "$HERE/NioLocalFileSystem.java"
mkdir -p "$OUT"
jar --create --file "$JAR" -C "$build" .
echo "$want" > "$OUT/.localfs"
echo "[bootstrap] built $JAR"
