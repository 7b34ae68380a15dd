# syntax=docker/dockerfile:1
# stancebot in two stages: the first exports the encoder for ONNX Runtime with torch (and checks
# it against torch); the image that runs the bot has no torch, only the run-time packages and
# that export. Build: docker build -t stancebot .   Run: docker compose up (compose.yaml).

# --- export: torch loads the weights, merges the trained adapter and exports the encoder ------
FROM python:3.11-slim AS export
WORKDIR /src
# The CPU build of torch first, so nothing pulls the CUDA packages.
RUN pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir ".[train]"
# The export is specific to the CPU features it was quantised for (VNNI or not): build the image
# on the kind of machine it runs on, or let the first start export (needs the train extra).
ENV STANCEBOT_CACHE_DIR=/export
RUN stancebot export-model

# --- run time: no torch, no transformers, no scikit-learn ------------------------------------
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 stancebot && mkdir /data && chown stancebot /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
# No byte-code files and no packages' test suites: about 170 MB less (the bot compiles what it
# imports once at start-up, about half a second). docs/deployment.md has the sizes.
ENV PYTHONDONTWRITEBYTECODE=1
RUN pip install --no-cache-dir --no-compile . && rm -rf build \
    && find /usr/local/lib/python3.11/site-packages -depth -type d -name tests -exec rm -rf {} +
COPY seeds ./seeds
COPY prompts ./prompts
COPY --from=export --chown=stancebot /export /home/stancebot/.cache/stancebot
ENV STANCEBOT_SEEDS_DIR=/app/seeds \
    STANCEBOT_PROMPTS_DIR=/app/prompts \
    STANCEBOT_CACHE_DIR=/home/stancebot/.cache/stancebot \
    STANCEBOT_DATABASE=/data/stancebot.db \
    PYTHONUNBUFFERED=1
VOLUME /data
USER stancebot
# Logs go to stderr (docker logs); the line "connected as … to N guild(s)" says it is ready.
CMD ["stancebot", "run"]
