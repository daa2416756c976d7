#!/bin/sh
# Creates the venv with Perfetto's official Python schema that check_trace.py
# parses traces with, and prints its python. Default place:
# <target dir>/perfetto-venv. Needs python3 with venv and PyPI.
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
venv=${1:-${CARGO_TARGET_DIR:-$root/target}/perfetto-venv}
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'perfetto==0.59.*' protobuf
"$venv/bin/python" -c 'from perfetto.protos.perfetto.trace import perfetto_trace_pb2'
echo "$venv/bin/python"
