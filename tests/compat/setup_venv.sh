#!/usr/bin/env bash
# Create (or refresh) the transformers 4.x virtualenv for the compat check
# (tests/test_compat_transformers4.py). Idempotent: a second run with the same
# versions only checks the env and returns.
#
#   bash tests/compat/setup_venv.sh            # -> .venv-t4 at the repo root
#   LINEAGE_T4_PYTHON=$PWD/.venv-t4/bin/python make test
#
# Environment: PYTHON (base interpreter, default python3), T4_VENV (default
# .venv-t4), TORCH_VERSION (default 2.13.0), TORCH_INDEX (optional index URL for
# torch, as in the Makefile), T4_TRANSFORMERS (default 4.57.6).
# torch is installed first and on its own, pinned, so pip never pulls a second
# (CUDA) build; transformers does not depend on torch, so nothing replaces it.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON="${PYTHON:-python3}"
T4_VENV="${T4_VENV:-.venv-t4}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_INDEX="${TORCH_INDEX:-}"
T4_TRANSFORMERS="${T4_TRANSFORMERS:-4.57.6}"
# transformers 4.57 accepts tokenizers >=0.22,<=0.23.0 and huggingface-hub <1.0.
T4_REQUIREMENTS=("transformers==$T4_TRANSFORMERS" "tokenizers>=0.22,<=0.23.0" "huggingface-hub>=0.34,<1.0" "safetensors" "numpy")
STAMP="$T4_VENV/.lineage-t4-installed"
WANT="torch==$TORCH_VERSION transformers==$T4_TRANSFORMERS"

check() {
    "$T4_VENV/bin/python" - "$TORCH_VERSION" "$T4_TRANSFORMERS" <<'PY'
import sys
import torch, transformers, tokenizers
torch_version, transformers_version = sys.argv[1:]
assert torch.__version__.split("+")[0] == torch_version, f"torch {torch.__version__}, wanted {torch_version}"
assert transformers.__version__ == transformers_version, f"transformers {transformers.__version__}"
print(f"{sys.executable}: torch {torch.__version__} (cuda: {torch.version.cuda}), "
      f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
PY
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && check 2>/dev/null; then
    exit 0
fi

test -x "$T4_VENV/bin/python" || "$PYTHON" -m venv "$T4_VENV"
PIP=("$T4_VENV/bin/python" -m pip)
"${PIP[@]}" install -q --upgrade pip
"${PIP[@]}" install -q "torch==$TORCH_VERSION" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
"${PIP[@]}" install -q numpy  # before torch is first imported (else it warns)
if [ -z "$TORCH_INDEX" ] && "$T4_VENV/bin/python" -c 'import sys, torch; sys.exit(torch.version.cuda is None)'; then
    echo "setup_venv.sh: pip installed a CUDA build of torch; pass TORCH_INDEX=<a CPU wheel index>" >&2
    exit 1
fi
# Pin the torch just installed, so no dependency can swap it.
echo "torch==$("$T4_VENV/bin/python" -c 'import torch; print(torch.__version__)')" > "$T4_VENV/constraints.txt"
"${PIP[@]}" install -q -c "$T4_VENV/constraints.txt" "${T4_REQUIREMENTS[@]}"
check
echo "$WANT" > "$STAMP"
