# syntax=docker/dockerfile:1
# Two stages on the same slim Python base: the builder installs the package into a virtualenv
# (wheels only: no compiler is needed or shipped), the final stage copies that virtualenv and
# runs as a numeric non-root user, so Kubernetes can verify runAsNonRoot.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ONLY_BINARY=:all:
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
RUN /opt/venv/bin/pip install --upgrade pip setuptools wheel \
 && /opt/venv/bin/pip install . \
 && /opt/venv/bin/python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="zerossl-issuer" \
      org.opencontainers.image.description="cert-manager external issuer for ZeroSSL" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
USER 65532:65532
EXPOSE 8080 8081 8089
ENTRYPOINT ["zerossl-issuer"]
