"""Every telemetry name otel-llm emits: spans, attributes, metrics, units and buckets.

GenAI names follow the OpenTelemetry semantic conventions v1.41. Names the released
spec does not define carry the ``otel_llm.`` prefix. A rename is a change to this file
only; ``docs/telemetry.md`` documents each name (a test keeps the two in step).
"""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------------------
# GenAI attributes (semconv v1.41)
# ---------------------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
"""The operation: chat, text_completion, embeddings, generate_content, execute_tool."""
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
"""The model provider (openai, anthropic, ...); replaces the deprecated gen_ai.system."""
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
"""The model the caller asked for."""
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
"""Maximum number of tokens the model may generate."""
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
"""Sampling temperature."""
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
"""Nucleus sampling parameter."""
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
"""Top-k sampling parameter."""
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
"""Frequency penalty."""
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
"""Presence penalty."""
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
"""Stop sequences."""
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
"""Seed for reproducible sampling."""
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
"""Number of candidate completions requested (n); omitted when 1."""
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
"""Embedding encoding formats requested."""
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
"""True when the response is streamed."""
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
"""Provider's id of the completion."""
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
"""The model that actually served the request (often a dated snapshot)."""
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
"""Why generation stopped, one entry per choice."""
RESPONSE_TOOL_CALL_NAMES: Final = "otel_llm.response.tool_call.names"
"""Tools the model asked to call, in response order (names are not content: always set)."""
RESPONSE_TOOL_CALL_IDS: Final = "otel_llm.response.tool_call.ids"
"""Ids of those tool calls, aligned with the names (match ``gen_ai.tool.call.id``)."""
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
"""Seconds from the request to the first streamed chunk."""
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
"""Prompt tokens billed."""
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
"""Completion tokens billed."""
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
"""Input tokens served from the provider's prompt cache."""
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
"""Input tokens written to the provider's prompt cache."""
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
"""Output tokens spent on hidden reasoning."""
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
"""Metric attribute of gen_ai.client.token.usage: input or output."""
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
"""Requested output type: text, json, image, speech."""
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
"""Conversation (session/thread) id; spans and logs only, never metrics."""
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
"""Name of a tool the model called."""
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
"""Id of one tool call."""
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
"""Prompt messages as JSON; only with content capture on."""
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
"""Completion messages as JSON; only with content capture on."""
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
"""Dimensions of returned embeddings."""

# General attributes
SERVER_ADDRESS: Final = "server.address"
"""Host of the model endpoint."""
SERVER_PORT: Final = "server.port"
"""Port of the model endpoint."""
ERROR_FINGERPRINT: Final = "otel_llm.error.fingerprint"
"""Stable hash of error type, operation and normalised message (events and logs only)."""
ERROR_TYPE: Final = "error.type"
"""Class of error: exception type name, HTTP status, ``cancelled`` or ``abandoned``."""
EXCEPTION_MESSAGE: Final = "exception.message"
"""Exception message on an exception event."""

# Well-known values
OP_CHAT: Final = "chat"
"""gen_ai.operation.name for chat completions."""
OP_TEXT_COMPLETION: Final = "text_completion"
"""gen_ai.operation.name for legacy completions."""
OP_EMBEDDINGS: Final = "embeddings"
"""gen_ai.operation.name for embeddings."""
OP_GENERATE_CONTENT: Final = "generate_content"
"""gen_ai.operation.name for multimodal/responses-style generation."""
OP_EXECUTE_TOOL: Final = "execute_tool"
"""gen_ai.operation.name for a tool execution."""
TOKEN_TYPE_INPUT: Final = "input"
"""gen_ai.token.type for prompt tokens."""
TOKEN_TYPE_OUTPUT: Final = "output"
"""gen_ai.token.type for completion tokens."""
ERROR_CANCELLED: Final = "cancelled"
"""error.type of a stream whose task was cancelled or that was closed early."""
ERROR_ABANDONED: Final = "abandoned"
"""error.type of a stream that was garbage-collected before it finished."""
FINISH_REASON_ERROR: Final = "error"
"""finish reason recorded for an aborted stream."""
ERROR_INCOMPLETE_STREAM: Final = "incomplete_stream"
"""error.type of a provider stream that ended without a finish reason (a truncated body)."""

# ---------------------------------------------------------------------------
# otel-llm attributes (no name in the released spec)
# ---------------------------------------------------------------------------
STREAM_CHUNKS: Final = "otel_llm.stream.chunks"
"""Number of chunks a stream delivered."""
STREAM_TOKENS_PER_SECOND: Final = "otel_llm.stream.tokens_per_second"
"""Output tokens per second after the first chunk."""
TOKENIZER_NAME: Final = "otel_llm.tokenizer.name"
"""Tokenizer name (cl100k_base, gpt2, ...)."""
TOKENIZER_OPERATION: Final = "otel_llm.tokenizer.operation"
"""encode, decode, count, truncate, chunk or apply_chat_template."""
TOKENIZER_INPUT_CHARS: Final = "otel_llm.tokenizer.input.chars"
"""Characters handed to the tokenizer."""
TOKENIZER_TOKENS: Final = "otel_llm.tokenizer.tokens"
"""Tokens produced (or consumed, for decode)."""
TOKENIZER_MAX_TOKENS: Final = "otel_llm.tokenizer.max_tokens"
"""Token budget of a truncate/chunk call."""
TOKENIZER_TRUNCATED: Final = "otel_llm.tokenizer.truncated"
"""True when input was cut: data loss."""
TOKENIZER_ORIGINAL_TOKENS: Final = "otel_llm.tokenizer.original_tokens"
"""Token count before truncation."""
TOKENIZER_CHUNKS: Final = "otel_llm.tokenizer.chunks"
"""Number of chunks a chunk operation produced."""
TOKENIZER_ESTIMATED: Final = "otel_llm.tokenizer.estimated"
"""True when a heuristic replaced the real tokenizer."""
ROUTE_NAME: Final = "otel_llm.route.name"
"""Router name."""
ROUTE_CANDIDATES: Final = "otel_llm.route.candidates"
"""Models the router could choose from."""
ROUTE_REQUESTED_MODEL: Final = "otel_llm.route.requested_model"
"""Model (or model group) the caller asked the router for."""
ROUTE_SELECTED_MODEL: Final = "otel_llm.route.selected_model"
"""Model the router finally served."""
ROUTE_REASON: Final = "otel_llm.route.reason"
"""Why the selected model was chosen."""
ROUTE_ATTEMPTS: Final = "otel_llm.route.attempts"
"""Number of generation attempts the route made."""
ROUTE_FALLBACKS: Final = "otel_llm.route.fallbacks"
"""Number of fallbacks the route took."""
ROUTE_FALLBACK_FROM: Final = "otel_llm.route.fallback.from"
"""Fallback event: model given up."""
ROUTE_FALLBACK_TO: Final = "otel_llm.route.fallback.to"
"""Fallback event: model tried next."""
ROUTE_FALLBACK_REASON: Final = "otel_llm.route.fallback.reason"
"""Fallback event: why (rate_limited, timeout, error, ...)."""
CACHE_NAME: Final = "otel_llm.cache.name"
"""Prompt/response cache name."""
CACHE_HIT: Final = "otel_llm.cache.hit"
"""Span attribute: true on a hit."""
CACHE_RESULT: Final = "otel_llm.cache.result"
"""Metric attribute: hit or miss."""
CACHE_MISS_REASON: Final = "otel_llm.cache.miss_reason"
"""Why a lookup missed (expired, evicted, ...): a short, low-cardinality word."""
INSTRUMENTATION_COMPONENT: Final = "otel_llm.component"
"""Self-observability metric attribute: which part of otel-llm failed."""

# ---------------------------------------------------------------------------
# Span names and events
# ---------------------------------------------------------------------------
SPAN_TOKENIZER_PREFIX: Final = "tokenizer"
"""Tokenizer spans are named ``tokenizer.{operation}``."""
SPAN_ROUTE_PREFIX: Final = "route"
"""Route spans are named ``route {router}``."""
SPAN_CACHE_PREFIX: Final = "cache.lookup"
"""Cache spans are named ``cache.lookup {cache}``."""
EVENT_FALLBACK: Final = "otel_llm.route.fallback"
"""Span event recorded on the route span for each fallback."""

TOKENIZER_OPERATIONS: Final = frozenset(
    {"encode", "decode", "count", "truncate", "chunk", "apply_chat_template"}
)
"""Allowed tokenizer operation names."""

# ---------------------------------------------------------------------------
# Metrics: names, units and explicit bucket boundaries
# ---------------------------------------------------------------------------
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
"""Histogram (s): duration of a GenAI client operation."""
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
"""Histogram ({token}): tokens used, by gen_ai.token.type."""
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
"""Histogram (s): request start to first streamed chunk."""
METRIC_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
"""Histogram (s): gap between consecutive streamed chunks."""
METRIC_STREAM_ACTIVE: Final = "otel_llm.stream.active"
"""UpDownCounter ({stream}): streams currently open."""
METRIC_STREAM_TOKENS_PER_SECOND: Final = "otel_llm.stream.tokens_per_second"
"""Histogram ({token}/s): output rate of finished streams."""
METRIC_TOKENIZER_DURATION: Final = "otel_llm.tokenizer.duration"
"""Histogram (s): tokenizer call duration."""
METRIC_TOKENIZER_TOKENS: Final = "otel_llm.tokenizer.tokens"
"""Histogram ({token}): tokens per tokenizer call."""
METRIC_TOKENIZER_INPUT_CHARS: Final = "otel_llm.tokenizer.input.chars"
"""Histogram ({char}): input characters per tokenizer call."""
METRIC_TOKENIZER_CHUNKS: Final = "otel_llm.tokenizer.chunks"
"""Histogram ({chunk}): chunks per chunk operation."""
METRIC_TOKENIZER_TRUNCATIONS: Final = "otel_llm.tokenizer.truncations"
"""Counter ({truncation}): inputs cut to fit a budget."""
METRIC_TOKENIZER_ESTIMATES: Final = "otel_llm.tokenizer.estimates"
"""Counter ({estimate}): token counts estimated by a heuristic."""
METRIC_TOKENIZER_BUDGET_OVERFLOWS: Final = "otel_llm.tokenizer.budget_overflows"
"""Counter ({overflow}): inputs that exceeded max_tokens."""
METRIC_ROUTE_DURATION: Final = "otel_llm.route.duration"
"""Histogram (s): whole routed request including fallbacks."""
METRIC_ROUTE_SELECTIONS: Final = "otel_llm.route.selections"
"""Counter ({selection}): models selected, by model and reason."""
METRIC_ROUTE_FALLBACKS: Final = "otel_llm.route.fallbacks"
"""Counter ({fallback}): fallbacks taken, by from/to model and reason."""
METRIC_CACHE_LOOKUPS: Final = "otel_llm.cache.lookups"
"""Counter ({lookup}): cache lookups by otel_llm.cache.result."""
METRIC_INSTRUMENTATION_ERRORS: Final = "otel_llm.instrumentation.errors"
"""Counter ({error}): telemetry failures swallowed so the app kept running."""
METRIC_STREAMS_FINALIZED_BY_GC: Final = "otel_llm.stream.gc_finalized"
"""Counter ({stream}): abandoned streams closed by the garbage collector."""

UNIT_SECONDS: Final = "s"
"""Unit of durations."""
UNIT_TOKENS: Final = "{token}"
"""Unit of token counts."""

BUCKETS_OPERATION_DURATION: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
"""Semconv buckets for gen_ai.client.operation.duration."""
BUCKETS_TOKEN_USAGE: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
"""Semconv buckets for gen_ai.client.token.usage."""
BUCKETS_TIME_TO_FIRST_CHUNK: Final = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""Semconv buckets for gen_ai.client.operation.time_to_first_chunk."""
BUCKETS_TIME_PER_OUTPUT_CHUNK: Final = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
)  # fmt: skip
"""Semconv buckets for gen_ai.client.operation.time_per_output_chunk."""
BUCKETS_FAST_DURATION: Final = (
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
"""Buckets for in-process work (tokenizer, route decision, cache): 1 µs to 1 s."""
BUCKETS_TOKENS_PER_SECOND: Final = (1, 5, 10, 20, 40, 60, 80, 100, 150, 200, 300, 500, 1000)
"""Buckets for otel_llm.stream.tokens_per_second."""
BUCKETS_COUNT: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
)  # fmt: skip
"""Buckets for token, character and chunk counts of tokenizer calls."""

# ---------------------------------------------------------------------------
# Environment variables
# ---------------------------------------------------------------------------
ENV_CAPTURE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""NO_CONTENT | SPAN_ONLY | EVENT_ONLY | SPAN_AND_EVENT (true/false accepted)."""
ENV_LLM_PROMETHEUS_HOST: Final = "OTEL_LLM_PROMETHEUS_HOST"
"""Bind address of the Prometheus pull endpoint (default 127.0.0.1)."""
ENV_LLM_PROMETHEUS_PORT: Final = "OTEL_LLM_PROMETHEUS_PORT"
"""Port of the Prometheus pull endpoint (default 9464)."""
ENV_LLM_CONSOLE_COLOR: Final = "OTEL_LLM_CONSOLE_COLOR"
"""auto | always | never: colour in the console trace tree."""
ENV_LLM_METRIC_CARDINALITY_LIMIT: Final = "OTEL_LLM_METRIC_CARDINALITY_LIMIT"
"""Series cap per instrument; extra series go to one overflow series."""
ENV_LLM_INSTRUMENT: Final = "OTEL_LLM_INSTRUMENT"
"""Comma list of libraries configure() instruments, ``all`` or ``none``."""

# --- console helper additions ---
COST_USD: Final = "otel_llm.cost.usd"
"""Span attribute: estimated cost of the operation in US dollars."""

# ---------------------------------------------------------------------------
# Production services: tools, request attributes, stream outcomes
# ---------------------------------------------------------------------------
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
"""Tool type: function, extension, datastore."""
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
"""Tool call arguments as JSON; only with content capture on."""
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
"""Tool call result as JSON; only with content capture on."""
USER_ID: Final = "user.id"
"""End-user id; spans and logs only, never metrics."""
FEATURE: Final = "otel_llm.feature"
"""Product feature a request serves; the one request attribute allowed on metrics."""
SPAN_TOOL_PREFIX: Final = "execute_tool"
"""Tool spans are named ``execute_tool {gen_ai.tool.name}``."""
STREAM_OUTCOME: Final = "otel_llm.stream.outcome"
"""Metric attribute: completed, error, cancelled or abandoned."""
METRIC_TOOL_DURATION: Final = "otel_llm.tool.duration"
"""Histogram (s): tool execution duration by tool name and error.type."""
METRIC_STREAM_OUTCOMES: Final = "otel_llm.stream.outcomes"
"""Counter ({stream}): finished streams by provider, model and outcome."""

# --- cost helper ---
ENV_LLM_PRICING_FILE: Final = "OTEL_LLM_PRICING_FILE"
"""Path of a JSON pricing table that extends or overrides the packaged one."""
METRIC_COST: Final = "otel_llm.cost"
"""Counter ({USD}): estimated spend by provider, resolved model and gen_ai.token.type."""
UNIT_USD: Final = "{USD}"
"""Unit of money amounts (US dollars)."""
TOKEN_TYPE_CACHE_READ: Final = "cache_read"
"""gen_ai.token.type on otel_llm.cost for input tokens read from the provider's cache."""
TOKEN_TYPE_CACHE_CREATION: Final = "cache_creation"
"""gen_ai.token.type on otel_llm.cost for input tokens written to the provider's cache."""
TOKEN_TYPE_REASONING: Final = "reasoning"
"""gen_ai.token.type on otel_llm.cost for reasoning (thinking) output tokens."""
BUDGET_NAME: Final = "otel_llm.budget.name"
"""Budget name: the only per-budget metric attribute (never a user or tenant id)."""
BUDGET_MODE: Final = "otel_llm.budget.mode"
"""soft | hard."""
BUDGET_LIMIT: Final = "otel_llm.budget.limit"
"""Which limit a budget event is about: usd | tokens."""
BUDGET_OUTCOME: Final = "otel_llm.budget.outcome"
"""exceeded (a soft budget ran over) | blocked (a hard budget refused a generation)."""
BUDGET_USAGE: Final = "otel_llm.budget.usage"
"""Span-event attribute: usage of the window when the budget was exceeded."""
BUDGET_MAX: Final = "otel_llm.budget.max"
"""Span-event attribute: the limit that was exceeded."""
EVENT_BUDGET_EXCEEDED: Final = "otel_llm.budget.exceeded"
"""Span event: a budget ran over (soft) or refused a generation (hard)."""
METRIC_BUDGET_EXCEEDED: Final = "otel_llm.budget.exceeded"
"""Counter ({generation}): generations that ran over a soft budget or were blocked by a hard one."""
METRIC_BUDGET_USAGE_USD: Final = "otel_llm.budget.usage.usd"
"""Gauge ({USD}): spend in the budget's current window (highest scope value)."""
METRIC_BUDGET_REMAINING_USD: Final = "otel_llm.budget.remaining.usd"
"""Gauge ({USD}): spend left in the current window (lowest scope value), not below 0."""
METRIC_BUDGET_LIMIT_USD: Final = "otel_llm.budget.limit.usd"
"""Gauge ({USD}): the budget's max_usd."""
METRIC_BUDGET_USAGE_TOKENS: Final = "otel_llm.budget.usage.tokens"
"""Gauge ({token}): tokens used in the current window (highest scope value)."""
METRIC_BUDGET_REMAINING_TOKENS: Final = "otel_llm.budget.remaining.tokens"
"""Gauge ({token}): tokens left in the current window (lowest scope value), not below 0."""
METRIC_BUDGET_LIMIT_TOKENS: Final = "otel_llm.budget.limit.tokens"
"""Gauge ({token}): the budget's max_tokens."""
BUDGET_SCOPE: Final = "otel_llm.budget.scope"
"""Span-event attribute: the scope key and value that ran over (spans only, never metrics)."""

# ---------------------------------------------------------------------------
# Logging and redaction
# ---------------------------------------------------------------------------
METRIC_LOGS_DROPPED: Final = "otel_llm.logs.dropped"
"""Counter ({record}): log events dropped by sampling or the rate cap, by reason."""
ENV_LLM_LOGGING: Final = "OTEL_LLM_LOGGING"
"""true|false: let configure() set up structlog + stdlib logging (default true)."""
ENV_LLM_LOG_FORMAT: Final = "OTEL_LLM_LOG_FORMAT"
"""json|console: rendering of log lines (default console on a TTY, else json)."""
ENV_LLM_LOG_LEVEL: Final = "OTEL_LLM_LOG_LEVEL"
"""Minimum level handled: DEBUG, INFO, WARNING, ERROR (default INFO)."""
ENV_LLM_LOG_SAMPLE_RATIO: Final = "OTEL_LLM_LOG_SAMPLE_RATIO"
"""Share of traces whose below-WARNING logs are kept, 0 to 1 (default 1)."""
ENV_LLM_LOG_RATE_LIMIT: Final = "OTEL_LLM_LOG_RATE_LIMIT"
"""Maximum below-WARNING log events per second (default unlimited)."""
ENV_LLM_REDACT_PATTERNS: Final = "OTEL_LLM_REDACT_PATTERNS"
"""Extra regexes to redact, separated by newlines or ``;;``."""
ENV_LLM_REDACT_FIELDS: Final = "OTEL_LLM_REDACT_FIELDS"
"""Extra field names whose values are redacted whole, comma-separated."""
LOGS_DROP_REASON: Final = "otel_llm.logs.drop.reason"
"""Attribute of otel_llm.logs.dropped: ``sampled`` (per-trace ratio) or ``rate_limited``."""

# ---------------------------------------------------------------------------
# Routing savings
# ---------------------------------------------------------------------------
COST_SAVINGS_USD: Final = "otel_llm.cost.savings.usd"
"""Route span: cost at the requested model minus the actual cost (USD, may be negative)."""
COST_SAVINGS_ESTIMATED: Final = "otel_llm.cost.savings.estimated"
"""Route span: true, the savings are an estimate (same usage priced at another model)."""
METRIC_COST_SAVINGS: Final = "otel_llm.cost.savings"
"""UpDownCounter ({USD}): routing savings by route, requested and selected model."""

# ---------------------------------------------------------------------------
# Metric dimensions, baggage, process health, cache size
# ---------------------------------------------------------------------------
ENV_LLM_METRIC_DIMENSIONS: Final = "OTEL_LLM_METRIC_DIMENSIONS"
"""Comma list of attributes() keys added to the cost, token and duration metrics."""
ENV_LLM_BAGGAGE: Final = "OTEL_LLM_BAGGAGE"
"""true|false: put attributes() values into W3C baggage (default false)."""
ENV_LLM_PROCESS_METRICS: Final = "OTEL_LLM_PROCESS_METRICS"
"""true|false: record process CPU/memory metrics (needs the ``process`` extra)."""
METRIC_CACHE_SIZE: Final = "otel_llm.cache.size"
"""Observable gauge ({entry}): entries in a registered cache, by otel_llm.cache.name."""
METRIC_CACHE_EVICTIONS: Final = "otel_llm.cache.evictions"
"""Counter ({entry}): entries a registered cache evicted, by otel_llm.cache.name."""
UNIT_ENTRIES: Final = "{entry}"
"""Unit of cache entry counts."""

# ---------------------------------------------------------------------------
# Export health (self-observability)
# ---------------------------------------------------------------------------
METRIC_EXPORT_DROPPED: Final = "otel_llm.export.dropped"
"""Counter ({item}): spans, log records (each) and metric exports (one per export) lost on
the way out, by otel_llm.signal and error.type."""
EXPORT_SIGNAL: Final = "otel_llm.signal"
"""Attribute of otel_llm.export.dropped: traces | metrics | logs."""
ERROR_QUEUE_FULL: Final = "queue_full"
"""error.type of a span or log record pushed out of a full batch-processor queue."""
ERROR_EXPORT_FAILED: Final = "export_failed"
"""error.type of items in an export the exporter reported as failed."""
ERROR_TIMEOUT: Final = "timeout"
"""error.type of items in an export that timed out (the exporter's timeout or a gRPC deadline)."""
METRIC_OVERFLOW: Final = "otel.metric.overflow"
"""Attribute (true) the SDK puts on the one series that collects attribute sets past the
cardinality limit; its presence means a metric lost its breakdown."""

# ---------------------------------------------------------------------------
# Web requests (HTTP semconv, stable; W3C Trace Context Level 2)
# ---------------------------------------------------------------------------
HTTP_ROUTE: Final = "http.route"
"""The matched route template of an HTTP server request (``/chat/{id}``), never the raw path."""
METRIC_HTTP_SERVER_REQUEST_DURATION: Final = "http.server.request.duration"
"""Duration of HTTP server requests (s), recorded by the official ASGI/WSGI instrumentations."""
ENV_SEMCONV_STABILITY_OPT_IN: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
"""Standard opt-in list; otel-llm adds ``http`` so web spans and metrics use the stable names."""
TRACERESPONSE_HEADER: Final = "traceresponse"
"""W3C response header ``00-<trace-id>-<span-id>-<flags>`` naming the server span's trace."""
