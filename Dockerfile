# reportgate container image.
#
# Stage 1 builds dependencies alone (cached until Cargo.toml/Cargo.lock change), stage 2
# builds the binary with --locked, stage 3 is the runtime: Debian bookworm-slim with the
# binary, CA certificates from Debian's package, the default config, a non-root user and its
# audit directory (a fresh named volume mounted there takes its owner, so the user can write).
# The runtime is a Debian image (not scratch with glibc copied in) so that image scanners
# find its package database (/var/lib/dpkg/status) and report the CVEs of every library
# the binary links (libc6, libgcc-s1). No secrets. scripts/container-smoke.sh builds and
# runs it.
#
#   buildah bud --build-arg GIT_COMMIT="$(git rev-parse HEAD)" --build-arg VERSION=0.1.0 .
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS deps
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Dummy sources with the same targets, so that only dependencies are compiled here.
RUN mkdir -p src bench \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > bench/overload.rs \
    && cargo build --release --locked --bin reportgate

FROM deps AS build
# The commit goes into the reportgate_build_info metric (option_env! at compile time;
# "unknown" when not given).
ARG GIT_COMMIT=unknown
ENV REPORTGATE_GIT_COMMIT=${GIT_COMMIT}
COPY src ./src
COPY config ./config
# Newer mtimes than the dummies, so cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin reportgate \
    && strip target/release/reportgate

FROM ${RUNTIME_IMAGE}
ARG GIT_COMMIT=unknown
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="reportgate" \
      org.opencontainers.image.description="Gateway in front of the SailPoint IdentityNow Reports API" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
# ca-certificates from Debian (so scanners see it) is deliberately not pinned: a rebuild
# takes bookworm's security updates; the version installed is in the package database.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && groupadd --system --gid 10001 reportgate \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin reportgate \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/reportgate/audit
COPY --from=build /src/target/release/reportgate /usr/local/bin/reportgate
COPY --from=build /src/config/default.yaml /etc/reportgate/config.yaml
USER 10001:10001
ENV REPORTGATE_CONFIG=/etc/reportgate/config.yaml
# The binary's admin listener defaults to loopback; in a container the pod address is meant
# (the Helm chart sets it too), or probes and scrapes could not reach it.
ENV REPORTGATE__ADMIN__LISTEN=0.0.0.0:9464
# API and admin (metrics, health).
EXPOSE 8080 9464
# For Docker and other runtimes without HTTP probes (Kubernetes uses the chart's probes;
# with another admin.listen, pass --url).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s \
    CMD ["/usr/local/bin/reportgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/reportgate"]
CMD ["serve"]
