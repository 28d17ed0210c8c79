# Petrel worker image: `docker build -t petrel .`, or `docker compose up -d --build`
# (docker-compose.yml, docs/production.md). The default command runs a worker on the `petrel`
# task queue. The `petrel` CLI is on PATH too.
#
# Runtime settings come from the environment: TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE,
# TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY / TEMPORAL_TLS_CA (file paths), TEMPORAL_API_KEY, and
# PETREL_HOME (defaults to /var/lib/petrel here; mount a volume on it).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: all dependencies, compile TypeScript, bundle the workflows -----------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Install dependencies before copying the sources so that this layer stays cached until the
# lockfile changes. --ignore-scripts: the dependencies ship prebuilt binaries (Temporal's core
# bridge, swc) and need no install step. It also keeps a future root `prepare` script from
# running before the sources are copied in.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# ---- runtime: production dependencies, compiled output, non-root ----------------------------
FROM ${NODE_IMAGE} AS runtime

# bash comes with bookworm-slim (the local provider runs jobs with it). tini is PID 1: it
# forwards SIGTERM to the worker and reaps the job processes that the worker detaches.
# procps (ps, pkill) is for inspecting and signalling job processes. openssh-client and rsync
# are for the providers that reach nodes over SSH.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini procps openssh-client rsync ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A dedicated user. UID/GID default to 1000 so that credentials bind-mounted from a typical
# Linux host (~/.aws, ~/.ssh, ~/.kube) stay readable. The base image's `node` user holds
# 1000, so it is removed first.
ARG PETREL_UID=1000
ARG PETREL_GID=1000
RUN if id node >/dev/null 2>&1; then userdel --remove node; fi \
 && if getent group node >/dev/null; then groupdel node; fi \
 && groupadd --gid "${PETREL_GID}" petrel \
 && useradd --uid "${PETREL_UID}" --gid petrel --create-home --home-dir /home/petrel \
      --shell /bin/bash petrel \
 && install -d -o petrel -g petrel -m 0750 /var/lib/petrel

WORKDIR /app
ENV NODE_ENV=production \
    PETREL_HOME=/var/lib/petrel

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# The tree is the checkout (less what .dockerignore drops) plus the compiled dist/, so any
# path that works after `npm run build` in a checkout also works here. Root owns the files,
# so the worker cannot change its own code. Only PETREL_HOME is writable.
COPY . .
COPY --from=build /app/dist ./dist
RUN chmod 0755 bin/petrel.js \
 && ln -s /app/bin/petrel.js /usr/local/bin/petrel

USER petrel
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/workers/main.js"]
