# syntax=docker/dockerfile:1
# The workshop UI (Streamlit) for Cloud Run: CPU only, non-root, port 8080.
# Build:  docker build -t workshop-ui .   (see docs/deploy.md, "Hosting the UI")

# ---- build stage: a virtualenv with every dependency; compilers stay here
FROM python:3.11.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# llama.cpp for any x86-64 CPU: Cloud Run's is not Cloud Build's, and a native build
# segfaults on some (setup.sh says which)
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF"
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
# torch first, from PyTorch's CPU index (its pin read from requirements.txt): PyPI's
# Linux wheels pull in gigabytes of CUDA this CPU-only service would never use.
RUN pip install --index-url https://download.pytorch.org/whl/cpu \
      "$(grep -E '^torch==' /tmp/requirements.txt | cut -d' ' -f1)" \
 && pip install --extra-index-url https://download.pytorch.org/whl/cpu \
      -r /tmp/requirements.txt

# ---- runtime stage
FROM python:3.11.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/app \
    PORT=8080 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
WORKDIR /app
COPY --chown=10001:10001 . .
USER 10001
# The query embedder's ONNX graph, exported at build time (rag/embeddings/onnx_query.py):
# an instance that starts cold answers its first query on ONNX Runtime, not after an export.
RUN python -c "import rag.embeddings.local as l; r = l.query_encoder('all-MiniLM-L6-v2').wait(); print('query runtime:', r); raise SystemExit(r != 'onnx')"
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/_stcore/health', timeout=4)"]
# Cloud Run sets PORT (8080); exec so Streamlit gets SIGTERM on scale-down.
CMD ["sh", "-c", "exec streamlit run streamlit_app.py --server.port=${PORT} --server.address=0.0.0.0 --server.headless=true"]
