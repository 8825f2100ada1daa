#!/usr/bin/env bash
# Scale-out with 1, 2 and 3 hosts (`switchboard up --hosts N`): see run.py beside this file,
# which does the work; flags pass through (`bash bench/scale/run.sh --rounds 1 --hosts 1 3`).
set -euo pipefail
exec python3 "$(cd "$(dirname "$0")" && pwd)/run.py" "$@"
