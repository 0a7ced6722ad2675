# The otel-llm demo app: the package with its demo extra (openai, tiktoken), run as
# `otel-llm demo --otlp <collector>` by docker-compose.yml.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY otel_llm ./otel_llm
RUN pip install ".[demo]" && useradd --create-home --uid 10001 app
USER app
WORKDIR /home/app
ENTRYPOINT ["otel-llm"]
CMD ["demo", "--otlp", "http://otel-collector:4318"]
