# The one salesops image: the TrainJob's nodes run `torchrun --no-python salesops train run`,
# the InferenceService's predictor runs `salesops serve run`, the MLflow Deployment runs
# `mlflow server`. Build from the repository root:
#   docker build -t ghcr.io/salesops/salesops:0.1.0 .
# For GPU nodes, build with a CUDA wheel index: --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu130

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/salesops
ENV PATH=/opt/salesops/bin:$PATH
# PyTorch first, alone and exact, from the CPU index: pinned as in pyproject.toml and
# requirements.lock, without pulling several GB of CUDA libraries
RUN pip install --index-url "${TORCH_INDEX}" "torch==2.13.0"
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
COPY feature_repo ./feature_repo
# every other dependency at the version in requirements.lock; [ray]: the image is also the
# KubeRay head's and workers' (profile `ray`); [reference]: LightGBM, for a TrainJob of
# `train submit --reference lightgbm`
RUN pip install -c requirements.lock ".[ray,reference]" && pip check

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 salesops \
    && useradd --system --uid 10001 --gid salesops --home-dir /var/lib/salesops \
       --create-home --shell /usr/sbin/nologin salesops
COPY --from=build /opt/salesops /opt/salesops
ENV PATH=/opt/salesops/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SALESOPS_PROJECT__WORKSPACE=/var/lib/salesops/workspace
WORKDIR /var/lib/salesops
# numeric, so that `runAsNonRoot` can verify it
USER 10001:10001
EXPOSE 8080 5000
ENTRYPOINT ["salesops"]
CMD ["--help"]
