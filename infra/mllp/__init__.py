"""The MLLP front service: `python -m infra.mllp` in the container that Dockerfile builds and template.yaml runs."""
