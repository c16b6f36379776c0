"""Publish an outcome to an Event Grid topic: a CloudEvents 1.0 batch of one (contract §3).

The wire format::

    POST {EVENTGRID_TOPIC_ENDPOINT}?api-version=2018-01-01        (api-version added only when absent)
    Content-Type: application/cloudevents-batch+json; charset=utf-8
    aeg-sas-key: {EVENTGRID_TOPIC_KEY}                            (key mode), or
    Authorization: Bearer {token for https://eventgrid.azure.net/.default}   (Entra mode, the process's credential)

    [{"specversion": "1.0", "id": eventId, "source": EVENT_SOURCE, "type": "LroWatcher.Operation.<outcome>",
      "subject": <path of statusUrl>, "time": completedAt, "datacontenttype": "application/json", "data": result}]

The envelope is :mod:`shared.core.cloud_events`'s, shared with progress events. One POST through
the process's transport (:mod:`shared.edges.http`), never following a redirect, to the endpoint checked by the same rules as status URLs (:func:`topic_url`), so
the key or token goes to that host only. azure-eventgrid's publisher is not
used: azure-core's pipeline refuses bearer tokens over plain http (no loopback
fakes in Entra mode) and it would add import cost to every cold start. The
envelope is a dict, not ``azure.core.messaging.CloudEvent``: that class has no
serializer in azure-core, keeps ``time`` as a ``datetime`` (re-formatted, it
would no longer equal ``completedAt``) and fills a missing id with a random
uuid4; the tests parse our wire body with it instead.

Any failure (no response, timeout, 3xx, 4xx, 5xx) raises
:class:`~shared.core.errors.PublishError`, whose message never holds the key or the
token (the topic's answer goes through the process's redactor, :mod:`shared.edges.secrets`,
which knows the key and the token in every encoding of contract §3); the request message is retried, the status read again, and the same
outcome published again with the same ``id``. In Entra mode a 401 drops the
cached token and tries once more with a fresh one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from shared.core.cloud_events import outcome_event, progress_event
from shared.core.errors import InvalidRequest, PublishError, SettingsError
from shared.core.trimming import encode_json, fit_result
from shared.core.urls import HostAllowlist, checked_url
from shared.edges.http import HttpResponse, HttpTransport, TransportError, TransportTimeout
from shared.edges.secrets import PROCESS_SECRETS, SecretKeeper
from shared.edges.sinks import log_trimmed

if TYPE_CHECKING:  # pragma: no cover
    from shared.core.settings import Settings
    from shared.edges.tokens import TokenCache

__all__ = [
    "EventGridSink",
    "topic_url",
    "check_settings",
    "EVENTGRID_SCOPE",
    "EVENTGRID_API_VERSION",
    "CONTENT_TYPE",
    "MAX_BATCH_BYTES",
]

EVENTGRID_SCOPE = "https://eventgrid.azure.net/.default"
EVENTGRID_API_VERSION = "2018-01-01"
CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8"
#: Event Grid takes events (and batches) up to 1 MB; keep the one-event batch under 1,000,000 bytes.
MAX_BATCH_BYTES = 1_000_000
_SETTING = "EVENTGRID_TOPIC_ENDPOINT"
_REASON_CHARS = 300
#: Only the start of a refusal's body is read: its error code and message.
_REFUSAL_BYTES = 64 * 1024


def topic_url(endpoint: str) -> str:
    """The URL to POST to: ``endpoint`` checked by the status-URL token rules, ``api-version`` added when absent.

    Raises :class:`SettingsError` naming ``EVENTGRID_TOPIC_ENDPOINT``.
    """
    try:
        allowed = HostAllowlist.for_base_url(endpoint)  # the topic's own host: the rules below still apply
        url = checked_url(endpoint, field=_SETTING, allowed=allowed)
    except ValueError:
        raise SettingsError(_SETTING, "has an invalid port") from None
    except InvalidRequest as err:
        raise SettingsError(_SETTING, err.reason.replace(f"Field '{_SETTING}' ", "", 1).rstrip(".")) from None
    query = urlsplit(url).query
    versions = [value for key, value in parse_qsl(query, keep_blank_values=True) if key.lower() == "api-version"]
    if versions and not all(versions):
        raise SettingsError(_SETTING, "has an empty api-version")
    if versions:
        return url
    return f"{url}{'&' if query else '?'}api-version={EVENTGRID_API_VERSION}"


def check_settings(settings: Settings) -> str:
    """Validate the Event Grid settings at start-up; returns the topic URL. Raises SettingsError naming the setting."""
    if not settings.eventgrid_topic_endpoint:
        raise SettingsError(_SETTING, "is required when RESULT_SINK includes eventgrid")
    key = settings.eventgrid_topic_key
    if key and not all(0x20 < ord(c) < 0x7F for c in key):
        raise SettingsError("EVENTGRID_TOPIC_KEY", "must be printable ASCII without spaces (an HTTP header value)")
    return topic_url(settings.eventgrid_topic_endpoint)


class EventGridSink:
    """Publishes each result to ``EVENTGRID_TOPIC_ENDPOINT``; built once per process by :mod:`shared.runtime`."""

    name = "eventgrid"

    def __init__(
        self, settings: Settings, tokens: TokenCache, http: HttpTransport, max_bytes: int = MAX_BATCH_BYTES,
        *, secrets: SecretKeeper = PROCESS_SECRETS,
    ) -> None:
        self.url = check_settings(settings)
        self._host = urlsplit(self.url).netloc
        self._source = settings.event_source
        self._key = settings.eventgrid_topic_key
        self._tokens = tokens
        self._http = http
        self._max_bytes = max_bytes
        self._secrets = secrets
        secrets.hold("EVENTGRID_TOPIC_KEY", self._key)

    def publish(self, result: Mapping[str, Any]) -> None:
        data, body = fit_result(result, lambda data: encode_json([outcome_event(result, self._source, data)]), self._max_bytes)
        log_trimmed(self.name, data, self._max_bytes)
        self._send(body, result["eventId"])

    def publish_progress(self, event_id: str, data: Mapping[str, Any]) -> None:
        """One ``LroWatcher.Operation.Progress`` event (:mod:`shared.core.progress`); raises PublishError like :meth:`publish`."""
        fitted, body = fit_result(data, lambda d: encode_json([progress_event(event_id, d, self._source)]), self._max_bytes)
        log_trimmed(self.name, {**fitted, "eventId": event_id}, self._max_bytes)
        self._send(body, event_id)

    def _send(self, body: bytes, event_id: str) -> None:
        refreshed = False
        while True:
            headers, secret = self._auth_headers(event_id)
            response = self._post(body, headers, event_id)
            if response.status == 401 and self._key is None and not refreshed:
                self._tokens.refresh(EVENTGRID_SCOPE, secret)
                refreshed = True
                continue
            if 200 <= response.status < 300:
                return
            raise PublishError(self._refusal(response, event_id))

    def _auth_headers(self, event_id: str) -> tuple[dict[str, str], str]:
        headers = {"Content-Type": CONTENT_TYPE, "x-ms-client-request-id": str(uuid.uuid4())}
        if self._key:
            headers["aeg-sas-key"] = self._key
            return headers, self._key
        try:
            token = self._tokens.token(EVENTGRID_SCOPE)
        except Exception as err:  # azure-identity raises several types; none carries a token
            raise PublishError(
                f"event {event_id}: could not get a token for {EVENTGRID_SCOPE}: {type(err).__name__}: {err}"[:500]
            ) from err
        headers["Authorization"] = f"Bearer {token}"
        return headers, token

    def _post(self, body: bytes, headers: dict[str, str], event_id: str) -> HttpResponse:
        try:
            return self._http.request("POST", self.url, headers, body, max_body=_REFUSAL_BYTES)
        except TransportTimeout as err:
            reason = self._secrets.text(str(err))[:_REASON_CHARS]
            raise PublishError(f"event {event_id}: timed out publishing to Event Grid at {self._host} ({reason})") from None
        except TransportError as err:
            reason = self._secrets.text(str(err))[:_REASON_CHARS]
            raise PublishError(f"event {event_id}: could not reach Event Grid at {self._host}: {reason}") from None

    def _refusal(self, response: HttpResponse, event_id: str) -> str:
        status = response.status
        if 300 <= status < 400:
            return f"event {event_id}: Event Grid at {self._host} answered HTTP {status} (redirects are not followed)"
        detail = ""
        text = response.body.decode("utf-8", "replace").strip()
        try:
            body = json.loads(text)
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                detail = f": {error.get('code') or ''} {error.get('message') or ''}".rstrip()
        except ValueError:
            detail = f": {text}" if text else ""
        detail = self._secrets.text(detail)[:_REASON_CHARS]
        return f"event {event_id}: Event Grid at {self._host} refused it with HTTP {status}{detail}"

