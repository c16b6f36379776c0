"""The one redaction function (``shared.core.redaction``): every output goes through it (contract §3, last paragraph).

Properties: a secret the process holds, embedded in any text in any encoding the redactor
knows (as sent, URL-encoded, base64 of ``":" + secret``, any prefix of at least 16 characters
of those), never survives; a text holding no secret and no secret-shaped value is unchanged.
"""

from __future__ import annotations

import base64
import string
from urllib.parse import quote, quote_plus

from hypothesis import assume, given
from hypothesis import strategies as st

from shared.core.redaction import MIN_PREFIX_CHARS, REDACTED, Redactor, encodings, redact, without_query

KEY = "3q2+7wAAbGV0dGVyc2FuZC9zbGFzaGVzPT0rKys/Zm9vYmFy=="  # base64-like, with + / and =
JWT = ("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0."
       "c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU")

# Secrets as the process gets them: base64 keys, JWTs, opaque tokens (url-unsafe characters included).
secret_text = st.text(alphabet=string.ascii_letters + string.digits + "+/=-_.~%:", min_size=MIN_PREFIX_CHARS, max_size=120)
# Ordinary text around them: words, punctuation, JSON and URL characters, unicode.
filler = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


def forms(secret: str) -> list[str]:
    """The encodings the contract names, written out independently of the module under test."""
    basic = base64.b64encode(f":{secret}".encode()).decode()
    return [secret, quote(secret, safe=""), quote_plus(secret), basic]


@given(secret=secret_text, before=filler, after=filler, which=st.integers(0, 3), cut=st.integers(0, 200))
def test_a_held_secret_never_survives_in_any_encoding_or_prefix(secret: str, before: str, after: str, which: int, cut: int) -> None:
    form = forms(secret)[which]
    shown = form[: max(MIN_PREFIX_CHARS, len(form) - cut)]  # the whole form, or a prefix of at least 16 characters
    out = Redactor([secret]).text(before + shown + after)
    assert shown not in out
    assert REDACTED in out


@given(secret=secret_text, text=filler)
def test_text_without_a_secret_is_unchanged(secret: str, text: str) -> None:
    assume(all(form[:MIN_PREFIX_CHARS] not in text for form in encodings(secret)))
    assume(redact(text) == text)  # nothing shaped like a token either (almost never, in random text)
    assert Redactor([secret]).text(text) == text


@given(st.text(alphabet=string.ascii_letters + string.digits + " .,:;-_/'()\n", max_size=200))
def test_plain_words_and_urls_without_signatures_are_unchanged(text: str) -> None:
    assert redact(text) == text


def test_everyday_texts_are_left_alone() -> None:
    for text in [
        "poll: status=InProgress http=200 -> again in 5s (Retry-After) [source=arm operationId=op-1]",
        "https://management.azure.com/subscriptions/s/providers/Microsoft.Web/locations/westus/operationResults/o?api-version=2022-03-01",
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/t", error="invalid_token"',
        "AuthorizationFailed: The client does not have authorization to perform action",
        "Basic tier; bearer token expired",
        "eyJ is how a JWT starts",
    ]:
        assert redact(text) == text, text


def test_shapes_are_redacted_without_knowing_the_secret() -> None:
    cases = {
        f"Authorization: Bearer {JWT}": "Authorization: [redacted]",
        f'{{"headers": {{"Authorization": "Bearer {JWT}"}}}}': '{"headers": {"Authorization": "[redacted]"}}',
        f"token was {JWT}.": "token was [redacted].",
        "bearer abcdefghijklmnopqrstuvwxyz0123": "bearer [redacted]",
        "GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2030&sig=AbC%2Bdef%3D&sp=r": (
            "GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2030&sig=[redacted]&sp=r"),
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0a2V5;EndpointSuffix=core.windows.net": (
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=[redacted];EndpointSuffix=core.windows.net"),
        '{"access_token": "opaque-token-value", "expires_in": 3599}': '{"access_token": "[redacted]", "expires_in": 3599}',
        f"aeg-sas-key: {KEY}": "aeg-sas-key: [redacted]",
        "Basic OmFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6": "Basic [redacted]",
    }
    for text, want in cases.items():
        assert redact(text) == want, text


def test_the_event_grid_key_in_every_form_the_trial_saw() -> None:
    redactor = Redactor([KEY])
    for shown in (KEY, quote(KEY, safe=""), quote_plus(KEY), KEY[:-1], KEY[:16], quote(KEY, safe="")[:20]):
        out = redactor.text(f"InvalidKey: the key '{shown}' is not valid for topic t")
        assert shown not in out and out == "InvalidKey: the key '[redacted]' is not valid for topic t", shown


def test_a_short_prefix_is_not_a_secret_but_a_whole_short_secret_is() -> None:
    redactor = Redactor([KEY, "k3y-s3cr3t"])
    assert redactor.text(f"starts {KEY[:MIN_PREFIX_CHARS - 1]} only") == f"starts {KEY[:MIN_PREFIX_CHARS - 1]} only"
    assert redactor.text("key k3y-s3cr3t here") == "key [redacted] here"


def test_json_values_and_keys_are_redacted_everywhere_and_other_values_kept() -> None:
    token = "token-for-arm-0123456789abcdef"
    body = {"error": {"code": "BadRequest", "message": f"header was Bearer {token}", "details": [{token: 1}]},
            "percentComplete": 50.5, "done": False, "none": None}
    out = Redactor([token]).json(body)
    assert out == {"error": {"code": "BadRequest", "message": "header was Bearer [redacted]",
                             "details": [{"[redacted]": 1}]}, "percentComplete": 50.5, "done": False, "none": None}


def test_library_request_lines_lose_their_query_strings() -> None:
    line = 'HTTP Request: GET https://x.blob.core.windows.net/c/b?sv=1&sig=abc "HTTP/1.1 200 OK"'
    assert without_query(line) == 'HTTP Request: GET https://x.blob.core.windows.net/c/b "HTTP/1.1 200 OK"'
    assert without_query("no url here?a=b") == "no url here?a=b"


def test_encodings_include_the_azure_devops_basic_credential() -> None:
    assert base64.b64encode(b":" + KEY.encode()).decode() in encodings(KEY)
