# syntax=docker/dockerfile:1.7
#
# The operator image: controller, worker and sidecar roles (`--role ...`), with OpenTofu and the
# bpg/proxmox provider inside. The Proxmox VE simulator is a separate target: a production image
# has no fake Proxmox to point a connection at.
#
#   docker build -t proxmox-terraform-manager:dev .                          # the operator (default)
#   docker build --target simulator -t proxmox-terraform-manager-sim:dev .   # the simulator, for tests and compose
#
# Base images: exact version tags pinned by digest (the multi-platform index digest), so a rebuild
# gets the bytes that were reviewed and a re-pushed tag cannot change them. Where the digests come
# from: no registry could be asked where this file was written, so they were taken from public
# Dockerfiles that pin the same tags (node:20.20.2-bookworm-slim@sha256:2cf067cf..., and
# golang:1.26.6-bookworm@sha256:116d58cb..., each found in several unrelated repositories). They
# were NOT verified against Docker Hub here: before a release, check them (and refresh them when a
# base image needs a security update):
#   docker buildx imagetools inspect node:20.20.2-bookworm-slim     # "Digest: sha256:..."
#   docker buildx imagetools inspect golang:1.26.6-bookworm
# and override without editing this file with --build-arg NODE_IMAGE=... --build-arg GO_IMAGE=...
# Go 1.26.6 is the highest `go` line of the wrapper modules (test/platform/{tofu,provider}/go.mod);
# Node 20.20.2 is the release the tests run on, within package.json's engines. See docs/container.md.

ARG GO_IMAGE=golang:1.26.6-bookworm@sha256:116d58cbd88c1297624acc6e967a060012422bacf9930927e23fb719189c6f36
ARG NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# ---- 1. tofu and the provider, from the same pinned wrapper modules and flags as the platform ----
FROM ${GO_IMAGE} AS tools
# The official Go images set GOTOOLCHAIN=local; should a wrapper module ask for a newer 1.26.x
# patch release than the image has (a GO_IMAGE override, or a module bumped first), let Go fetch it.
ENV GOTOOLCHAIN=auto PTM_CACHE_DIR=/var/cache/ptm-tools
WORKDIR /src
COPY scripts/build-tools scripts/build-tools
COPY test/platform/tofu/go.mod test/platform/tofu/go.sum test/platform/tofu/
COPY test/platform/provider/go.mod test/platform/provider/go.sum test/platform/provider/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    scripts/build-tools --only tofu,provider --out out \
    && out/bin/tofu version

# ---- 2. the TypeScript build ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: dependency install scripts stay off, as npm 11's allowScripts policy keeps
# them off on developer machines (package.json approves none); the image's npm is older.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY stacks stacks
# Also copies the status page's static files beside the compiled sidecar. The simulator's build
# output moves aside: only the simulator target takes it.
RUN npm run build \
    && mkdir -p simulator-dist \
    && mv dist/src/simulator simulator-dist/simulator

# ---- production dependencies only ----
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- the Proxmox VE simulator (docker build --target simulator) ----
FROM ${NODE_IMAGE} AS simulator
# openssl makes the simulator's self-signed certificate.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin nonroot \
    && mkdir -p /var/lib/ptm/work \
    && chown 65532:65532 /var/lib/ptm/work
WORKDIR /app
COPY package.json ./
COPY --from=prod-deps /app/node_modules node_modules
COPY --from=build /app/simulator-dist/simulator dist/src/simulator
ENV NODE_ENV=production HOME=/tmp
EXPOSE 8006
USER 65532:65532
ENTRYPOINT ["node", "dist/src/simulator/cli.js"]

# ---- 3. runtime (the default target: the operator, without the simulator) ----
FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="proxmox-terraform-manager" \
      org.opencontainers.image.description="Kubernetes operator: declarative Proxmox VE VMs through OpenTofu and the bpg/proxmox provider" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"

# setpriv (util-linux) gives tofu a parent-death signal; ca-certificates lets tofu verify a real
# Proxmox and provider registries.
RUN apt-get update \
    && apt-get install -y --no-install-recommends util-linux ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && command -v setpriv \
    && groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin nonroot \
    && mkdir -p /var/lib/ptm/work \
    && chown 65532:65532 /var/lib/ptm/work \
    && ln -s /app/bin/kubectl-ptm /usr/local/bin/kubectl-ptm

COPY --from=tools /src/out/bin/tofu /usr/local/bin/tofu
COPY --from=tools /src/out/providers /opt/ptm/providers
# bpg/* from the mirror baked in above (works offline); any other provider from its registry.
COPY <<EOF /etc/ptm/tofurc
provider_installation {
  filesystem_mirror {
    path    = "/opt/ptm/providers"
    include = ["registry.opentofu.org/bpg/*", "registry.terraform.io/bpg/*"]
  }
  direct {
    exclude = ["registry.opentofu.org/bpg/*", "registry.terraform.io/bpg/*"]
  }
}
EOF

WORKDIR /app
COPY package.json ./
# The `kubectl ptm` plugin (docs/cli.md), on the PATH through the link made above; it runs dist/.
COPY bin bin
COPY --from=prod-deps /app/node_modules node_modules
COPY --from=build /app/dist dist

# HOME=/tmp: tofu and node write nothing else, so the root filesystem can be read-only with
# /tmp and /var/lib/ptm/work mounted writable.
ENV NODE_ENV=production \
    HOME=/tmp \
    TOFU_BIN=/usr/local/bin/tofu \
    TF_CLI_CONFIG_FILE=/etc/ptm/tofurc \
    PTM_WORKDIR_ROOT=/var/lib/ptm/work

# 8080: sidecar (REST, SSE, status page, /metrics); 9090: PTM_METRICS_PORT as the chart and compose set it.
EXPOSE 8080 9090
USER 65532:65532
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["--role", "all"]
