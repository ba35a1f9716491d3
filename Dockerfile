# syntax=docker/dockerfile:1
# The dualsip node image: one node of a pair (engine, core and its own redis-server).
# Built from this repository:   docker-compose build   (or: docker build -t dualsip .)
#
# Stage 1 installs the workspace's node modules and builds the native AF_PACKET addon
# (packages/vip) with the compilers of the full node:20-bookworm image. Stage 2 is the
# slim runtime with only what a node runs: Node 20, redis-server, iproute2 (ip addr for
# the floating IP) and iputils-arping (the announcement fallback).

FROM node:20-bookworm AS build
WORKDIR /app
# pnpm as pinned in package.json (packageManager).
RUN npm i -g pnpm@12.21.0
# node-gyp would download Node's headers; the node image ships them under /usr/local.
ENV npm_config_nodedir=/usr/local CI=true
# The whole workspace: manifests, lockfile, pnpm-workspace.yaml (allowBuilds) and the
# sources. The sources run with tsx, so there is no build step beyond the install.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml tsconfig.json ./
COPY packages ./packages
COPY test/package.json ./test/package.json
# Not --frozen-lockfile: pnpm 12 refuses it here because the lockfile carries no
# packageManager pin (the registry publishes none for it), the same as scripts/setup.sh;
# the dependency versions still come from pnpm-lock.yaml.
RUN pnpm install --frozen-lockfile=false --reporter=append-only
# The addon's build script only warns on failure (the library falls back to arping);
# an image must not ship without it silently.
RUN test -f packages/vip/build/Release/vip_packet.node \
 || { echo "Dockerfile: packages/vip/build/Release/vip_packet.node was not built" >&2; exit 1; }

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server iproute2 iputils-arping procps \
 && rm -rf /var/lib/apt/lists/*
# The Debian package's own redis-server instance is never started in a container;
# the node starts its own, bound to its sync address.
WORKDIR /app
COPY --from=build /app /app
COPY docker/entrypoint.sh /usr/local/bin/dualsip-entrypoint
COPY docker/healthcheck.sh /usr/local/bin/dualsip-healthcheck
RUN chmod 0755 /usr/local/bin/dualsip-entrypoint /usr/local/bin/dualsip-healthcheck \
 && printf '#!/bin/sh\nexec node /app/packages/cli/bin/dualsip.js "$@"\n' > /usr/local/bin/dualsip \
 && chmod 0755 /usr/local/bin/dualsip \
 && mkdir -p /var/lib/dualsip
# Epoch file and Redis working directory (a volume per node in docker-compose.yml).
VOLUME /var/lib/dualsip
# SIP (sip.port), heartbeats on the sip and sync networks (ha.paths), Redis (sync.redis.port),
# admin API (admin.port), application API (app.port).
EXPOSE 5060/udp 5060/tcp 7400/udp 6390/tcp 7080/tcp 7090/tcp
ENTRYPOINT ["dualsip-entrypoint"]
CMD ["node"]
