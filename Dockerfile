# syntax=docker/dockerfile:1

# jitbot container image. The release this tree is, and so the image tag that
# manifests/kustomization.yaml deploys, is the VERSION file:
#
#   docker build -t ghcr.io/jitbot/jitbot:$(cat VERSION) \
#     --build-arg VERSION=$(cat VERSION) \
#     --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --rm -p 8080:8080 -v jitbot-data:/data \
#     -v "$PWD/jitbot.yaml:/etc/jitbot/jitbot.yaml:ro" --env-file jitbot.env \
#     ghcr.io/jitbot/jitbot:$(cat VERSION)
#
# The base images are build arguments, GO_IMAGE and RUNTIME_IMAGE. Their defaults
# are tags, which move; for a reproducible build pin each by digest:
#
#   docker buildx imagetools inspect golang:1.26-bookworm          # prints "Digest: sha256:..."
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
#   docker build \
#     --build-arg GO_IMAGE=golang:1.26-bookworm@sha256:<digest> \
#     --build-arg RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:<digest> ...
#
# (or `crane digest <image>`). With tag@digest the digest decides and the tag
# only documents it. The build stage needs Go 1.26 or later.
#
# The binary is static (CGO_ENABLED=0), so the final stage is distroless/static:
# no shell, no package manager, CA certificates and tzdata included, and the
# nonroot user (65532). The bbolt database lives on the /data volume.

ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# ---- build stage -----------------------------------------------------------
# Runs on the build host's platform and cross-compiles for the target one.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build

WORKDIR /src
ENV CGO_ENABLED=0 \
    GOFLAGS=-buildvcs=false

# Module download is its own layer: it is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

ARG TARGETOS
ARG TARGETARCH
# What `jitbot version`, /healthz and jitbot_build_info report. The build
# context has no .git (and GOFLAGS has -buildvcs=false), so Go cannot stamp
# the revision itself: pass it.
ARG VERSION=dev
ARG REVISION=unknown
RUN --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w \
      -X github.com/jitbot/jitbot/cmd/internal/buildinfo.version=${VERSION} \
      -X github.com/jitbot/jitbot/cmd/internal/buildinfo.revision=${REVISION}" \
      -o /out/jitbot ./cmd/jitbot \
 && mkdir -p /out/data

# ---- final stage -----------------------------------------------------------
FROM ${RUNTIME_IMAGE}

ARG RUNTIME_IMAGE
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="jitbot" \
      org.opencontainers.image.description="Just-in-time MongoDB Atlas access from Slack and Microsoft Teams" \
      org.opencontainers.image.source="https://github.com/jitbot/jitbot" \
      org.opencontainers.image.url="https://github.com/jitbot/jitbot" \
      org.opencontainers.image.documentation="https://github.com/jitbot/jitbot" \
      org.opencontainers.image.vendor="jitbot" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"

# distroless already sets this PATH; it is repeated because ENTRYPOINT relies on it.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY --from=build /out/jitbot /usr/local/bin/jitbot
# An empty /data owned by the runtime user, so a fresh named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data

# Numeric, so Kubernetes runAsNonRoot can verify it without a passwd lookup.
USER 65532:65532
VOLUME /data
WORKDIR /data
# listen (Slack, Teams, probes) and admin_listen (admin API, /metrics) of the
# Kubernetes manifests' jitbot.yaml.
EXPOSE 8080 9090

ENTRYPOINT ["jitbot", "serve"]
CMD ["-config", "/etc/jitbot/jitbot.yaml"]
