"""The deployable infrastructure (infra/, azure.yaml, bicepconfig.json), checked offline.

There is no Bicep CLI here, so each property is read from the tree-sitter-bicep parse tree
(bicep_model.py) by the checks in infra_checks.py. Each check must find nothing in the real
templates, and must find something in a copy with one property broken: that proves it can fail.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling import in any pytest import mode

from infra_checks import (  # noqa: E402
    CHECKS,
    HOST_JSON,
    INFRA,
    ROOT,
    Infra,
    check_api_versions,
    check_app_settings,
    check_checkov_skips,
    check_descriptions,
    check_event_grid,
    check_existing_topic,
    check_flex_function,
    check_guards,
    check_hardening,
    check_keyless_storage,
    check_layout,
    check_monitoring,
    check_naming,
    check_no_secrets,
    check_params_used,
    check_parses,
    check_private_network,
    check_queues_and_container,
    check_role_assignments,
    check_role_wiring,
    check_setting_ranges,
    check_worker_concurrency,
)


@pytest.fixture(scope="module")
def infra() -> Infra:
    return Infra.load()


def test_every_bicep_file_is_found(infra: Infra) -> None:
    modules = {"storage", "function", "identity", "monitoring", "eventgrid", "subscription-reader", "devcenter-project-reader",
               "guards", "eventgrid-sender", "vnet", "private-endpoint"}
    assert {"main.bicep"} | {f"app/{m}.bicep" for m in modules} <= set(infra.files)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_templates_pass(infra: Infra, check: Callable[[Infra], list[str]]) -> None:
    assert check(infra) == []


def broken(case_id: str, check: Callable[[Infra], list[str]], rel: str, old: str, new: str) -> object:
    """One broken copy of the templates: ``old`` replaced by ``new`` in infra/<rel>."""
    return pytest.param(check, rel, old, new, id=case_id)


MAIN, STORAGE, FUNCTION = "main.bicep", "app/storage.bicep", "app/function.bicep"
EVENTGRID, MONITORING = "app/eventgrid.bicep", "app/monitoring.bicep"
GUARDS, SENDER, VNET, ENDPOINT = "app/guards.bicep", "app/eventgrid-sender.bicep", "app/vnet.bicep", "app/private-endpoint.bicep"

BROKEN = [
    broken("syntax-missing-value", check_parses, STORAGE, "  kind: 'StorageV2'\n", "  kind: \n"),
    broken("syntax-unclosed-string", check_parses, MAIN,
           "string = 'https://management.azure.com'", "string = 'https://management.azure.com"),
    broken("resource-group-scope", check_layout, MAIN, "targetScope = 'subscription'", "targetScope = 'resourceGroup'"),
    broken("module-outside-rg", check_layout, MAIN,
           "name: 'monitoring'\n  scope: rg", "name: 'monitoring'\n  scope: resourceGroup('elsewhere')"),
    broken("shared-key-on", check_keyless_storage, STORAGE, "allowSharedKeyAccess: false", "allowSharedKeyAccess: true"),
    broken("tls-1-0", check_keyless_storage, STORAGE, "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'"),
    broken("public-blobs", check_keyless_storage, STORAGE, "allowBlobPublicAccess: false", "allowBlobPublicAccess: true"),
    broken("results-queue-renamed", check_queues_and_container, MAIN,
           "param resultsQueue string = 'operation-results'", "param resultsQueue string = 'results'"),
    broken("poison-queue-renamed", check_queues_and_container, STORAGE,
           "name: '${operationsQueueName}-poison'", "name: '${operationsQueueName}-dead'"),
    broken("no-deployment-container", check_queues_and_container, STORAGE, "name: deploymentContainerName", "name: 'packages'"),
    broken("two-deployment-containers", check_queues_and_container, MAIN,
           "    deploymentContainerName: deploymentContainer\n    applicationInsightsName",
           "    deploymentContainerName: 'other'\n    applicationInsightsName"),
    broken("consumption-y1", check_flex_function, FUNCTION, "name: 'FC1'", "name: 'Y1'"),
    broken("python-3-12", check_flex_function, FUNCTION, "version: '3.11'", "version: '3.12'"),
    broken("deploy-with-key", check_flex_function, FUNCTION,
           "type: 'UserAssignedIdentity'", "type: 'StorageAccountConnectionString'"),
    broken("fixed-max-instances", check_flex_function, FUNCTION,
           "maximumInstanceCount: maximumInstanceCount\n", "maximumInstanceCount: 40\n"),
    broken("setting-missing", check_app_settings, MAIN, "  POLL_MAX_FAILURES: string(pollMaxFailures)\n", ""),
    broken("default-changed", check_app_settings, MAIN,
           "param pollMaxDelaySeconds int = 300", "param pollMaxDelaySeconds int = 600"),
    broken("arm-scope-default", check_app_settings, MAIN,
           "param armScope string = '${armEndpoint}/.default'", "param armScope string = 'https://management.azure.com/'"),
    broken("setting-not-a-parameter", check_app_settings, MAIN, "  EVENT_SOURCE: eventSource\n", "  EVENT_SOURCE: 'lro-watcher'\n"),
    broken("worker-runtime-setting", check_app_settings, FUNCTION,
           "AzureWebJobsStorage__credential: 'managedidentity'", "FUNCTIONS_WORKER_RUNTIME: 'python'"),
    broken("storage-connection-string", check_app_settings, FUNCTION,
           "AzureWebJobsStorage__queueServiceUri: queueEndpoint", "AzureWebJobsStorage: queueEndpoint"),
    broken("appinsights-auth-string", check_app_settings, FUNCTION,
           "'ClientId=${identityClientId};Authorization=AAD'", "'Authorization=AAD'"),
    broken("eventgrid-schema", check_event_grid, EVENTGRID, "inputSchema: 'CloudEventSchemaV1_0'", "inputSchema: 'EventGridSchema'"),
    broken("eventgrid-keys-on", check_event_grid, EVENTGRID, "disableLocalAuth: true", "disableLocalAuth: false"),
    broken("eventgrid-not-wired", check_event_grid, MAIN,
           "var topicEndpoint = deployEventGridTopic ? eventGrid.outputs.endpoint :", "var topicEndpoint = deployEventGridTopic ? '' :"),
    broken("appinsights-keys-on", check_monitoring, MONITORING, "DisableLocalAuth: true", "DisableLocalAuth: false"),
    broken("wrong-role-guid", check_role_assignments, STORAGE,
           "var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'",
           "var storageBlobDataOwner = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'"),
    broken("role-comment", check_role_assignments, STORAGE, "// Storage Queue Data Message Sender", "// Queue sender"),
    broken("sender-on-account", check_role_assignments, STORAGE, "  scope: operationsQueue\n", "  scope: storage\n"),
    broken("processor-on-operations", check_role_assignments, STORAGE, "  scope: resultsQueue\n", "  scope: operationsQueue\n"),
    broken("assignment-name", check_role_assignments, STORAGE,
           "name: guid(storage.id, appPrincipalId, storageQueueDataContributor)",
           "name: guid(appPrincipalId, storageQueueDataContributor)"),
    broken("principal-type", check_role_assignments, MONITORING, "    principalType: 'ServicePrincipal'\n", ""),
    broken("contributor-on-topic", check_role_assignments, EVENTGRID,
           "'d5a91429-5739-47e2-a06b-3470a27159e7' // EventGrid Data Sender", "'b24988ac-6180-42a0-ab88-20f7382dd24c' // Contributor"),
    broken("reader-not-subscription", check_role_assignments, "app/subscription-reader.bicep", "targetScope = 'subscription'\n", ""),
    broken("devcenter-unscoped", check_role_assignments, "app/devcenter-project-reader.bicep", "  scope: project\n", ""),
    broken("operator-processor-on-operations", check_role_assignments, STORAGE, "  scope: poisonQueue\n", "  scope: operationsQueue\n"),
    broken("operator-reader-on-account", check_role_assignments, STORAGE,
           "name: guid(resultsQueue.id, operatorId, storageQueueDataReader)\n  scope: resultsQueue\n",
           "name: guid(storage.id, operatorId, storageQueueDataReader)\n  scope: storage\n"),
    broken("operator-reader-on-poison", check_role_assignments, STORAGE,
           "name: guid(resultsQueue.id, operatorId, storageQueueDataReader)\n  scope: resultsQueue\n",
           "name: guid(poisonQueue.id, operatorId, storageQueueDataReader)\n  scope: poisonQueue\n"),
    broken("operators-not-senders", check_role_assignments, STORAGE,
           "var operationsSenderIds = union(producerPrincipalIds, operatorPrincipalIds)", "var operationsSenderIds = union(producerPrincipalIds, [])"),
    broken("queue-reader-guid", check_role_assignments, STORAGE,
           "var storageQueueDataReader = '19e7f393-937e-4f77-808e-94535e297925'",
           "var storageQueueDataReader = '19e7f393-937e-4f77-808e-94535e297926'"),
    broken("queue-reader-comment", check_role_assignments, STORAGE, "// Storage Queue Data Reader", "// Queue reader"),
    broken("operator-contributor-on-poison", check_role_assignments, STORAGE,
           "name: guid(poisonQueue.id, operatorId, storageQueueDataMessageProcessor)\n  scope: poisonQueue\n  properties: {\n"
           "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageProcessor)",
           "name: guid(poisonQueue.id, operatorId, storageQueueDataContributor)\n  scope: poisonQueue\n  properties: {\n"
           "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)"),
    broken("consumers-dropped", check_role_wiring, MAIN,
           "consumerPrincipalIds: union(consumerPrincipalIds, deployerIds)", "consumerPrincipalIds: deployerIds"),
    broken("operators-dropped", check_role_wiring, MAIN, "    operatorPrincipalIds: operatorPrincipalIds\n", "    operatorPrincipalIds: []\n"),
    broken("reader-on-own-subscription", check_role_wiring, MAIN,
           "  scope: subscription(subscriptionId)\n", "  scope: subscription()\n"),
    broken("deployer-gets-app-roles", check_role_wiring, MAIN,
           "appPrincipalId: identity.outputs.principalId\n  }\n}\n\nmodule eventGrid",
           "appPrincipalId: principalId\n  }\n}\n\nmodule eventGrid"),
    broken("key-output", check_no_secrets, EVENTGRID,
           "output endpoint string = topic.properties.endpoint",
           "output endpoint string = topic.properties.endpoint\noutput key string = topic.listKeys().key1"),
    broken("connection-string-output", check_no_secrets, MAIN,
           "output APPLICATIONINSIGHTS_NAME string", "output APPLICATIONINSIGHTS_CONNECTION_STRING string"),
    broken("undescribed-param", check_descriptions, "app/identity.bicep", "@description('Tags applied to the identity.')\n", ""),
    broken("camel-output", check_naming, MAIN, "output AZURE_LOCATION string", "output azureLocation string"),
    broken("pascal-symbol", check_naming, STORAGE, "resource appBlobOwner ", "resource AppBlobOwner "),
    broken("unused-param", check_params_used, MONITORING, "retentionInDays: retentionInDays", "retentionInDays: 30"),
    broken("bad-api-version", check_api_versions, FUNCTION, "'Microsoft.Web/sites@2024-04-01'", "'Microsoft.Web/sites@2024-04-31'"),
    broken("bad-network-api-version", check_api_versions, ENDPOINT,
           "'Microsoft.Network/privateDnsZones@2024-06-01'", "'Microsoft.Network/privateDnsZones@2024-05-01'"),
    # Guards (issue 14): each one removed, weakened or made silent in turn.
    broken("eventgrid-sink-without-topic", check_guards, GUARDS,
           "resultSink == 'queue' || topicGiven ? resultSink", "true ? resultSink"),
    broken("topic-endpoint-only-counts", check_guards, GUARDS,
           "var topicGiven = deployEventGridTopic || !empty(eventGridTopicId) || !empty(eventGridTopicEndpoint)",
           "var topicGiven = !empty(eventGridTopicEndpoint)"),
    broken("sink-guard-message-vague", check_guards, GUARDS,
           "fail('resultSink \\'${resultSink}\\' publishes to Event Grid but names no topic: set deployEventGridTopic to true,",
           "fail('no topic: set the flag to true,"),
    broken("min-above-max-allowed", check_guards, GUARDS,
           "pollMinDelaySeconds <= pollMaxDelaySeconds ? pollMaxDelaySeconds", "true ? pollMaxDelaySeconds"),
    broken("min-equal-max-refused", check_guards, GUARDS,
           "pollMinDelaySeconds <= pollMaxDelaySeconds ?", "pollMinDelaySeconds < pollMaxDelaySeconds ?"),
    broken("http-endpoint-allowed", check_guards, GUARDS, "startsWith(eventGridTopicEndpoint, 'https://')", "true"),
    broken("setting-bypasses-guard", check_guards, MAIN,
           "RESULT_SINK: guards.outputs.resultSink", "RESULT_SINK: resultSink"),
    broken("guards-after-resources", check_guards, MAIN, "  dependsOn: [\n    guards\n  ]\n", ""),
    broken("guards-deploy-a-resource", check_guards, GUARDS, "var topicGiven",
           "resource marker 'Microsoft.Resources/tags@2024-03-01' = {\n  name: 'default'\n}\n\nvar topicGiven"),
    broken("delay-above-seven-days", check_setting_ranges, MAIN,
           "@maxValue(604800)\n@description('POLL_MAX_DELAY_SECONDS", "@maxValue(2592000)\n@description('POLL_MAX_DELAY_SECONDS"),
    broken("min-delay-unbounded", check_setting_ranges, MAIN,
           "@minValue(0)\n@maxValue(604800)\n@description('POLL_MIN_DELAY_SECONDS", "@minValue(0)\n@description('POLL_MIN_DELAY_SECONDS"),
    broken("failures-unbounded", check_setting_ranges, MAIN, "@maxValue(10000)\n", ""),
    broken("reads-reserve-range", check_setting_ranges, MAIN, "@maxValue(12000)", "@maxValue(20000)"),
    broken("threadpool-zero", check_setting_ranges, MAIN,
           "@minValue(1)\n@maxValue(1000)\n@description('PYTHON_THREADPOOL", "@minValue(0)\n@maxValue(1000)\n@description('PYTHON_THREADPOOL"),
    broken("reserve-not-from-parameter", check_setting_ranges, MAIN,
           "ARM_READS_RESERVE: string(armReadsReserve)", "ARM_READS_RESERVE: '100'"),
    broken("new-setting-missing", check_app_settings, MAIN, "  DATAPLANE_HOSTS: dataplaneHosts\n", ""),
    broken("progress-default-on", check_app_settings, MAIN, "param publishProgress bool = false", "param publishProgress bool = true"),
    # An existing topic by resource id (issue 14 item 2).
    broken("existing-topic-ignored", check_existing_topic, MAIN,
           "(!empty(eventGridTopicId) ? existingTopicSender.outputs.endpoint : guards.outputs.eventGridTopicEndpoint)",
           "guards.outputs.eventGridTopicEndpoint"),
    broken("existing-topic-always", check_existing_topic, MAIN,
           "if (!deployEventGridTopic && !empty(eventGridTopicId))", "if (!empty(eventGridTopicId))"),
    broken("existing-topic-created", check_existing_topic, SENDER,
           "resource topic 'Microsoft.EventGrid/topics@2022-06-15' existing = {", "resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {"),
    broken("existing-topic-role-on-rg", check_role_assignments, SENDER, "  scope: topic\n", ""),
    broken("existing-topic-role-to-deployer", check_role_wiring, MAIN,
           "topicName: last(split(eventGridTopicId, '/'))\n    principalId: identity.outputs.principalId",
           "topicName: last(split(eventGridTopicId, '/'))\n    principalId: principalId"),
    broken("existing-topic-in-own-rg", check_layout, MAIN,
           "scope: resourceGroup(split(eventGridTopicId, '/')[2], split(eventGridTopicId, '/')[4])", "scope: rg"),
    # Hardening.
    broken("ftp-basic-auth", check_hardening, FUNCTION, "name: 'ftp'\n  properties: {\n    allow: false", "name: 'ftp'\n  properties: {\n    allow: true"),
    broken("scm-policy-missing", check_hardening, FUNCTION, "name: 'scm'", "name: 'ftp'"),
    broken("ftps-allowed", check_hardening, FUNCTION, "ftpsState: 'Disabled'", "ftpsState: 'FtpsOnly'"),
    broken("tls-1-0-site", check_hardening, FUNCTION, "minTlsVersion: '1.2'", "minTlsVersion: '1.0'"),
    broken("lrs-default", check_hardening, MAIN, "param storageSkuName string = 'Standard_ZRS'", "param storageSkuName string = 'Standard_LRS'"),
    broken("sku-not-passed", check_hardening, MAIN, "skuName: storageSkuName", "skuName: 'Standard_ZRS'"),
    # Private networking.
    broken("vnet-always", check_private_network, MAIN, "module vnet 'app/vnet.bicep' = if (vnetEnabled) {", "module vnet 'app/vnet.bicep' = {"),
    broken("wrong-delegation", check_private_network, VNET, "serviceName: 'Microsoft.App/environments'", "serviceName: 'Microsoft.Web/serverFarms'"),
    broken("app-not-integrated", check_private_network, FUNCTION,
           "virtualNetworkSubnetId: !empty(virtualNetworkSubnetId) ? virtualNetworkSubnetId : null\n", ""),
    broken("no-queue-endpoint", check_private_network, MAIN, "    groupId: 'queue'\n", "    groupId: 'blob'\n"),
    broken("no-dns-zone-group", check_private_network, ENDPOINT,
           "'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01'", "'Microsoft.Network/privateEndpoints/ipConfigurations@2024-05-01'"),
    broken("storage-public-with-vnet", check_private_network, STORAGE,
           "publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'", "publicNetworkAccess: 'Enabled'"),
    broken("storage-allow-with-vnet", check_private_network, STORAGE,
           "defaultAction: publicNetworkAccess ? 'Allow' : 'Deny'", "defaultAction: 'Allow'"),
    broken("topic-public-with-vnet", check_private_network, EVENTGRID,
           "publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'", "publicNetworkAccess: 'Enabled'"),
    broken("storage-private-by-default", check_private_network, MAIN, "publicNetworkAccess: !vnetEnabled\n    operationsQueueName",
           "publicNetworkAccess: false\n    operationsQueueName"),
    # Worker concurrency: the thread pool and host.json agree.
    broken("threadpool-default-off", check_worker_concurrency, MAIN,
           "param pythonThreadpoolThreadCount int = 24", "param pythonThreadpoolThreadCount int = 16"),
    broken("host-json-batch-changed", check_worker_concurrency, HOST_JSON, '"batchSize": 16', '"batchSize": 32'),
    broken("threadpool-setting-missing", check_worker_concurrency, MAIN,
           "  PYTHON_THREADPOOL_THREAD_COUNT: string(pythonThreadpoolThreadCount)\n", ""),
    # checkov skips carry a reason, inside the resource they excuse.
    broken("skip-without-reason", check_checkov_skips, FUNCTION,
           "// #checkov:skip=CKV_AZURE_17:Client certificates guard HTTP functions, and this app has none: it is triggered by a queue.",
           "// #checkov:skip=CKV_AZURE_17"),
    broken("skip-outside-resource", check_checkov_skips, FUNCTION,
           "@description('Name of the Flex Consumption plan.')", "// #checkov:skip=CKV_AZURE_1:A reason that is long enough to pass.\n@description('Name of the Flex Consumption plan.')"),
]


@pytest.mark.parametrize(("check", "rel", "old", "new"), BROKEN)
def test_each_check_catches_a_broken_template(
    infra: Infra, check: Callable[[Infra], list[str]], rel: str, old: str, new: str
) -> None:
    assert check(infra) == []
    assert check(infra.broken(rel, old, new)) != []


def test_every_check_is_shown_to_fail() -> None:
    assert {c.__name__ for c in CHECKS} == {case.values[0].__name__ for case in BROKEN}


# ---------------------------------------------------------------------------------------- azd files


def test_azure_yaml_declares_the_python_function_service() -> None:
    lines = (ROOT / "azure.yaml").read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    start = body.index("services:")
    service = body[start + 1 : start + 5]
    assert service[0] == "  api:"
    assert sorted(line.strip() for line in service[1:]) == ["host: function", "language: python", "project: ."]


def test_main_parameters_map_the_azd_environment() -> None:
    params = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert params["environmentName"] == {"value": "${AZURE_ENV_NAME}"}
    assert params["location"] == {"value": "${AZURE_LOCATION}"}
    assert params["principalId"] == {"value": "${AZURE_PRINCIPAL_ID}"}
    main = Infra.load().main
    assert set(params) <= set(main.params)


def test_abbreviations_cover_every_use() -> None:
    abbrs = json.loads((INFRA / "abbreviations.json").read_text(encoding="utf-8"))
    used = set(re.findall(r"\babbrs\.(\w+)", (INFRA / "main.bicep").read_text(encoding="utf-8")))
    assert used and used <= set(abbrs)


def test_bicepconfig_makes_secret_and_unused_findings_errors() -> None:
    rules = json.loads((ROOT / "bicepconfig.json").read_text(encoding="utf-8"))["analyzers"]["core"]["rules"]
    for rule in ("outputs-should-not-contain-secrets", "secure-secrets-in-params", "no-unused-params", "no-unused-vars"):
        assert rules[rule]["level"] == "error", rule


def test_project_files_never_point_at_the_shared_folder() -> None:
    owned = [*INFRA.rglob("*"), ROOT / "azure.yaml", ROOT / "bicepconfig.json", ROOT / "docs" / "deploy.md", *Path(__file__).parent.glob("*.py")]
    offenders = [p for p in owned if p.is_file() and ("../" + "shared") in p.read_text(encoding="utf-8")]
    assert offenders == []
