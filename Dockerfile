# kubeconfig-service container image.
#
#   docker build -t kubeconfig-service:0.1.0 .
#
# Stage 1 builds the release binary with the official Swift toolchain image
# (the same Swift release the project is developed with) through the one build
# script CI runs too. Stage 2 is a slim Debian bookworm with only what the
# binary loads at run time: libmicrohttpd (plus its own dependencies), libyaml and the
# CA bundle; the Swift runtime is linked in statically.

FROM swift:6.3.1-bookworm AS build

# libmicrohttpd and libyaml are pinned to their upstream versions (0.9.75 and
# 0.2.5, Debian bookworm's), the same ones the run stage installs; the Debian revision stays open so that
# security rebuilds (0.9.75-6+deb12uN) are taken.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        'libmicrohttpd-dev=0.9.75-*' \
        'libyaml-dev=0.2.5-*' \
        'pkg-config=1.8.1-*' \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Package.resolved is not part of the build context (see .dockerignore):
# dependencies resolve from Package.swift's version ranges.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY scripts ./scripts
RUN scripts/build-release.sh /out/bin


FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="kubeconfig-service" \
      org.opencontainers.image.description="Publishes the central site's kubeconfig into a ConfigMap for Cloudify Manager (ONAP DCAE)"

# DL3008 (pin apt versions) is ignored for this one instruction, on purpose:
# libmicrohttpd12 and libyaml-0-2 are still pinned to their upstream versions
# (the ones the build stage linked against), but ca-certificates is not pinned: on a Debian
# stable base its version moves with security updates (bookworm went from
# 20230311 to 20250419~deb12u2 through bookworm-security), and an exact pin
# would either hold back trust-store fixes or break the build when the pinned
# version leaves the archive.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates \
        'libmicrohttpd12=0.9.75-*' \
        'libyaml-0-2=0.2.5-*' \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /out/bin/kubeconfig-service /usr/local/bin/kubeconfig-service
# Fails the build here, not in the cluster, if a shared library is missing.
RUN kubeconfig-service --help > /dev/null

# Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["kubeconfig-service"]
CMD ["serve"]
