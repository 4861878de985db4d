# reportgate container image.
#
# Stage 1 builds dependencies alone (cached until Cargo.toml/Cargo.lock change), stage 2
# builds the binary with --locked, stage 3 is a minimal runtime: the binary, the C runtime
# it links (glibc, libgcc_s), CA certificates, the default config and a non-root user. No
# shell, no package manager, no secrets. scripts/container-smoke.sh builds and runs it.
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm

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
COPY src ./src
COPY config ./config
# Newer mtimes than the dummies, so cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin reportgate \
    && strip target/release/reportgate \
    && mkdir -p /rootfs/etc/reportgate /rootfs/lib/x86_64-linux-gnu /rootfs/lib64 /rootfs/etc/ssl/certs /rootfs/tmp \
    && cp target/release/reportgate /rootfs/reportgate \
    && cp config/default.yaml /rootfs/etc/reportgate/config.yaml \
    && cp /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libgcc_s.so.1 /rootfs/lib/x86_64-linux-gnu/ \
    && cp /lib64/ld-linux-x86-64.so.2 /rootfs/lib64/ \
    && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
    && echo 'reportgate:x:10001:10001:reportgate:/nonexistent:/sbin/nologin' > /rootfs/etc/passwd \
    && echo 'reportgate:x:10001:' > /rootfs/etc/group \
    && chmod 1777 /rootfs/tmp

FROM scratch
COPY --from=build /rootfs/ /
USER 10001:10001
ENV REPORTGATE_CONFIG=/etc/reportgate/config.yaml
# API and admin (metrics, health).
EXPOSE 8080 9464
ENTRYPOINT ["/reportgate"]
CMD ["serve"]
