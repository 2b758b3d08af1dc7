#!/usr/bin/env bash
# Ollama's entrypoint for Cloud Run.
#   start-ollama        check the baked models, listen on $OLLAMA_HOST (0.0.0.0:8080)
#                       at once, then load the chat model into GPU memory (the warm-up).
#   start-ollama pull   build time: download $MODEL (and $EMBED_MODEL, if set) with a
#                       temporary server.
# Listening first matters: Cloud Run's startup probe fails a revision whose port
# stays closed (ollama/ollama#9133); loading a model takes longer than opening a port.
set -euo pipefail

OLLAMA_BIN="${OLLAMA_BIN:-ollama}"
MODEL="${MODEL:?MODEL must name the model baked into the image}"
EMBED_MODEL="${EMBED_MODEL:-}"  # the embedding model baked next to it; empty = none
READY_TIMEOUT="${READY_TIMEOUT:-60}"

log() { echo "start-ollama: $*" >&2; }

# Where Ollama keeps a model's manifest: gemma2:9b -> .../registry.ollama.ai/library/gemma2/9b
manifest_path() {
  local ref="$1" name tag="latest"
  name="${ref%%:*}"
  if [[ "$ref" == *:* ]]; then tag="${ref##*:}"; fi
  case "$name" in
    */*/*) ;;
    */*) name="registry.ollama.ai/${name}" ;;
    *) name="registry.ollama.ai/library/${name}" ;;
  esac
  echo "${OLLAMA_MODELS:-${HOME}/.ollama/models}/manifests/${name}/${tag}"
}

# Wait until the server answers, or fail if it died or took too long.
wait_ready() {
  local pid="$1" waited=0
  until "$OLLAMA_BIN" list >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "FATAL: ollama serve exited during start-up"
      return 1
    fi
    if ((waited >= READY_TIMEOUT)); then
      log "FATAL: ollama serve did not answer within ${READY_TIMEOUT}s"
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

pull() {
  export OLLAMA_HOST=127.0.0.1:11434
  "$OLLAMA_BIN" serve &
  local pid=$!
  wait_ready "$pid"
  local model
  for model in "$MODEL" ${EMBED_MODEL:+"$EMBED_MODEL"}; do
    "$OLLAMA_BIN" pull "$model"
  done
  kill "$pid"
  wait "$pid" || true
  for model in "$MODEL" ${EMBED_MODEL:+"$EMBED_MODEL"}; do
    if [[ ! -f "$(manifest_path "$model")" ]]; then
      log "FATAL: pulled $model but $(manifest_path "$model") is missing"
      exit 1
    fi
    log "baked $model into ${OLLAMA_MODELS:-the image}"
  done
}

# Exit 1 naming the model and the build argument if a baked model is missing.
check_baked() {
  local model="$1" arg="$2" manifest
  manifest="$(manifest_path "$model")"
  if [[ ! -f "$manifest" ]]; then
    log "FATAL: model '$model' is not in this image (no $manifest)."
    log "Rebuild the image with --build-arg $arg=$model."
    exit 1
  fi
}

serve() {
  check_baked "$MODEL" MODEL
  if [[ -n "$EMBED_MODEL" ]]; then check_baked "$EMBED_MODEL" EMBED_MODEL; fi
  "$OLLAMA_BIN" serve &
  local pid=$! status=0
  trap 'kill -TERM "$pid" 2>/dev/null || true' TERM INT
  wait_ready "$pid"
  log "loading $MODEL into GPU memory"
  if ! "$OLLAMA_BIN" run "$MODEL" "" </dev/null >/dev/null; then
    log "FATAL: could not load $MODEL"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
    exit 1
  fi
  log "$MODEL is loaded; serving on $OLLAMA_HOST"
  wait "$pid" || status=$?
  if ((status > 128)); then  # a signal interrupted wait: let Ollama finish stopping
    status=0
    wait "$pid" || status=$?
  fi
  exit "$status"
}

case "${1:-serve}" in
  pull) pull ;;
  serve) serve ;;
  *) log "usage: start-ollama [serve|pull]"; exit 2 ;;
esac
