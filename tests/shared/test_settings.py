"""Settings: contract defaults, and start-up errors that name the setting."""

from __future__ import annotations

import pytest

from shared.core.errors import SettingsError
from shared.core.settings import load_settings
from shared.core.storage_connection import storage_connection_from_environ

CONN = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def test_contract_defaults() -> None:
    s = load_settings(CONN)
    assert (s.operations_queue, s.poison_queue, s.results_queue) == ("operations", "operations-poison", "operation-results")
    assert s.result_sink == "queue" and s.publishes_to_queue and not s.publishes_to_eventgrid
    assert s.event_source == "lro-watcher"
    assert s.arm_endpoint == "https://management.azure.com"
    assert s.arm_scope == "https://management.azure.com/.default"
    assert s.devcenter_scope == "https://devcenter.azure.com/.default"
    assert s.status_host_allowlist.allows("x.devcenter.azure.com", 443)
    assert (s.poll_min_delay_seconds, s.poll_max_delay_seconds) == (5, 300)
    assert s.poll_default_timeout_seconds == 86400 and s.poll_max_failures == 10
    assert s.eventgrid_topic_endpoint is None and s.eventgrid_topic_key is None


def test_arm_scope_follows_arm_endpoint() -> None:
    s = load_settings({**CONN, "ARM_ENDPOINT": "http://127.0.0.1:7000/"})
    assert s.arm_endpoint == "http://127.0.0.1:7000"
    assert s.arm_scope == "http://127.0.0.1:7000/.default"


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({}, "AzureWebJobsStorage"),
        ({**CONN, "RESULT_SINK": "kafka"}, "RESULT_SINK"),
        ({**CONN, "RESULT_SINK": "eventgrid"}, "EVENTGRID_TOPIC_ENDPOINT"),
        ({**CONN, "RESULT_SINK": "both"}, "EVENTGRID_TOPIC_ENDPOINT"),
        ({**CONN, "RESULT_SINK": "both", "EVENTGRID_TOPIC_ENDPOINT": "http://topic.example.com/api/events"}, "EVENTGRID_TOPIC_ENDPOINT"),
        ({**CONN, "ARM_ENDPOINT": "management.azure.com"}, "ARM_ENDPOINT"),
        ({**CONN, "ARM_ENDPOINT": "http://management.azure.com"}, "ARM_ENDPOINT"),
        ({**CONN, "ARM_SCOPE": "https://management.azure.com/"}, "ARM_SCOPE"),
        ({**CONN, "DEVCENTER_SCOPE": "devcenter"}, "DEVCENTER_SCOPE"),
        ({**CONN, "STATUS_HOST_ALLOWLIST": "bad host"}, "STATUS_HOST_ALLOWLIST"),
        ({**CONN, "STATUS_HOST_ALLOWLIST": "*.com"}, "STATUS_HOST_ALLOWLIST"),
        ({**CONN, "STATUS_HOST_ALLOWLIST": "*"}, "STATUS_HOST_ALLOWLIST"),
        ({**CONN, "DATAPLANE_HOSTS": "*.example.com"}, "DATAPLANE_HOSTS"),
        ({**CONN, "DATAPLANE_HOSTS": "*.example.com=https://example.com"}, "DATAPLANE_HOSTS"),
        ({**CONN, "DATAPLANE_HOSTS": "bad host=https://example.com/.default"}, "DATAPLANE_HOSTS"),
        ({**CONN, "DATAPLANE_HOSTS": "a.example.com,b.example.com=https://example.com/.default"}, "DATAPLANE_HOSTS"),
        ({**CONN, "DATAPLANE_HOSTS": "=https://example.com/.default"}, "DATAPLANE_HOSTS"),
        ({**CONN, "DATAPLANE_HOSTS": "a.example.com:0=https://example.com/.default"}, "DATAPLANE_HOSTS"),
        ({**CONN, "DATAPLANE_HOSTS": "a.example.com=devcenter/.default"}, "DATAPLANE_HOSTS"),
        ({**CONN, "POLL_MIN_DELAY_SECONDS": "soon"}, "POLL_MIN_DELAY_SECONDS"),
        ({**CONN, "POLL_MIN_DELAY_SECONDS": "-1"}, "POLL_MIN_DELAY_SECONDS"),
        ({**CONN, "POLL_MAX_DELAY_SECONDS": "1"}, "POLL_MAX_DELAY_SECONDS"),
        ({**CONN, "POLL_MAX_DELAY_SECONDS": "700000"}, "POLL_MAX_DELAY_SECONDS"),
        ({**CONN, "POLL_DEFAULT_TIMEOUT_SECONDS": "0"}, "POLL_DEFAULT_TIMEOUT_SECONDS"),
        ({**CONN, "POLL_DEFAULT_TIMEOUT_SECONDS": "1.5"}, "POLL_DEFAULT_TIMEOUT_SECONDS"),
        ({**CONN, "POLL_MAX_FAILURES": "0"}, "POLL_MAX_FAILURES"),
        ({**CONN, "OPERATIONS_QUEUE": "Operations"}, "OPERATIONS_QUEUE"),
        ({**CONN, "RESULTS_QUEUE": "a"}, "RESULTS_QUEUE"),
        ({"AzureWebJobsStorage__queueServiceUri": "http://account.queue.core.windows.net"}, "AzureWebJobsStorage__queueServiceUri"),
        ({"AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net", "AzureWebJobsStorage__credential": "key"}, "AzureWebJobsStorage__credential"),
    ],
)
def test_bad_settings_name_the_setting(env: dict, setting: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.setting == setting
    assert setting in str(caught.value)


def test_event_grid_key_is_not_in_repr() -> None:
    s = load_settings({**CONN, "RESULT_SINK": "both", "EVENTGRID_TOPIC_ENDPOINT": "https://t.westus-1.eventgrid.azure.net/api/events",
                       "EVENTGRID_TOPIC_KEY": "s3cr3t"})
    assert s.eventgrid_topic_key == "s3cr3t"
    assert "s3cr3t" not in repr(s)


def test_identity_based_storage_connection() -> None:
    conn = storage_connection_from_environ({
        "AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net/",
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": "cid",
    })
    assert conn.queue_service_uri == "https://acct.queue.core.windows.net"
    assert conn.use_managed_identity and conn.client_id == "cid" and conn.connection_string is None
    assert storage_connection_from_environ({"AzureWebJobsStorage__accountName": "acct"}).queue_service_uri == "https://acct.queue.core.windows.net"


def test_connection_string_is_never_in_repr() -> None:
    conn = storage_connection_from_environ({"AzureWebJobsStorage": "AccountName=a;AccountKey=SECRETKEY"})
    assert "SECRETKEY" not in repr(conn)


def test_dataplane_hosts_default_and_parsing() -> None:
    default = load_settings(CONN).dataplane_hosts
    assert [(e.pattern, e.scope) for e in default.entries] == [("*.devcenter.azure.com", "https://devcenter.azure.com/.default")]
    hosts = load_settings(
        {**CONN, "DATAPLANE_HOSTS": " *.Cognitiveservices.azure.com = https://cognitiveservices.azure.com/.default ;"
                                    "acct.purview.azure.com=https://purview.azure.net/.default; 127.0.0.1:8080=api://sim/.default;"}
    ).dataplane_hosts
    assert hosts.scope_for("x.cognitiveservices.azure.com", 443) == "https://cognitiveservices.azure.com/.default"
    assert hosts.scope_for("cognitiveservices.azure.com", 443) is None  # a wildcard never matches the apex
    assert hosts.scope_for("acct.purview.azure.com", 443) == "https://purview.azure.net/.default"
    assert hosts.scope_for("other.purview.azure.com", 443) is None
    assert hosts.scope_for("127.0.0.1", 8080) == "api://sim/.default"
    assert hosts.scope_for("127.0.0.1", 8081) is None
    assert hosts.allowlist.allows("acct.purview.azure.com", 443) and not hosts.allowlist.allows("evil.example", 443)


def test_first_matching_dataplane_pattern_wins() -> None:
    hosts = load_settings({**CONN, "DATAPLANE_HOSTS": "a.example.com=https://one/.default;*.example.com=https://two/.default"}).dataplane_hosts
    assert hosts.scope_for("a.example.com", 443) == "https://one/.default"
    assert hosts.scope_for("b.example.com", 443) == "https://two/.default"


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({"DATAPLANE_HOSTS": "management.azure.com=https://management.azure.com/.default"}, True),
        ({"DATAPLANE_HOSTS": "management.azure.com=https://cognitiveservices.azure.com/.default"}, True),
        ({"DATAPLANE_HOSTS": "*.cognitiveservices.azure.com=https://cognitiveservices.azure.com/.default;"
                             "management.azure.com:443=https://x.example/.default"}, True),
        ({"ARM_ENDPOINT": "https://management.usgovcloudapi.net",
          "DATAPLANE_HOSTS": "management.usgovcloudapi.net=https://x.example/.default"}, True),
        ({"ARM_ENDPOINT": "http://127.0.0.1:4100", "DATAPLANE_HOSTS": "127.0.0.1:4100=http://127.0.0.1:4100/.default"}, True),
        ({"DATAPLANE_HOSTS": "management.azure.com:8443=https://x.example/.default"}, False),  # another port: another host
        ({"DATAPLANE_HOSTS": "*.cognitiveservices.azure.com=https://cognitiveservices.azure.com/.default"}, False),
        # an emulator playing ARM and a data-plane service on one loopback port, each with its own audience
        ({"ARM_ENDPOINT": "http://127.0.0.1:4100", "DATAPLANE_HOSTS": "127.0.0.1:4100=https://cognitiveservices.azure.com/.default"},
         False),
    ],
)
def test_a_dataplane_pattern_covering_arms_host_is_a_setting_error(env: dict[str, str], refused: bool) -> None:
    if not refused:
        load_settings(env, require_storage=False)
        return
    with pytest.raises(SettingsError) as caught:
        load_settings(env, require_storage=False)
    assert caught.value.setting == "DATAPLANE_HOSTS" and "ARM_ENDPOINT" in str(caught.value)


@pytest.mark.parametrize(
    ("env", "setting", "why"),
    [
        ({"RESULTS_QUEUE": "operations"}, "RESULTS_QUEUE", "OPERATIONS_QUEUE"),
        ({"RESULTS_QUEUE": "operations-poison"}, "RESULTS_QUEUE", "poison queue"),
        ({"OPERATIONS_QUEUE": "operation-results"}, "RESULTS_QUEUE", "OPERATIONS_QUEUE"),
        ({"OPERATIONS_QUEUE": "jobs", "RESULTS_QUEUE": "jobs-poison"}, "RESULTS_QUEUE", "poison queue"),
        ({"OPERATIONS_QUEUE": "x", "RESULTS_QUEUE": "x-poison"}, "OPERATIONS_QUEUE", "3-63"),
        ({"OPERATIONS_QUEUE": "ops--a"}, "OPERATIONS_QUEUE", "single hyphens"),
        ({"OPERATIONS_QUEUE": "-ops"}, "OPERATIONS_QUEUE", "3-63"),
        ({"RESULTS_QUEUE": "results_q"}, "RESULTS_QUEUE", "3-63"),
        ({"RESULTS_QUEUE": "r" * 64}, "RESULTS_QUEUE", "3-63"),
        ({"OPERATIONS_QUEUE": "o" * 57}, "OPERATIONS_QUEUE", "-poison"),
    ],
)
def test_queue_names_that_collide_or_azure_refuses_stop_start_up(env: dict[str, str], setting: str, why: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**CONN, **env})
    assert caught.value.setting == setting and why in str(caught.value)


def test_distinct_valid_queue_names_start() -> None:
    s = load_settings({**CONN, "OPERATIONS_QUEUE": "jobs-poison", "RESULTS_QUEUE": "jobs"})
    assert (s.operations_queue, s.poison_queue, s.results_queue) == ("jobs-poison", "jobs-poison-poison", "jobs")


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        ("https://management.azure.com?api-version=1", "query"),
        ("https://management.azure.com/?x=1", "query"),
        ("https://management.azure.com#frag", "fragment"),
        ("https://management.azure.com/#", "fragment"),
        ("https://management.azure.com/arm", "path"),
        ("https://management.azure.com/arm/", "path"),
        ("https://user@management.azure.com", "user information"),
        ("https://user:pw@management.azure.com", "user information"),
        ("https://management.azure.com:99999", "port"),
        ("https://management.azure.com:0", "port"),
        ("https://management.azure.com:https", "port"),
        ("https://management.azure.com:-1", "port"),
        ("https://management.azure.com.", "canonical"),
        ("https://management..azure.com", "canonical"),
        ("https://manage ment.azure.com", "printable"),
        ("http://127.evil.example.com:4100", "https"),
        ("http://localhost.:4100", "https"),
        ("http://[::1]x:4100", "https"),
        ("https://[::1]x:4100", "host[:port]"),
        ("https://[::1]]:4100", "host[:port]"),
    ],
)
def test_arm_endpoint_must_be_a_bare_origin(endpoint: str, why: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"ARM_ENDPOINT": endpoint}, require_storage=False)
    assert caught.value.setting == "ARM_ENDPOINT" and why in str(caught.value)


@pytest.mark.parametrize(
    ("endpoint", "kept"),
    [("https://management.azure.com/", "https://management.azure.com"),
     ("https://management.usgovcloudapi.net", "https://management.usgovcloudapi.net"),
     ("https://management.azure.com:443", "https://management.azure.com:443"),
     ("http://localhost:4100/", "http://localhost:4100"),
     ("http://[::1]:4100", "http://[::1]:4100")],
)
def test_arm_endpoint_origins_are_accepted(endpoint: str, kept: str) -> None:
    assert load_settings({"ARM_ENDPOINT": endpoint}, require_storage=False).arm_endpoint == kept


@pytest.mark.parametrize("setting", ["STATUS_HOST_ALLOWLIST", "CALLBACK_HOST_ALLOWLIST", "DATAPLANE_HOSTS"])
@pytest.mark.parametrize(
    "pattern",
    ["*.core.windows.net", "*.windows.net", "*.azure.com", "*.azure.net", "*.azurewebsites.net", "*.cloudapp.net",
     "*.cloudapp.azure.com", "*.chinacloudapi.cn", "*.core.chinacloudapi.cn", "*.usgovcloudapi.net",
     "*.core.usgovcloudapi.net", "*.blob.core.windows.net", "*.Core.Windows.Net:443", "*.azure.us"],
)
def test_wildcards_over_azures_shared_service_domains_are_refused(setting: str, pattern: str) -> None:
    value = f"{pattern}=https://storage.azure.com/.default" if setting == "DATAPLANE_HOSTS" else pattern
    with pytest.raises(SettingsError) as caught:
        load_settings({setting: value}, require_storage=False)
    assert caught.value.setting == setting and "name your own domain" in str(caught.value)


@pytest.mark.parametrize(
    "pattern",
    ["*.devcenter.azure.com", "*.cognitiveservices.azure.com", "*.vault.azure.net", "*.queue.core.windows.net",
     "acct.blob.core.windows.net", "dev.azure.com", "*.visualstudio.com", "*.devcenter.azure.us"],
)
def test_wildcards_over_one_service_and_single_hosts_are_accepted(pattern: str) -> None:
    load_settings({"STATUS_HOST_ALLOWLIST": pattern}, require_storage=False)


@pytest.mark.parametrize(
    "connection",
    ["DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;QueueEndpoint=http://127.evil.example.com;",
     "AccountName=a;AccountKey=k;queueendpoint=http://a.queue.core.windows.net",
     "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k;EndpointSuffix=core.windows.net"],
)
def test_a_connection_string_queue_endpoint_off_loopback_must_be_https(connection: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"AzureWebJobsStorage": connection})
    assert caught.value.setting == "AzureWebJobsStorage" and "k" not in str(caught.value).split(":", 1)[1].split()


@pytest.mark.parametrize(
    "connection",
    ["UseDevelopmentStorage=true",
     "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;",
     "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;EndpointSuffix=core.windows.net",
     "AccountName=a;AccountKey=k"],
)
def test_https_and_loopback_connection_strings_start(connection: str) -> None:
    assert load_settings({"AzureWebJobsStorage": connection}).storage is not None
