# Bad: the final USER is root.
ARG GO_IMAGE=golang:1.26.8-bookworm@sha256:f4191582e1522dfc5980a6bdc0309a756f9697f3e7d0f199c7e26fc82ab324fd
FROM ${GO_IMAGE} AS build
ARG VERSION=dev
ARG REVISION=unknown
ARG MODULE=github.com/release-gates/release-gates
ENV CGO_ENABLED=1
COPY . /src
RUN cd /src && go build -trimpath -ldflags "-s -w -buildid= -X ${MODULE}/helpers/internal/version.Version=${VERSION} -X ${MODULE}/helpers/internal/version.Revision=${REVISION}" -o /out/ ./helpers/cmd/go-build-gate ./helpers/cmd/sign-artifacts ./helpers/cmd/slack-approval ./helpers/cmd/release-evidence

FROM debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251
ARG VERSION=dev
ARG REVISION=unknown
ARG GOFLAGS_DEFAULT=-mod=readonly
ARG GOPROXY_DEFAULT=https://proxy.golang.org,direct
ARG GOSUMDB_DEFAULT=sum.golang.org
ARG UID=0
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://example.invalid/release-gates"
COPY --from=build /out/go-build-gate /out/sign-artifacts /out/slack-approval /out/release-evidence /usr/local/bin/
ENV GOFLAGS=${GOFLAGS_DEFAULT} GOPROXY=${GOPROXY_DEFAULT} GOSUMDB=${GOSUMDB_DEFAULT}
USER ${UID}
