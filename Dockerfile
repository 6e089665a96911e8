# The remote virtual window server: `docker build -t rvw . && docker run -p 8080:8080 rvw --demo`
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY web/package.json web/package-lock.json web/
RUN cd web && npm ci --omit=dev --no-audit --no-fund
COPY pyproject.toml README.md ./
COPY server server
COPY signaling signaling
COPY queueing queueing
COPY recordings recordings
COPY web web
# Editable, so the app finds web/node_modules beside its templates.
RUN pip install --no-cache-dir -e .

RUN useradd --system --home /app rvw && mkdir -p /app/var && chown rvw /app/var
USER rvw
ENV RVW_VAR_DIR=/app/var
EXPOSE 8080
ENTRYPOINT ["rvw", "serve", "--host", "0.0.0.0", "--port", "8080"]
