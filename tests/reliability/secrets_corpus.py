"""A corpus of secret shapes, and of look-alikes that are not secrets.

Every value is generated here from a seeded RNG with the alphabet and length of the real
thing (none is a real key). Where a vendor documents a shape (prefix, length, alphabet),
the comment says so; shapes without a prefix (Cohere, Mistral, Datadog, Twilio auth tokens,
AWS secret keys...) are only recognisable by the name they come with, so they appear here
the way applications hold them: an environment line, a header, a JSON field.

Each :class:`Secret` has the text it shows up in and its ``cores``: the random parts that
must never be exported, whole or as any 8-character slice.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

__all__ = ["CORPUS", "LOOKALIKES", "NORMAL_PROMPT", "Secret", "leaks"]

_RNG = random.Random(20261124)

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
BASE32 = string.ascii_uppercase + "234567"


def rand(alphabet: str, n: int) -> str:
    """``n`` characters of ``alphabet`` from the corpus' seeded RNG."""
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def b64url(data: dict[str, object]) -> str:
    """Unpadded base64url of compact JSON (a JWT part)."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Secret:
    """One secret shape: where it sits (``text``) and the parts that must never leak."""

    name: str
    category: str
    text: str
    cores: tuple[str, ...]

    def __post_init__(self) -> None:
        assert all(core in self.text and len(core) >= 8 for core in self.cores), self.name


def leaks(output: str, secrets: list[Secret] | None = None) -> list[str]:
    """Names of the secrets of which ``output`` holds a core or any 8-character slice."""
    found = []
    for secret in secrets if secrets is not None else CORPUS:
        for core in secret.cores:
            if any(core[i : i + 8] in output for i in range(len(core) - 7)):
                found.append(secret.name)
                break
    return found


def _s(name: str, category: str, text: str, *cores: str) -> Secret:
    return Secret(name, category, text, cores)


def _pem(kind: str, lines: int) -> tuple[str, tuple[str, ...]]:
    """A PEM private key block of ``lines`` base64 lines, and those lines."""
    body = tuple(rand(B64, 64) for _ in range(lines))
    label = f"{kind} PRIVATE KEY" if kind else "PRIVATE KEY"
    return f"-----BEGIN {label}-----\n" + "\n".join(body) + f"\n-----END {label}-----", body


def _corpus() -> list[Secret]:
    c: list[Secret] = []
    add = c.append
    llm, cloud, code, saas, pay, reg, data, obs, auth, url, pair = (
        "LLM provider",
        "cloud",
        "code hosting / CI",
        "messaging / SaaS",
        "payments",
        "package registry",
        "data platform",
        "observability",
        "generic auth",
        "URL / connection string",
        "key=value / JSON field",
    )
    # -- LLM providers ---------------------------------------------------------------------
    # OpenAI: legacy user keys sk- + 48 alphanumerics with "T3BlbkFJ" in the middle;
    # project keys sk-proj-, service-account keys sk-svcacct-, admin keys sk-admin- (longer,
    # base64url alphabet). Anthropic: sk-ant-api03- + 93 + "AA" (108 in all).
    a, b = rand(ALNUM, 20), rand(ALNUM, 20)
    add(_s("openai-legacy", llm, f"OPENAI_API_KEY=sk-{a}T3BlbkFJ{b}", a, b))
    a = rand(B64URL, 156)
    add(_s("openai-project", llm, f"client = OpenAI(api_key='sk-proj-{a}')", a))
    a = rand(B64URL, 120)
    add(_s("openai-service-account", llm, f"using sk-svcacct-{a} for the batch job", a))
    a = rand(B64URL, 64)
    add(_s("openai-admin", llm, f"admin key sk-admin-{a} rotated", a))
    a = rand(B64URL, 93)
    add(_s("anthropic", llm, f"x-api-key: sk-ant-api03-{a}AA", a))
    a = rand(B64URL, 93)
    add(_s("anthropic-admin", llm, f"ANTHROPIC_ADMIN_KEY=sk-ant-admin01-{a}AA", a))
    # Google AI / Gemini API keys: AIza + 35 of [0-9A-Za-z_-] (39 in all)
    a = rand(B64URL, 35)
    add(_s("google-api-key", llm, f"genai.configure(api_key=AIza{a})", a))
    # Groq gsk_ + 52 alphanumerics
    a = rand(ALNUM, 52)
    add(_s("groq", llm, f"Groq(api_key=gsk_{a})", a))
    # Hugging Face user access tokens hf_ + 34 letters
    a = rand(string.ascii_letters, 34)
    add(_s("huggingface", llm, f"huggingface-cli login --token hf_{a}", a))
    # Replicate r8_ + 37
    a = rand(ALNUM, 37)
    add(_s("replicate", llm, f"REPLICATE_API_TOKEN r8_{a}", a))
    # OpenRouter sk-or-v1- + 64 hex; DeepSeek sk- + 32 hex
    a = rand(HEX, 64)
    add(_s("openrouter", llm, f"Authorization header set to sk-or-v1-{a}", a))
    a = rand(HEX, 32)
    add(_s("deepseek", llm, f"deepseek key sk-{a}", a))
    # Perplexity pplx- + 48; xAI xai- + 80
    a = rand(ALNUM, 48)
    add(_s("perplexity", llm, f"key pplx-{a}", a))
    a = rand(ALNUM, 80)
    add(_s("xai", llm, f"XAI key xai-{a}", a))
    # No prefix: Cohere (40 alphanumerics), Mistral (32), Together (64 hex): by name only
    a = rand(ALNUM, 40)
    add(_s("cohere", llm, f"CO_API_KEY={a}", a))
    a = rand(ALNUM, 32)
    add(_s("mistral", llm, f'{{"mistral_api_key": "{a}"}}', a))
    a = rand(HEX, 64)
    add(_s("together", llm, f"TOGETHER_API_KEY: {a}", a))
    # Azure OpenAI: 32 hex, sent in the api-key header
    a = rand(HEX, 32)
    add(_s("azure-openai", llm, f"api-key: {a}", a))
    # LangSmith lsv2_pt_ + 32 hex + _ + 10 hex; Pinecone pcsk_
    a, b = rand(HEX, 32), rand(HEX, 10)
    add(_s("langsmith", llm, f"LANGSMITH_KEY lsv2_pt_{a}_{b}", a))
    a = rand(ALNUM, 5) + "_" + rand(ALNUM, 60)
    add(_s("pinecone", llm, f"Pinecone(api_key=pcsk_{a})", a[6:]))
    # -- cloud -----------------------------------------------------------------------------
    # AWS access key ids: AKIA (long-term) / ASIA (temporary) + 16 base32 (20 in all);
    # secret access keys: 40 of base64's alphabet, no prefix
    a, b = rand(BASE32, 16), rand(B64, 40)
    add(
        _s(
            "aws-key-pair",
            cloud,
            f"[default]\naws_access_key_id = AKIA{a}\naws_secret_access_key = {b}\n",
            a,
            b,
        )
    )
    a, b, t = rand(BASE32, 16), rand(B64, 40), rand(B64, 300)
    sts = {"AccessKeyId": f"ASIA{a}", "SecretAccessKey": b, "SessionToken": t}
    add(_s("aws-sts-credentials", cloud, json.dumps({"Credentials": sts}), a, b, t))
    a, b = rand(BASE32, 16), rand(HEX, 64)
    add(
        _s(
            "aws-presigned-url",
            cloud,
            "https://b.s3.amazonaws.com/f.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential=AKIA{a}%2F20261124%2Fus-east-1%2Fs3%2Faws4_request"
            f"&X-Amz-Signature={b}",
            a,
            b,
        )
    )
    # Azure storage: AccountKey = 88 base64 characters ending "=="
    a = rand(B64, 86)
    add(
        _s(
            "azure-storage-connection-string",
            cloud,
            "DefaultEndpointsProtocol=https;AccountName=chatlogs;"
            f"AccountKey={a}==;EndpointSuffix=core.windows.net",
            a,
        )
    )
    a = rand(B64, 43)
    add(
        _s(
            "azure-sas-token",
            cloud,
            "https://chatlogs.blob.core.windows.net/c/b.json?sv=2022-11-02&ss=b&srt=o&sp=r"
            f"&se=2026-12-01T00:00:00Z&sig={a.replace('+', '%2B').replace('/', '%2F')}%3D",
            a.replace("+", "%2B").replace("/", "%2F"),
        )
    )
    a = rand(B64, 43)
    add(
        _s(
            "azure-service-bus",
            cloud,
            "Endpoint=sb://bus.servicebus.windows.net/;SharedAccessKeyName=send;"
            f"SharedAccessKey={a}=",
            a,
        )
    )
    # Google Cloud: service-account JSON (PKCS#8 private key with escaped newlines),
    # OAuth access tokens ya29., OAuth client secrets GOCSPX- + 28
    pem, body = _pem("", 6)
    sa = {"type": "service_account", "project_id": "chat-prod", "private_key": pem + "\n"}
    add(_s("gcp-service-account-json", cloud, json.dumps(sa), *body))
    a = rand(B64URL, 150)
    add(_s("gcp-oauth-access-token", cloud, f"token ya29.{a} expires in 3599s", a))
    a = rand(B64URL, 28)
    add(_s("gcp-oauth-client-secret", cloud, f"client secret GOCSPX-{a}", a))
    # Heroku HRKU- tokens; DigitalOcean dop_v1_ + 64 hex (by name)
    a = rand(B64URL, 60)
    add(_s("heroku", cloud, f"heroku auth token HRKU-{a}", a))
    # -- code hosting / CI -----------------------------------------------------------------
    # GitHub: classic PAT ghp_, OAuth gho_, server-to-server ghs_, refresh ghr_: + 36
    # alphanumerics (40 in all); fine-grained github_pat_ + 22 + _ + 59
    for kind in ("ghp", "gho", "ghs", "ghr"):
        a = rand(ALNUM, 36)
        add(_s(f"github-{kind}", code, f"git push with {kind}_{a}", a))
    a, b = rand(ALNUM, 22), rand(ALNUM, 59)
    add(_s("github-fine-grained", code, f"GH_TOKEN github_pat_{a}_{b}", a, b))
    a = rand(ALNUM, 36)
    add(_s("github-in-clone-url", code, f"git clone https://ghp_{a}@github.com/o/r.git", a))
    # GitLab personal access tokens glpat- + 20; runner tokens glrt-
    a = rand(B64URL, 20)
    add(_s("gitlab-pat", code, f"PRIVATE-TOKEN: glpat-{a}", a))
    a = rand(B64URL, 24)
    add(_s("gitlab-runner", code, f"runner registered with glrt-{a}", a))
    # npm npm_ + 36; PyPI pypi-AgEIcHlwaS5vcmc + a base64url macaroon; Docker Hub dckr_pat_
    a = rand(ALNUM, 36)
    add(_s("npm", reg, f"//registry.npmjs.org/:_authToken=npm_{a}", a))
    a = rand(B64URL, 160)
    add(_s("pypi", reg, f"TWINE_PASSWORD=pypi-AgEIcHlwaS5vcmc{a}", a))
    a = rand(B64URL, 27)
    add(_s("docker-hub", reg, f"docker login -u ci -p dckr_pat_{a}", a))
    # -- messaging / SaaS ------------------------------------------------------------------
    # Slack bot/user tokens xoxb-/xoxp-<ids>-<24>; app tokens xapp-1-; incoming webhooks
    # hooks.slack.com/services/T.../B.../24
    a = f"{rand(string.digits, 12)}-{rand(string.digits, 13)}-{rand(ALNUM, 24)}"
    add(_s("slack-bot", saas, f"SLACK_BOT_TOKEN=xoxb-{a}", a[-24:], a[:12]))
    a = f"{rand(string.digits, 12)}-{rand(string.digits, 13)}-{rand(ALNUM, 32)}"
    add(_s("slack-user", saas, f"slack user token xoxp-{a}", a[-32:]))
    a = f"{rand(UPPER_DIGITS, 11)}-{rand(string.digits, 13)}-{rand(HEX, 64)}"
    add(_s("slack-app", saas, f"socket mode with xapp-1-{a}", a[-64:]))
    a = f"T{rand(UPPER_DIGITS, 10)}/B{rand(UPPER_DIGITS, 10)}/{rand(ALNUM, 24)}"
    add(_s("slack-webhook", saas, f"posting to https://hooks.slack.com/services/{a}", a[-24:]))
    a, b = rand(string.digits, 18), rand(B64URL, 68)
    add(_s("discord-webhook", saas, f"https://discord.com/api/webhooks/{a}/{b}", b))
    # SendGrid SG. + 22 + . + 43 (69 in all); Mailgun key- + 32 hex
    a, b = rand(B64URL, 22), rand(B64URL, 43)
    add(_s("sendgrid", saas, f"SENDGRID key SG.{a}.{b}", a, b))
    a = rand(HEX, 32)
    add(_s("mailgun", saas, f"mailgun auth api:key-{a}", a))
    # Twilio API key sids SK + 32 hex; auth tokens 32 hex (by name)
    a = rand(HEX, 32)
    add(_s("twilio-api-key", saas, f"twilio key SK{a}", a))
    a = rand(HEX, 32)
    add(_s("twilio-auth-token", saas, f"TWILIO_AUTH_TOKEN={a}", a))
    # Telegram bot tokens <bot id>:AA + 33
    a = rand(B64URL, 33)
    add(_s("telegram-bot", saas, f"https://api.telegram.org/bot7012345678:AA{a}/getMe", a))
    # Notion ntn_; Linear lin_api_ + 40; Atlassian API tokens ATATT3...
    a = rand(ALNUM, 46)
    add(_s("notion", saas, f"NOTION_TOKEN ntn_{a}", a))
    a = rand(ALNUM, 40)
    add(_s("linear", saas, f"linear key lin_api_{a}", a))
    a = rand(B64URL, 180)
    add(_s("atlassian", saas, f"jira token ATATT3xFfGF0{a}", a))
    # Shopify admin access tokens shpat_ + 32 hex
    a = rand(HEX, 32)
    add(_s("shopify", saas, f"X-Shopify-Access-Token: shpat_{a}", a))
    # -- payments --------------------------------------------------------------------------
    # Stripe secret sk_live_ / restricted rk_live_ keys + 24..99 alphanumerics; webhook
    # signing secrets whsec_
    a = rand(ALNUM, 99)
    add(_s("stripe-secret", pay, f"stripe.api_key = sk_live_{a}", a))
    a = rand(ALNUM, 24)
    add(_s("stripe-restricted", pay, f"restricted key rk_live_{a}", a))
    a = rand(ALNUM, 32)
    add(_s("stripe-webhook", pay, f"endpoint secret whsec_{a}", a))
    # Square access tokens EAAA + 60
    a = rand(B64URL, 60)
    add(_s("square", pay, f"square token EAAA{a}", a))
    # -- data platforms --------------------------------------------------------------------
    # Databricks dapi + 32 hex; Postman PMAK-24 hex-34 hex
    a = rand(HEX, 32)
    add(_s("databricks", data, f"DATABRICKS_TOKEN dapi{a}", a))
    a, b = rand(HEX, 24), rand(HEX, 34)
    add(_s("postman", data, f"postman PMAK-{a}-{b}", a, b))
    # -- observability ---------------------------------------------------------------------
    # Datadog API keys (32 hex) and application keys (40 hex), by name
    a = rand(HEX, 32)
    add(_s("datadog-api-key", obs, f"DD-API-KEY: {a}", a))
    a = rand(HEX, 40)
    add(_s("datadog-app-key", obs, f"DD_APPLICATION_KEY={a}", a))
    # New Relic user keys NRAK- + 27; license keys 36 + "NRAL" (40 in all)
    a = rand(UPPER_DIGITS, 27)
    add(_s("newrelic-user-key", obs, f"newrelic NRAK-{a}", a))
    a = rand(HEX, 36)
    add(_s("newrelic-license-key", obs, f"license {a}NRAL", a))
    # Sentry DSNs: https://<32 hex public key>@o<org>.ingest.sentry.io/<project>; user
    # auth tokens sntryu_ + 64 hex
    a = rand(HEX, 32)
    add(_s("sentry-dsn", obs, f"SENTRY_DSN=https://{a}@o450000.ingest.us.sentry.io/4500001", a))
    a = rand(HEX, 64)
    add(_s("sentry-user-token", obs, f"sentry-cli token sntryu_{a}", a))
    # -- generic auth ----------------------------------------------------------------------
    header = b64url({"alg": "RS256", "typ": "JWT", "kid": rand(HEX, 8)})
    claims = b64url({"sub": rand(HEX, 12), "iat": 1764000000, "scope": "chat:write"})
    signature = rand(B64URL, 342)
    add(_s("jwt", auth, f"id_token={header}.{claims}.{signature}", claims[8:], signature))
    a = rand(B64URL, 40)
    add(_s("bearer-header", auth, f"Authorization: Bearer {a}", a))
    a = base64.b64encode(f"svc-user:{rand(ALNUM, 20)}".encode()).decode()
    add(_s("basic-header", auth, f"authorization: Basic {a}", a[12:]))
    a = rand(B64URL, 48)
    add(_s("bearer-in-prose", auth, f"retry the call with bearer {a} please", a))
    pem, body = _pem("RSA", 12)
    add(_s("pem-rsa", auth, pem, *body))
    pem, body = _pem("EC", 3)
    add(_s("pem-ec", auth, pem, *body))
    pem, body = _pem("OPENSSH", 6)
    add(_s("pem-openssh", auth, pem, *body))
    pem, body = _pem("ENCRYPTED", 8)
    add(_s("pem-encrypted-pkcs8", auth, pem, *body))
    pem, body = _pem("RSA", 12)
    cut = pem[: len(pem) // 2]  # an attribute-length limit cut the END line off
    add(_s("pem-truncated", auth, cut, *body[:5]))
    a = rand(string.ascii_uppercase + string.digits, 58)
    add(_s("age-secret-key", auth, f"AGE-SECRET-KEY-1{a}", a))
    # -- URLs and connection strings -------------------------------------------------------
    a = rand(ALNUM + "!*~", 18)
    add(_s("postgres-url", url, f"postgres://chat_app:{a}@db.internal:5432/chat", a))
    a = rand(ALNUM, 24)
    add(_s("redis-url-no-user", url, f"REDIS_URL=redis://:{a}@cache:6379/0", a))
    a = rand(ALNUM, 20)
    add(_s("amqp-url", url, f"broker amqp://worker:{a}@rabbit/vhost", a))
    a = rand(ALNUM, 22)
    add(
        _s(
            "mongodb-srv-url",
            url,
            f"mongodb+srv://admin:{a}@cluster0.ab1cd.mongodb.net/?retryWrites=true",
            a,
        )
    )
    a = rand(ALNUM, 16)
    add(_s("https-userinfo", url, f"base_url=https://proxy-user:{a}@llm-proxy.internal/v1", a))
    a = rand(ALNUM, 32)
    add(_s("url-query-api-key", url, f"GET https://api.example.com/v1/search?q=x&api_key={a}", a))
    a = rand(ALNUM, 18)
    add(
        _s(
            "sqlserver-connection-string",
            url,
            f"Server=tcp:sql.internal,1433;User ID=sa;Password={a};Encrypt=True",
            a,
        )
    )
    a = rand(ALNUM, 20)
    add(_s("jdbc-url", url, f"jdbc:mysql://db:3306/chat?user=app&password={a}", a))
    # -- key=value and JSON fields ---------------------------------------------------------
    a = rand(ALNUM + "#%^", 16)
    add(_s("password-pair", pair, f"login failed for ann password={a} retrying", a))
    a = rand(ALNUM, 30)
    add(_s("client-secret-json", pair, f'{{"client_id": "web", "client_secret": "{a}"}}', a))
    a = rand(ALNUM, 24)
    add(_s("escaped-json-secret", pair, json.dumps({"config": json.dumps({"secret": a})}), a))
    a = rand(ALNUM, 28)
    add(_s("yaml-token", pair, f"auth:\n  token: {a}\n  retries: 3", a))
    a = rand(ALNUM, 26)
    add(_s("camel-case-access-token", pair, f'{{"accessToken":"{a}","expiresIn":3600}}', a))
    a = rand(ALNUM, 20)
    add(_s("query-passphrase", pair, f"/unlock?passphrase={a}&next=/home", a))
    a = rand(HEX, 64)
    add(_s("session-id-cookie-pair", pair, f"session_id={a}; Path=/; HttpOnly", a))
    return c


CORPUS: list[Secret] = _corpus()
"""Every secret shape, by name (names are unique)."""

LOOKALIKES: list[str] = [
    "order 7f3c2a91-5b6e-4d0a-9c8e-1a2b3c4d5e6f shipped",  # UUID
    "fixed in commit 9d1b0673f0e1c2a4b5d6e7f8091a2b3c4d5e6f70 (9d1b067)",  # git SHAs
    "sha256:2f1d6e0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3a29181f0e9d8c7b6a5f4e3d2c1",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
    "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoH",
    "model gpt-4o-2024-08-06 then claude-3-5-sonnet-20241022 and claude-sonnet-4-5-20250929",
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo, gemini-1.5-pro-002, text-embedding-3-large",
    "sk-learn-compatible-estimators and scikit-learn pipelines",
    "the tokenizer counted 512 tokens for max_tokens=512 and token_count: 42",
    "X-RateLimit-Remaining-Tokens: 1999",
    "bearer bonds and basic income are topics; Basic Authentication and Bearer Tokens",
    "see https://example.com/docs?page=2&sort=asc or mail ann@example.com",
    "connect postgres://db.internal:5432/chat and git@github.com:org/repo.git",
    "keys live in /home/ann/.ssh/id_ed25519.pub and otel_llm/_redact.py",
    "password reset email sent; your password must be 12+ characters",
    "the key is to keep prompts short; a key-value store; primary key: id",
    "the design: minimal, the signature verified, assign: ann",
    "AKIA is a prefix, and so are eyJ, ghp_, hf_, gsk_ and sk-",
    "arn:aws:iam::123456789012:role/ChatBackend at 2024-08-06T12:34:56.789Z",
    "pod web-7d9f8b6c5d-x2x4z pulled ghcr.io/org/web@sha256:abcdef0123456789abcdef",
    "hf_transfer enabled; npm_config_cache=/tmp/npm; secret_santa_2024_list.xlsx",
    "semver 1.41.0, SKU-12345-ABCD, ticket PROJ-4711, channel C0123ABCD",
]
"""Text that looks like secrets in places but has none: it must pass through unchanged."""

NORMAL_PROMPT = json.dumps(
    [
        {
            "role": "system",
            "content": "You are a helpful assistant for an online bookshop. Answer briefly "
            "and cite the order number when you refer to an order.",
        },
        {
            "role": "user",
            "content": "Hi! I ordered 'The Pragmatic Programmer' and 'Designing Data-Intensive "
            "Applications' on 2024-08-06 (order 7f3c2a91-5b6e-4d0a-9c8e-1a2b3c4d5e6f) but only "
            "one arrived. Tracking says delivered. Can you check what happened and whether the "
            "second book ships separately? Thanks, Ann",
        },
        {
            "role": "assistant",
            "content": "Thanks Ann. Order 7f3c2a91 was split into two parcels; the second left "
            "our warehouse yesterday and should arrive within 2 business days.",
        },
        {
            "role": "user",
            "content": "Great, and can I change the delivery address for the second parcel to "
            "my office at 221B Baker Street, London?",
        },
    ]
)
"""A captured chat prompt (``gen_ai.input.messages``) without secrets, for cost figures."""
