"""What the deployable infrastructure must be, as checks over the parsed templates.

Each ``check_*`` takes an :class:`Infra` (every ``.bicep`` under infra/, parsed) and returns the
violations it finds, so a test can assert that the real templates have none and that a copy with
one property broken has some (tests/infra/test_bicep.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bicep_model import UNKNOWN, BicepFile, Declaration, Failure, evaluate, object_get, object_items, problems, text

__all__ = [
    "CHECKS",
    "INFRA",
    "ROOT",
    "Infra",
    "check_parses", "check_layout", "check_keyless_storage", "check_queues_and_container",
    "check_flex_function", "check_app_settings", "check_event_grid", "check_monitoring",
    "check_role_assignments", "check_role_wiring", "check_no_secrets", "check_descriptions",
    "check_naming", "check_params_used", "check_api_versions",
    "check_guards", "check_setting_ranges", "check_existing_topic", "check_hardening", "check_private_network",
    "check_worker_concurrency", "check_checkov_skips",
]

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
HOST_JSON = "../host.json"  # Infra.sources key of the project's host.json

# README "Settings" (the public contract): the settings the watcher reads, with their defaults.
# None = no default. ARM_SCOPE's default is written in terms of ARM_ENDPOINT.
CONTRACT_SETTINGS: dict[str, str | None] = {
    "OPERATIONS_QUEUE": "operations",
    "RESULTS_QUEUE": "operation-results",
    "RESULT_SINK": "queue",
    "EVENTGRID_TOPIC_ENDPOINT": None,
    "EVENT_SOURCE": "lro-watcher",
    "ARM_ENDPOINT": "https://management.azure.com",
    "ARM_SCOPE": "{ARM_ENDPOINT}/.default",
    "DEVCENTER_SCOPE": "https://devcenter.azure.com/.default",
    "STATUS_HOST_ALLOWLIST": "*.devcenter.azure.com",
    "POLL_MIN_DELAY_SECONDS": "5",
    "POLL_MAX_DELAY_SECONDS": "300",
    "POLL_DEFAULT_TIMEOUT_SECONDS": "86400",
    "POLL_MAX_FAILURES": "10",
    "STATUS_READ_TIMEOUT_SECONDS": "30",
    # Settings of the dialects and schedule issues (contract section 5; ARM_READS_RESERVE from the
    # schedule issue): infra sets them already, whether or not this branch's code reads them yet.
    "DATAPLANE_HOSTS": "*.devcenter.azure.com=https://devcenter.azure.com/.default",
    "PUBLISH_PROGRESS": "false",
    "ARM_READS_RESERVE": "100",
    "CALLBACK_HOST_ALLOWLIST": "dev.azure.com,*.visualstudio.com",
}

# Every numeric app setting, the main.bicep parameter behind it, and the range the app accepts
# (shared/settings.py; the Python worker for PYTHON_THREADPOOL_THREAD_COUNT, whose minimum is 1 and
# which has no useful maximum: 1000 bounds typos). The parameter's @minValue/@maxValue must match.
NUMERIC_SETTINGS: dict[str, tuple[str, int, int]] = {
    "POLL_MIN_DELAY_SECONDS": ("pollMinDelaySeconds", 0, 604_800),
    "POLL_MAX_DELAY_SECONDS": ("pollMaxDelaySeconds", 0, 604_800),
    "POLL_DEFAULT_TIMEOUT_SECONDS": ("pollDefaultTimeoutSeconds", 1, 2_592_000),
    "POLL_MAX_FAILURES": ("pollMaxFailures", 1, 10_000),
    "STATUS_READ_TIMEOUT_SECONDS": ("statusReadTimeoutSeconds", 1, 60),
    "ARM_READS_RESERVE": ("armReadsReserve", 0, 12_000),
    "PYTHON_THREADPOOL_THREAD_COUNT": ("pythonThreadpoolThreadCount", 1, 1000),
}
QUEUES = {"operations", "operation-results", "operations-poison"}

# Flex Consumption rejects the first five (it sets runtime and version in functionAppConfig); the
# last two would carry keys.
FORBIDDEN_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "AzureWebJobsStorage",
    "EVENTGRID_TOPIC_KEY",
}

STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"
QUEUE = "Microsoft.Storage/storageAccounts/queueServices/queues"
CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"


@dataclass(frozen=True)
class Role:
    """One role assignment the templates must make (role ids: learn.microsoft.com built-in roles)."""

    module: str  # file under infra/
    role_id: str
    role_name: str  # must be the comment beside the GUID
    scope_type: str  # resource type of the scope; "" = the module's own deployment scope
    principal: str = ""  # principalId expression; "" = the loop variable
    loop_over: frozenset[str] = frozenset()  # the parameters (all of them) whose ids the assignment loops over
    single_queue: str = ""  # the only queue it may be scoped to

    @property
    def managed_identity(self) -> bool:
        return not self.loop_over

    @property
    def grantee(self) -> tuple[str, frozenset[str]]:
        """Who gets the role: a principal expression, or the parameters looped over."""
        return (self.principal, frozenset()) if self.managed_identity else ("", self.loop_over)


EXPECTED_ROLES = [
    Role("app/storage.bicep", "974c5e8b-45b9-4653-ba55-5f855dd0fb88", "Storage Queue Data Contributor", STORAGE_ACCOUNT, "appPrincipalId"),
    Role("app/storage.bicep", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "Storage Blob Data Owner", STORAGE_ACCOUNT, "appPrincipalId"),
    # Producers enqueue; operators replay (README "For operators"): one assignment per id of either list.
    Role("app/storage.bicep", "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a", "Storage Queue Data Message Sender", QUEUE,
         loop_over=frozenset({"producerPrincipalIds", "operatorPrincipalIds"}), single_queue="operations"),
    Role("app/storage.bicep", "8a0f0c08-91a1-4084-bc3d-661d67233fed", "Storage Queue Data Message Processor", QUEUE,
         loop_over=frozenset({"consumerPrincipalIds"}), single_queue="operation-results"),
    # Operators: list (--all), replay and discard poison entries; peek results without taking them.
    Role("app/storage.bicep", "8a0f0c08-91a1-4084-bc3d-661d67233fed", "Storage Queue Data Message Processor", QUEUE,
         loop_over=frozenset({"operatorPrincipalIds"}), single_queue="operations-poison"),
    Role("app/storage.bicep", "19e7f393-937e-4f77-808e-94535e297925", "Storage Queue Data Reader", QUEUE,
         loop_over=frozenset({"operatorPrincipalIds"}), single_queue="operation-results"),
    Role("app/eventgrid.bicep", "d5a91429-5739-47e2-a06b-3470a27159e7", "EventGrid Data Sender", "Microsoft.EventGrid/topics", "appPrincipalId"),
    # An existing topic given by resource id (main.bicep eventGridTopicId).
    Role("app/eventgrid-sender.bicep", "d5a91429-5739-47e2-a06b-3470a27159e7", "EventGrid Data Sender", "Microsoft.EventGrid/topics", "principalId"),
    Role("app/monitoring.bicep", "3913510d-42f4-4e42-8a64-420c390055eb", "Monitoring Metrics Publisher", "Microsoft.Insights/components", "appPrincipalId"),
    Role("app/subscription-reader.bicep", "acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", "", "principalId"),
    Role("app/devcenter-project-reader.bicep", "eb960402-bf75-4cc3-8d68-35b34f960f72", "Deployment Environments Reader",
         "Microsoft.DevCenter/projects", "principalId"),
]

# API versions checked against published Bicep/ARM references; a typo in a template fails.
API_VERSIONS = {
    "Microsoft.Resources/resourceGroups": "2024-03-01",
    "Microsoft.ManagedIdentity/userAssignedIdentities": "2023-01-31",
    STORAGE_ACCOUNT: "2023-05-01",
    "Microsoft.Storage/storageAccounts/blobServices": "2023-05-01",
    CONTAINER: "2023-05-01",
    "Microsoft.Storage/storageAccounts/queueServices": "2023-05-01",
    QUEUE: "2023-05-01",
    "Microsoft.OperationalInsights/workspaces": "2023-09-01",
    "Microsoft.Insights/components": "2020-02-02",
    "Microsoft.Web/serverfarms": "2024-04-01",
    "Microsoft.Web/sites": "2024-04-01",
    "Microsoft.EventGrid/topics": "2022-06-15",
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
    "Microsoft.DevCenter/projects": "2024-02-01",
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies": "2024-04-01",
    "Microsoft.Network/virtualNetworks": "2024-05-01",
    "Microsoft.Network/privateEndpoints": "2024-05-01",
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups": "2024-05-01",
    "Microsoft.Network/privateDnsZones": "2024-06-01",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": "2024-06-01",
}

# Modules main.bicep deploys outside its resource group, and the scope each must have.
OUTSIDE_RG_MODULES = {
    "app/guards.bicep": "",  # the deployment's own (subscription) scope, before the resource group
    "app/eventgrid-sender.bicep": "resourceGroup(split(eventGridTopicId, '/')[2], split(eventGridTopicId, '/')[4])",
}

REQUIRED_OUTPUTS = {
    "AZURE_LOCATION", "AZURE_TENANT_ID", "AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_APP_NAME",
    "AZURE_STORAGE_ACCOUNT_NAME", "OPERATIONS_QUEUE_URL", "RESULTS_QUEUE_URL", "POISON_QUEUE_URL",
    "EVENTGRID_TOPIC_ENDPOINT",
}


# ---------------------------------------------------------------------------------------- model


class Infra:
    """All Bicep files under infra/, keyed by their path relative to infra/ ('app/storage.bicep')."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources
        self.files = {rel: BicepFile(src, Path(rel)) for rel, src in sources.items() if rel.endswith(".bicep")}
        self._main_envs: dict[str, dict[str, Any]] = {}

    @classmethod
    def load(cls) -> Infra:
        paths = sorted(INFRA.rglob("*.bicep"))
        sources = {p.relative_to(INFRA).as_posix(): p.read_text(encoding="utf-8") for p in paths}
        sources[HOST_JSON] = (ROOT / "host.json").read_text(encoding="utf-8")
        return cls(sources)

    def broken(self, rel: str, old: str, new: str) -> Infra:
        """A copy with one edit; the edit must apply, or the mutation test would prove nothing."""
        assert old in self.sources[rel], f"{old!r} not in {rel}"
        return Infra({**self.sources, rel: self.sources[rel].replace(old, new)})

    @property
    def host_json(self) -> dict[str, Any]:
        return json.loads(self.sources[HOST_JSON])

    @property
    def main(self) -> BicepFile:
        return self.files["main.bicep"]

    def call(self, rel: str) -> Declaration:
        """The module statement of main.bicep that deploys infra/<rel>."""
        return self.main.module(rel)

    def passed(self, rel: str, param: str) -> str:
        """The expression main.bicep passes to infra/<rel> as ``param``."""
        return text(object_get(self.call(rel).value, "params", param))

    def env(self, rel: str, **main_overrides: Any) -> dict[str, Any]:
        """Parameter values infra/<rel> gets when main.bicep runs with its defaults (plus overrides)."""
        main_env = self.main_env(main_overrides)
        if rel == "main.bicep":
            return main_env
        return self.files[rel].env(self.main.module_env(self.call(rel), main_env))

    def main_env(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """main.bicep's values, module outputs (``guards.outputs.resultSink``) included."""
        key = repr(sorted(overrides.items()))
        if key not in self._main_envs:
            self._main_envs[key] = self._main_env(overrides)
        return dict(self._main_envs[key])

    def _main_env(self, overrides: dict[str, Any]) -> dict[str, Any]:
        env = self.main.env(overrides)
        for _ in range(2):  # outputs may feed other modules' parameters
            known = {}
            for module in self.main.modules:
                file = self.files.get(module.type_text)
                if file is None or module.loop_source is not None:
                    continue
                inner = file.env(self.main.module_env(module, env))
                known[module.symbol] = {"outputs": {name: evaluate(out.value, inner) for name, out in file.outputs.items()}}
            env = self.main.env(overrides, known)
        return env

    def settings(self) -> dict[str, tuple[str, Any]]:
        """App settings of the function app: name -> (file that sets it, value node)."""
        app = self.files["app/function.bicep"]
        config = next(d for d in app.resources if d.type_text == "config")
        value = object_get(config.value, "properties")  # union(appSettings, { ... })
        parts = _call_arguments(value) if value is not None and value.type == "call_expression" else [value]
        found: dict[str, tuple[str, Any]] = {}
        for part in filter(None, parts):
            if part.type == "object":
                found.update({k: ("app/function.bicep", v) for k, v in object_items(part)})
            elif part.type == "identifier" and text(part) in app.params:
                variable = self.main.variables.get(self.passed("app/function.bicep", text(part)))
                found.update({k: ("main.bicep", v) for k, v in object_items(variable.value if variable else None)})
        return found


def _call_arguments(call: Any) -> list[Any]:
    return [c for c in call.named_children[-1].named_children if c.type != "comment"]


def _identifiers(node: Any) -> set[str]:
    """Names an expression refers to (object keys are not references)."""
    if node is None:
        return set()
    if node.type == "identifier":
        return {text(node)}
    children = node.named_children[1:] if node.type == "object_property" else node.named_children
    return set().union(*(_identifiers(c) for c in children)) if children else set()


def _expanded_identifiers(file: BicepFile, node: Any) -> set[str]:
    """Names an expression refers to, following variables (and modules' parameters) to what they refer to."""
    names, seen = _identifiers(node), set()
    modules = {m.symbol: m for m in file.modules}
    while names - seen:
        name = (names - seen).pop()
        seen.add(name)
        if name in file.variables:
            names |= _identifiers(file.variables[name].value)
        elif name in modules:
            names |= _identifiers(object_get(modules[name].value, "params"))
    return seen


def _grantee(file: BicepFile, assignment: Any) -> tuple[str, frozenset[str]]:
    """Who an assignment grants to: its principal expression, or the parameters its loop goes over."""
    loop = assignment.declaration
    if loop.loop_source is None:
        return (assignment.principal, frozenset())
    return ("", frozenset(_expanded_identifiers(file, loop.loop_source) & set(file.params)))


def _who(grantee: tuple[str, frozenset[str]]) -> str:
    principal, loop_over = grantee
    return principal or " + ".join(sorted(loop_over)) or "(nobody)"


def _resource(file: BicepFile | None, symbol: str) -> Declaration | None:
    return next((d for d in file.resources if d.symbol == symbol), None) if file and symbol else None


# ---------------------------------------------------------------------------------------- checks


def check_parses(infra: Infra) -> list[str]:
    return [f"{rel}:{p}" for rel, f in infra.files.items() for p in problems(f.root)]


def check_layout(infra: Infra) -> list[str]:
    main, found = infra.main, []
    if main.target_scope != "subscription":
        found.append("main.bicep targetScope is not 'subscription'")
    groups = main.resources_of_type("Microsoft.Resources/resourceGroups")
    if len(groups) != 1 or text(object_get(groups[0].value, "tags")) != "tags":
        found.append("main.bicep does not create the (tagged) resource group")
    tags = main.variables.get("tags")
    if tags is None or "azd-env-name" not in dict(object_items(tags.value)):
        found.append("tags lack azd-env-name")
    token = main.variables.get("resourceToken")
    if token is None or text(token.value) != "toLower(uniqueString(subscription().id, environmentName, location))":
        found.append("resourceToken is not toLower(uniqueString(subscription().id, environmentName, location))")
    for module in main.modules:
        if module.type_text not in infra.files or not module.type_text.startswith("app/"):
            found.append(f"main.bicep deploys {module.type_text}, which is not a file under infra/app/")
        scope, want = text(object_get(module.value, "scope")), OUTSIDE_RG_MODULES.get(module.type_text, "rg")
        if not module.loop_source and scope != want:
            found.append(f"module {module.symbol} has scope {scope or '(deployment)'}, want {want or '(deployment)'}")
    return found


def check_keyless_storage(infra: Infra) -> list[str]:
    accounts = infra.files["app/storage.bicep"].resources_of_type(STORAGE_ACCOUNT)
    if len(accounts) != 1:
        return [f"expected one storage account, found {len(accounts)}"]
    props, env = object_get(accounts[0].value, "properties"), infra.env("app/storage.bicep")
    wanted = {
        "allowSharedKeyAccess": False,
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
        "supportsHttpsTrafficOnly": True,
    }
    got = {key: evaluate(object_get(props, key), env) for key in wanted}
    return [f"storage {key} is {got[key]!r}, want {want!r}" for key, want in wanted.items() if got[key] != want]


def check_queues_and_container(infra: Infra) -> list[str]:
    storage, env = infra.files["app/storage.bicep"], infra.env("app/storage.bicep")
    names = {evaluate(object_get(q.value, "name"), env) for q in storage.resources_of_type(QUEUE)}
    found = [] if names == QUEUES else [f"queues are {sorted(map(str, names))}, want {sorted(QUEUES)}"]
    containers = storage.resources_of_type(CONTAINER)
    if "deploymentContainerName" not in {text(object_get(c.value, "name")) for c in containers}:
        found.append("the deployment container (parameter deploymentContainerName) is not created")
    for rel in ("app/storage.bicep", "app/function.bicep"):  # the one container both modules name
        if infra.passed(rel, "deploymentContainerName") != "deploymentContainer":
            found.append(f"main.bicep does not pass its deploymentContainer to {rel}")
    if any(evaluate(object_get(c.value, "properties", "publicAccess"), env) != "None" for c in containers):
        found.append("a blob container allows public access")
    return found


def check_flex_function(infra: Infra) -> list[str]:
    app, env, found = infra.files["app/function.bicep"], infra.env("app/function.bicep"), []
    plans = app.resources_of_type("Microsoft.Web/serverfarms")
    sku = evaluate(object_get(plans[0].value, "sku"), env) if plans else None
    if sku != {"name": "FC1", "tier": "FlexConsumption"}:
        found.append(f"plan sku is {sku}, want FC1 / FlexConsumption")
    site = app.resources_of_type("Microsoft.Web/sites")[0]
    config = object_get(site.value, "properties", "functionAppConfig")
    if evaluate(object_get(config, "runtime"), env) != {"name": "python", "version": "3.11"}:
        found.append(f"runtime is {text(object_get(config, 'runtime'))}, want python 3.11")
    storage = object_get(config, "deployment", "storage")
    auth = object_get(storage, "authentication")
    if evaluate(object_get(auth, "type"), env) != "UserAssignedIdentity" or text(object_get(auth, "userAssignedIdentityResourceId")) != "identityId":
        found.append("the deployment package is not read with the user-assigned identity")
    if "deploymentContainerName" not in text(object_get(storage, "value")):
        found.append("deployment storage does not point at the deployment container")
    if evaluate(object_get(site.value, "identity", "type"), env) != "UserAssigned":
        found.append("the function app does not run as the user-assigned identity")
    for setting in ("maximumInstanceCount", "instanceMemoryMB"):
        if text(object_get(config, "scaleAndConcurrency", setting)) != setting or setting not in app.params:
            found.append(f"scaleAndConcurrency.{setting} is not the module parameter {setting}")
        if infra.passed("app/function.bicep", setting) != setting or setting not in infra.main.params:
            found.append(f"main.bicep does not expose {setting} as a parameter")
    tags = object_get(site.value, "tags")  # union(tags, { 'azd-service-name': serviceName })
    parts = _call_arguments(tags) if tags is not None and tags.type == "call_expression" else [tags]
    service = next((v for part in parts for k, v in object_items(part) if k == "azd-service-name"), None)
    if evaluate(service, env) != "api":
        found.append("the function app is not tagged azd-service-name: api")
    return found


def check_app_settings(infra: Infra) -> list[str]:
    settings = infra.settings()
    found = [
        f"forbidden app setting {key}"
        for key in settings
        if key in FORBIDDEN_SETTINGS or re.search(r"(_KEY|SECRET|PASSWORD|accountKey)$", key, re.I)
    ]
    identity_based = {
        "AzureWebJobsStorage__credential": "'managedidentity'",
        "AzureWebJobsStorage__clientId": "identityClientId",
        "AzureWebJobsStorage__queueServiceUri": "queueEndpoint",
        "AzureWebJobsStorage__blobServiceUri": "blobEndpoint",
        "AZURE_CLIENT_ID": "identityClientId",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "'ClientId=${identityClientId};Authorization=AAD'",
    }
    for key, want in identity_based.items():
        got = text(settings[key][1]) if key in settings else None
        if got != want:
            found.append(f"{key} is {got}, want {want}")
    wiring = {
        "identityClientId": "identity.outputs.clientId",
        "queueEndpoint": "storage.outputs.queueEndpoint",
        "blobEndpoint": "storage.outputs.blobEndpoint",
    }
    for param, want in wiring.items():
        if infra.passed("app/function.bicep", param) != want:
            found.append(f"main.bicep passes {param}: {infra.passed('app/function.bicep', param)}, want {want}")
    main, env = infra.main, infra.env("main.bicep")
    values = {key: evaluate(node, env) for key, (rel, node) in settings.items() if rel == "main.bicep"}
    for key, default in CONTRACT_SETTINGS.items():
        if key not in settings:
            found.append(f"contract setting {key} is not an app setting")
            continue
        rel, node = settings[key]
        if rel != "main.bicep" or not _expanded_identifiers(main, node) & set(main.params):
            found.append(f"{key} is not set from a main.bicep parameter")
        want = "" if default is None else default.replace("{ARM_ENDPOINT}", str(values.get("ARM_ENDPOINT")))
        if values.get(key) != want:
            found.append(f"{key} defaults to {values.get(key)!r}, want {want!r}")
    return found


def check_event_grid(infra: Infra) -> list[str]:
    grid, found = infra.files["app/eventgrid.bicep"], []
    env = infra.env("app/eventgrid.bicep", deployEventGridTopic=True)
    topics = grid.resources_of_type("Microsoft.EventGrid/topics")
    props = object_get(topics[0].value, "properties") if topics else None
    if evaluate(object_get(props, "inputSchema"), env) != "CloudEventSchemaV1_0":
        found.append("the topic's input schema is not CloudEventSchemaV1_0")
    if evaluate(object_get(props, "disableLocalAuth"), env) is not True:
        found.append("the topic accepts keys (disableLocalAuth is not true)")
    optional = infra.main.params.get("deployEventGridTopic")
    if text(infra.call("app/eventgrid.bicep").condition) != "(deployEventGridTopic)" or optional is None or optional.type_text != "bool":
        found.append("the topic is not optional (module not conditional on deployEventGridTopic)")
    wired = infra.main.variables.get("topicEndpoint")
    if wired is None or wired.value.type != "ternary_expression" or text(wired.value.named_children[1]) != "eventGrid.outputs.endpoint":
        found.append("EVENTGRID_TOPIC_ENDPOINT is not wired to the deployed topic")
    endpoint = grid.outputs.get("endpoint")
    if endpoint is None or text(endpoint.value) != "topic.properties.endpoint":
        found.append("eventgrid.bicep does not output the topic endpoint")
    return found


def check_monitoring(infra: Infra) -> list[str]:
    monitoring, env = infra.files["app/monitoring.bicep"], infra.env("app/monitoring.bicep")
    local_auth = {
        "Microsoft.Insights/components": ("properties", "DisableLocalAuth"),
        "Microsoft.OperationalInsights/workspaces": ("properties", "features", "disableLocalAuth"),
    }
    found = []
    for resource_type, path in local_auth.items():
        resources = monitoring.resources_of_type(resource_type)
        if not resources or evaluate(object_get(resources[0].value, *path), env) is not True:
            found.append(f"{resource_type}: local auth is not disabled")
    return found


def check_role_assignments(infra: Infra) -> list[str]:
    found = []
    for role in EXPECTED_ROLES:
        file = infra.files.get(role.module)
        matches = [a for a in (file.role_assignments() if file else []) if (a.role_id, _grantee(file, a)) == (role.role_id, role.grantee)]
        if len(matches) != 1:
            found.append(f"{role.module}: want one {role.role_name} assignment for {_who(role.grantee)}, found {len(matches)}")
            continue
        found += _role_problems(infra, file, role, matches[0])
    # A role given to anyone else (a known role to the wrong principals included) is unexpected.
    expected = {(role.module, role.role_id, role.grantee) for role in EXPECTED_ROLES}
    for rel, file in infra.files.items():
        found += [
            f"{rel}: unexpected role {a.role_id} for {_who(_grantee(file, a))} ({a.declaration.symbol})"
            for a in file.role_assignments()
            if (rel, a.role_id, _grantee(file, a)) not in expected
        ]
    reader = infra.files.get("app/subscription-reader.bicep")
    if reader is not None and reader.target_scope != "subscription":
        found.append("subscription-reader.bicep must have targetScope = 'subscription'")
    return found


def _role_problems(infra: Infra, file: BicepFile, role: Role, assignment: Any) -> list[str]:
    where, found = f"{role.module} {assignment.declaration.symbol}", []
    if not assignment.role_comment.lstrip("/ ").lower().startswith(role.role_name.lower()):
        found.append(f"{where}: the comment beside {role.role_id} is {assignment.role_comment!r}, want {role.role_name!r}")
    scope = _resource(file, assignment.scope)
    if (scope.resource_type if scope else "") != role.scope_type or bool(assignment.scope) != bool(role.scope_type):
        found.append(f"{where}: scope {assignment.scope or '(deployment)'} is not {role.scope_type or 'the deployment scope'}")
    loop = assignment.declaration
    if role.loop_over and assignment.principal != loop.loop_variable:
        found.append(f"{where}: principal {assignment.principal} is not the loop variable {loop.loop_variable}")
    scope_id = f"{assignment.scope}.id" if assignment.scope else "subscription().id"
    want_name = [scope_id, assignment.principal, assignment.role_expression]
    if assignment.name_arguments != want_name:
        found.append(f"{where}: name is guid({', '.join(assignment.name_arguments)}), want guid({', '.join(want_name)})")
    principal_type = evaluate(object_get(loop.value, "properties", "principalType"), {})
    if role.managed_identity and principal_type != "ServicePrincipal":
        found.append(f"{where}: principalType is {principal_type}, want ServicePrincipal for the managed identity")
    if role.single_queue:
        queue = evaluate(object_get(scope.value, "name"), infra.env(role.module)) if scope else None
        if queue != role.single_queue:
            found.append(f"{where}: scoped to queue {queue!r}, want only {role.single_queue!r}")
    return found


def check_role_wiring(infra: Infra) -> list[str]:
    """main.bicep hands the right principals to the role-bearing modules, at the right scopes."""
    main, found = infra.main, []
    identity_params = {
        "app/storage.bicep": "appPrincipalId",
        "app/monitoring.bicep": "appPrincipalId",
        "app/eventgrid.bicep": "appPrincipalId",
        "app/eventgrid-sender.bicep": "principalId",
        "app/subscription-reader.bicep": "principalId",
        "app/devcenter-project-reader.bicep": "principalId",
    }
    for rel, param in identity_params.items():
        if infra.passed(rel, param) != "identity.outputs.principalId":
            found.append(f"main.bicep does not give {rel} the watcher identity as {param}")
    for param in ("producerPrincipalIds", "consumerPrincipalIds", "operatorPrincipalIds"):
        passes = object_get(infra.call("app/storage.bicep").value, "params", param)
        if param not in _identifiers(passes):
            found.append(f"main.bicep does not pass its {param} parameter to storage.bicep")
    reader = infra.call("app/subscription-reader.bicep")
    if text(reader.loop_source) != "watchedSubscriptionIds" or text(object_get(reader.value, "scope")) != f"subscription({reader.loop_variable})":
        found.append("Reader is not deployed with scope: subscription(id) for each of watchedSubscriptionIds")
    devcenter = infra.call("app/devcenter-project-reader.bicep")
    if text(devcenter.loop_source) != "devCenterProjectIds" or not text(object_get(devcenter.value, "scope")).startswith("resourceGroup("):
        found.append("the Dev Center role is not deployed into each project's resource group (devCenterProjectIds)")
    for param in ("watchedSubscriptionIds", "devCenterProjectIds", "producerPrincipalIds", "consumerPrincipalIds", "operatorPrincipalIds"):
        decl = main.params.get(param)
        if decl is None or decl.type_text != "array" or evaluate(decl.value, {}) != []:
            found.append(f"main.bicep parameter {param} should be an array defaulting to []")
    return found


_SECRET_NAME = re.compile(r"key|secret|password|pwd|connectionstring|sas|token", re.I)
_SECRET_VALUE = re.compile(r"\blist\w*\(|\.list\w*\(|connectionstring|instrumentationkey|accountkey", re.I)


def check_no_secrets(infra: Infra) -> list[str]:
    found = []
    for rel, file in infra.files.items():
        if re.search(r"\blist\w*\(|\.list\w*\(", file.source):
            found.append(f"{rel}: calls a list*() function (keys, secrets)")
        if "EVENTGRID_TOPIC_KEY" in file.source or "AccountKey=" in file.source:
            found.append(f"{rel}: mentions a key setting")
        for name, out in file.outputs.items():
            if _SECRET_NAME.search(name.replace("_", "")) or _SECRET_VALUE.search(text(out.value)) or "secure" in out.decorators:
                found.append(f"{rel}: output {name} looks like a secret")
        found += [f"{rel}: @secure() parameter {name}: the templates take no secret" for name, p in file.params.items() if "secure" in p.decorators]
    return found


def check_descriptions(infra: Infra) -> list[str]:
    found = []
    for rel, file in infra.files.items():
        for name, param in file.params.items():
            args = param.decorators.get("description", [])
            if len(args) != 1 or not str(evaluate(args[0], {})).strip():
                found.append(f"{rel}: parameter {name} has no @description")
    return found


_LOWER_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
_UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
# azd's convention; resourceGroup() is a function; storageSkuName is issue 14's name (the SKU property is `name`).
NAME_SUFFIX_ALLOWED = {"environmentName", "resourceGroupName", "storageSkuName"}


def check_naming(infra: Infra) -> list[str]:
    found = []
    for rel, file in infra.files.items():
        found += [f"{rel}: {d.kind} {d.symbol} is not lowerCamelCase" for d in file.declarations if d.kind != "output" and not _LOWER_CAMEL.match(d.symbol)]
    found += [f"main.bicep: parameter {p} ends in Name" for p in infra.main.params if p.endswith("Name") and p not in NAME_SUFFIX_ALLOWED]
    outputs = infra.main.outputs
    found += [f"main.bicep: output {o} is not UPPER_SNAKE" for o in outputs if not _UPPER_SNAKE.match(o)]
    found += [f"main.bicep: missing output {o}" for o in sorted(REQUIRED_OUTPUTS - set(outputs))]
    return found


def check_params_used(infra: Infra) -> list[str]:
    """What the no-unused-params linter rule (an error in bicepconfig.json) would report."""
    found = []
    for rel, file in infra.files.items():
        used: set[str] = set()
        for decl in file.declarations:
            used |= set().union(*(_identifiers(c) for c in decl.node.named_children[1:]))  # not its own symbol
            used |= set().union(*(_identifiers(a) for args in decl.decorators.values() for a in args))
        found += [f"{rel}: parameter {p} is never used" for p in file.params if p not in used]
    return found


def check_api_versions(infra: Infra) -> list[str]:
    found = []
    for rel, file in infra.files.items():
        for r in file.resources:
            if "/" in r.type_text and API_VERSIONS.get(r.resource_type) != r.api_version:  # skips 'config' children
                found.append(f"{rel}: {r.type_text} (want {r.resource_type}@{API_VERSIONS.get(r.resource_type)})")
    return found


# ---------------------------------------------------------------------------------------- issue 14


def _setting_value(infra: Infra, key: str, **overrides: Any) -> Any:
    """The value app setting ``key`` gets when main.bicep runs with these parameter values."""
    rel, node = infra.settings().get(key, ("", None))
    return evaluate(node, infra.env("main.bicep", **overrides)) if rel == "main.bicep" else UNKNOWN


# Bad parameter combinations (the setting whose value must be a fail(), the words its message must
# hold) and good ones next to them (the setting must then have that value).
GUARD_CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({"resultSink": "eventgrid"}, "RESULT_SINK", ("resultSink", "deployEventGridTopic", "eventGridTopicId", "eventGridTopicEndpoint")),
    ({"resultSink": "both"}, "RESULT_SINK", ("resultSink", "deployEventGridTopic")),
    ({"resultSink": "eventgrid", "deployEventGridTopic": True}, "RESULT_SINK", "eventgrid"),
    ({"resultSink": "both", "eventGridTopicId": "/subscriptions/s/resourceGroups/g/providers/Microsoft.EventGrid/topics/t"}, "RESULT_SINK", "both"),
    ({"resultSink": "eventgrid", "eventGridTopicEndpoint": "https://t.westeurope-1.eventgrid.azure.net/api/events"}, "RESULT_SINK", "eventgrid"),
    ({"eventGridTopicEndpoint": "http://t.example/api/events"}, "EVENTGRID_TOPIC_ENDPOINT", ("eventGridTopicEndpoint", "https")),
    ({"pollMinDelaySeconds": 301}, "POLL_MAX_DELAY_SECONDS", ("pollMinDelaySeconds", "pollMaxDelaySeconds", "301", "300")),
    ({"pollMinDelaySeconds": 300}, "POLL_MAX_DELAY_SECONDS", "300"),
    ({"pollMinDelaySeconds": 0, "pollMaxDelaySeconds": 0}, "POLL_MAX_DELAY_SECONDS", "0"),
]


def check_guards(infra: Infra) -> list[str]:
    """Each bad combination fails the deployment with a message naming its parameters; good ones pass."""
    found = []
    for overrides, key, want in GUARD_CASES:
        got = _setting_value(infra, key, **overrides)
        if isinstance(want, tuple):
            if not isinstance(got, Failure):
                found.append(f"{overrides}: {key} is {got!r}, want the deployment to fail")
            elif missing := [w for w in want if w not in got.message]:
                found.append(f"{overrides}: the failure {got.message!r} does not name {missing}")
        elif got != want:
            found.append(f"{overrides}: {key} is {got!r}, want {want!r}")
    guards = infra.files.get("app/guards.bicep")
    if guards is None or guards.resources:
        found.append("app/guards.bicep must exist and declare no resource (checkov skips that file)")
    # Nothing is created before the guards pass: the resource group waits for them.
    rg = next(iter(infra.main.resources_of_type("Microsoft.Resources/resourceGroups")), None)
    if rg is None or "guards" not in text(object_get(rg.value, "dependsOn")):
        found.append("the resource group does not depend on the guards module")
    return found


def _decorator_int(decl: Declaration | None, name: str) -> Any:
    args = decl.decorators.get(name, []) if decl else []
    return evaluate(args[0], {}) if len(args) == 1 else None


def check_setting_ranges(infra: Infra) -> list[str]:
    """Each numeric setting comes from a parameter whose @minValue/@maxValue is the range the app accepts."""
    main, settings, found = infra.main, infra.settings(), []
    for key, (param, low, high) in NUMERIC_SETTINGS.items():
        decl = main.params.get(param)
        rel, node = settings.get(key, ("", None))
        if decl is None or decl.type_text != "int":
            found.append(f"{key}: main.bicep has no int parameter {param}")
            continue
        if rel != "main.bicep" or param not in _expanded_identifiers(main, node):
            found.append(f"{key} is not set from parameter {param}")
        got = (_decorator_int(decl, "minValue"), _decorator_int(decl, "maxValue"))
        if got != (low, high):
            found.append(f"{param} allows {got[0]}..{got[1]}, want {low}..{high} (what the app accepts)")
    return found


def check_existing_topic(infra: Infra) -> list[str]:
    """An existing topic given by resource id gets the sender role and feeds EVENTGRID_TOPIC_ENDPOINT."""
    main, found = infra.main, []
    decl = main.params.get("eventGridTopicId")
    if decl is None or decl.type_text != "string" or evaluate(decl.value, {}) != "":
        found.append("main.bicep has no string parameter eventGridTopicId defaulting to ''")
    call = next((m for m in main.modules if m.type_text == "app/eventgrid-sender.bicep"), None)
    if call is None:
        return found + ["main.bicep does not deploy app/eventgrid-sender.bicep"]
    if text(call.condition) != "(!deployEventGridTopic && !empty(eventGridTopicId))":
        found.append(f"the existing-topic role is deployed if {text(call.condition)}, want (!deployEventGridTopic && !empty(eventGridTopicId))")
    if infra.passed("app/eventgrid-sender.bicep", "topicName") != "last(split(eventGridTopicId, '/'))":
        found.append("eventgrid-sender.bicep is not given the topic's name from eventGridTopicId")
    sender = infra.files["app/eventgrid-sender.bicep"]
    topics = sender.resources_of_type("Microsoft.EventGrid/topics")
    if len(topics) != 1 or not topics[0].existing or text(object_get(topics[0].value, "name")) != "topicName":
        found.append("eventgrid-sender.bicep does not refer to the existing topic by name")
    endpoint = sender.outputs.get("endpoint")
    if endpoint is None or text(endpoint.value) != "topic.properties.endpoint":
        found.append("eventgrid-sender.bicep does not output the topic's endpoint")
    wired = main.variables.get("topicEndpoint")
    if wired is None or f"{call.symbol}.outputs.endpoint" not in text(wired.value):
        found.append("EVENTGRID_TOPIC_ENDPOINT is not read from the existing topic")
    return found


def check_hardening(infra: Infra) -> list[str]:
    app, found = infra.files["app/function.bicep"], []
    env = infra.env("app/function.bicep")
    site = app.resources_of_type("Microsoft.Web/sites")[0]
    policies = {evaluate(object_get(p.value, "name"), env): p for p in app.resources_of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies")}
    for method in ("ftp", "scm"):
        policy = policies.get(method)
        if policy is None or text(object_get(policy.value, "parent")) != site.symbol:
            found.append(f"no basicPublishingCredentialsPolicies '{method}' on the function app")
        elif evaluate(object_get(policy.value, "properties", "allow"), env) is not False:
            found.append(f"basic-auth publishing over {method} is allowed")
    config = object_get(site.value, "properties", "siteConfig")
    wanted = {"ftpsState": "Disabled", "minTlsVersion": "1.2", "http20Enabled": True}
    found += [f"siteConfig.{k} is {evaluate(object_get(config, k), env)!r}, want {v!r}" for k, v in wanted.items() if evaluate(object_get(config, k), env) != v]
    # Storage redundancy: a parameter, Standard_ZRS by default, LRS still possible.
    sku = infra.main.params.get("storageSkuName")
    allowed = evaluate(sku.decorators.get("allowed", [None])[0], {}) if sku else None
    if sku is None or evaluate(sku.value, {}) != "Standard_ZRS" or not isinstance(allowed, list) or not {"Standard_LRS", "Standard_ZRS"} <= set(allowed):
        found.append("main.bicep needs storageSkuName, allowing Standard_LRS and Standard_ZRS, default Standard_ZRS")
    accounts = infra.files["app/storage.bicep"].resources_of_type(STORAGE_ACCOUNT)
    for value in ("Standard_LRS", "Standard_ZRS"):
        got = evaluate(object_get(accounts[0].value, "sku", "name"), infra.env("app/storage.bicep", storageSkuName=value))
        if got != value:
            found.append(f"storageSkuName {value} gives the storage account sku {got!r}")
    return found


def _privately(infra: Infra, rel: str, resource_type: str, path: tuple[str, ...], vnet: bool) -> Any:
    resources = infra.files[rel].resources_of_type(resource_type)
    env = infra.env(rel, vnetEnabled=vnet, deployEventGridTopic=True)
    return evaluate(object_get(resources[0].value, *path), env) if resources else None


PRIVATE_ENDPOINTS = {  # module symbol in main.bicep -> (group id, DNS zone, condition)
    "blobPrivateEndpoint": ("blob", "privatelink.blob.${environment().suffixes.storage}", "(vnetEnabled)"),
    "queuePrivateEndpoint": ("queue", "privatelink.queue.${environment().suffixes.storage}", "(vnetEnabled)"),
    "topicPrivateEndpoint": ("topic", "privatelink.eventgrid.azure.net", "(vnetEnabled && deployEventGridTopic)"),
}


def check_private_network(infra: Infra) -> list[str]:
    """vnetEnabled: VNet integration through a delegated subnet, private endpoints, public access off."""
    main, found = infra.main, []
    decl = main.params.get("vnetEnabled")
    if decl is None or decl.type_text != "bool" or evaluate(decl.value, {}) is not False:
        found.append("main.bicep needs a bool parameter vnetEnabled defaulting to false")
    vnet_call = next((m for m in main.modules if m.type_text == "app/vnet.bicep"), None)
    if vnet_call is None or text(vnet_call.condition) != "(vnetEnabled)":
        found.append("app/vnet.bicep is not deployed if (vnetEnabled)")
    networks = infra.files["app/vnet.bicep"].resources_of_type("Microsoft.Network/virtualNetworks")
    subnets = evaluate(object_get(networks[0].value, "properties", "subnets"), {}) if networks else []
    delegated = [s for s in subnets if isinstance(s, dict) and any(
        isinstance(d, dict) and d.get("properties", {}).get("serviceName") == "Microsoft.App/environments"
        for d in (s.get("properties", {}).get("delegations") or []))]
    if len(delegated) != 1:
        found.append("the virtual network needs one subnet delegated to Microsoft.App/environments (Flex Consumption)")
    if infra.passed("app/function.bicep", "virtualNetworkSubnetId") != "vnetEnabled ? vnet.outputs.appSubnetId : ''":
        found.append("the function app is not integrated with the delegated subnet when vnetEnabled")
    site = infra.files["app/function.bicep"].resources_of_type("Microsoft.Web/sites")[0]
    if "virtualNetworkSubnetId" not in text(object_get(site.value, "properties", "virtualNetworkSubnetId")):
        found.append("function.bicep does not set properties.virtualNetworkSubnetId")
    for symbol, (group, zone, condition) in PRIVATE_ENDPOINTS.items():
        call = next((m for m in main.modules if m.symbol == symbol), None)
        args = object_get(call.value, "params") if call else None
        if call is None or call.type_text != "app/private-endpoint.bicep" or text(call.condition) != condition:
            found.append(f"{symbol}: app/private-endpoint.bicep is not deployed if {condition}")
        elif evaluate(object_get(args, "groupId"), {}) != group or text(object_get(args, "privateDnsZoneName")) != f"'{zone}'":
            found.append(f"{symbol}: want group id {group!r} and private DNS zone {zone!r}")
    endpoint = infra.files["app/private-endpoint.bicep"]
    kinds = {r.resource_type for r in endpoint.resources}
    for needed in ("Microsoft.Network/privateEndpoints", "Microsoft.Network/privateDnsZones",
                   "Microsoft.Network/privateDnsZones/virtualNetworkLinks", "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"):
        if needed not in kinds:
            found.append(f"private-endpoint.bicep has no {needed}")
    # Public access: on by default, off with vnetEnabled, on the storage account and the topic.
    public = {
        ("app/storage.bicep", STORAGE_ACCOUNT, ("properties", "publicNetworkAccess")): ("Enabled", "Disabled"),
        ("app/storage.bicep", STORAGE_ACCOUNT, ("properties", "networkAcls", "defaultAction")): ("Allow", "Deny"),
        ("app/eventgrid.bicep", "Microsoft.EventGrid/topics", ("properties", "publicNetworkAccess")): ("Enabled", "Disabled"),
    }
    for (rel, resource_type, path), wants in public.items():
        got = tuple(_privately(infra, rel, resource_type, path, vnet) for vnet in (False, True))
        if got != wants:
            found.append(f"{rel} {'.'.join(path)} is {got} without/with vnetEnabled, want {wants}")
    return found


def check_worker_concurrency(infra: Infra) -> list[str]:
    """PYTHON_THREADPOOL_THREAD_COUNT defaults to the host's queue concurrency from host.json."""
    queues = infra.host_json.get("extensions", {}).get("queues", {})
    batch = queues.get("batchSize", 16)
    concurrency = batch + queues.get("newBatchThreshold", batch // 2)
    got = _setting_value(infra, "PYTHON_THREADPOOL_THREAD_COUNT")
    if got != str(concurrency):
        return [f"PYTHON_THREADPOOL_THREAD_COUNT is {got!r}, want host.json's batchSize + newBatchThreshold = {concurrency}"]
    return []


_SKIP = re.compile(r"checkov:skip=([^:\s]*)(?::(.*))?")
_SKIP_FORM = re.compile(r"^\s*// #checkov:skip=CKV2?_[A-Z]+_\d+:[A-Z][^\n]{19,}\.$")


def check_checkov_skips(infra: Infra) -> list[str]:
    """Every checkov skip is `// #checkov:skip=CKV_...:One sentence.` inside the resource it excuses."""
    found = []
    for rel, file in infra.files.items():
        bodies = [(r.node.start_point[0], r.node.end_point[0]) for r in file.resources]
        for number, line in enumerate(file.source.splitlines()):
            if not _SKIP.search(line):
                continue
            if not _SKIP_FORM.match(line):
                found.append(f"{rel}:{number + 1}: want '// #checkov:skip=CKV_<ID>:<one sentence>.', got {line.strip()!r}")
            if not any(start < number < end for start, end in bodies):
                found.append(f"{rel}:{number + 1}: a checkov skip outside any resource body excuses nothing")
    return found


CHECKS: list[Callable[[Infra], list[str]]] = [
    check_parses, check_layout, check_keyless_storage, check_queues_and_container, check_flex_function,
    check_app_settings, check_event_grid, check_monitoring, check_role_assignments, check_role_wiring,
    check_no_secrets, check_descriptions, check_naming, check_params_used, check_api_versions,
    check_guards, check_setting_ranges, check_existing_topic, check_hardening, check_private_network,
    check_worker_concurrency, check_checkov_skips,
]
