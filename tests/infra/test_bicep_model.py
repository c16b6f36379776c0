"""The parse-tree helper the infra tests rely on, tried on small good and bad snippets."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling import in any pytest import mode

from bicep_model import UNKNOWN, BicepFile, Failure, evaluate, object_get, problems  # noqa: E402

SNIPPET = """\
targetScope = 'subscription'

@description('Where.')
param location string = 'westeurope'

@description('Base URL.')
param armEndpoint string = 'https://management.azure.com'

param undocumented int = 5

@description('Derived from another parameter.')
param armScope string = '${armEndpoint}/.default'

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader
var settings = {
  POLL: string(undocumented)
  'quoted-key': location == 'x' ? 'a' : 'b'
}

resource grant 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in ids: {
  name: guid(subscription().id, principalId, reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: principalId
  }
}]

module child 'app/child.bicep' = if (true) {
  name: 'child'
  params: {
    scope: armScope
  }
}

output OUT string = armScope
"""


def test_clean_snippet_has_no_problems() -> None:
    assert problems(BicepFile(SNIPPET).root) == []


def test_problems_reports_error_and_missing_nodes() -> None:
    broken = SNIPPET.replace("param location string = 'westeurope'", "param location string = 'westeurope").replace("  name: 'child'\n", "  name: \n")
    found = problems(BicepFile(broken).root)
    assert found and all(" ERROR " in p or " MISSING " in p for p in found)


def test_declarations_decorators_and_scope() -> None:
    file = BicepFile(SNIPPET)
    assert file.target_scope == "subscription"
    assert set(file.params) == {"location", "armEndpoint", "undocumented", "armScope"}
    assert "description" in file.params["location"].decorators
    assert file.params["undocumented"].decorators == {}
    assert [m.type_text for m in file.modules] == ["app/child.bicep"]
    assert file.modules[0].condition is not None
    assert list(file.outputs) == ["OUT"]


def test_env_evaluates_defaults_interpolation_and_string() -> None:
    file = BicepFile(SNIPPET)
    env = file.env()
    assert env["armScope"] == "https://management.azure.com/.default"
    assert env["settings"] == {"POLL": "5", "quoted-key": "b"}
    assert file.env({"armEndpoint": "http://127.0.0.1:1"})["armScope"] == "http://127.0.0.1:1/.default"
    assert file.module_env(file.modules[0], env) == {"scope": "https://management.azure.com/.default"}


def test_evaluate_gives_unknown_rather_than_guessing() -> None:
    file = BicepFile("var x = resourceGroup().location\nvar y = '${x}-suffix'\nvar z = cond ? 'a' : 'b'\n")
    env = file.env()
    assert env["x"] is UNKNOWN and env["y"] is UNKNOWN and env["z"] is UNKNOWN
    assert evaluate(None, {}) is UNKNOWN


def test_role_assignment_is_resolved_to_guid_comment_and_name() -> None:
    (grant,) = BicepFile(SNIPPET).role_assignments()
    assert grant.role_id == "acdd72a7-3385-48ef-bd42-f606fba81ae7"
    assert grant.role_comment == "// Reader"
    assert grant.scope == ""
    assert grant.principal == "principalId"
    assert grant.declaration.loop_variable == "principalId"
    assert grant.name_arguments == ["subscription().id", "principalId", "reader"]


def test_role_assignment_without_the_usual_shape_resolves_to_unknown() -> None:
    odd = "resource r 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n  name: 'fixed'\n  properties: {\n    roleDefinitionId: someId\n  }\n}\n"
    (grant,) = BicepFile(odd).role_assignments()
    assert grant.role_id is UNKNOWN and grant.role_comment == "" and grant.name_arguments == []


def test_object_get_follows_nested_keys() -> None:
    file = BicepFile("var o = {\n  a: {\n    b: 'deep'\n  }\n}\n")
    value = file.variables["o"].value
    assert evaluate(object_get(value, "a", "b"), {}) == "deep"
    assert object_get(value, "a", "missing") is None


GUARDED = """\
param low int = 5
param high int = 300
param sink string = 'queue'
param topic string = ''
var checked = low <= high ? high : fail('low (${low}) must not be greater than high (${high}).')
var sinkChecked = sink == 'queue' || !empty(topic) ? sink : fail('sink needs a topic')
var https = empty(topic) || startsWith(topic, 'https://') ? topic : fail('topic must be https')
var sum = low + 3
var mod = child.outputs.value
var unknownCompare = resourceGroup().location == 'x'
"""


def test_fail_evaluates_to_a_failure_carrying_its_message() -> None:
    file = BicepFile(GUARDED)
    assert file.env()["checked"] == 300
    assert file.env({"low": 400})["checked"] == Failure("low (400) must not be greater than high (300).")
    assert file.env({"low": 300})["checked"] == 300  # equal is fine


def test_logical_operators_short_circuit_like_arm() -> None:
    file = BicepFile(GUARDED)
    assert file.env()["sinkChecked"] == "queue"
    assert file.env({"sink": "eventgrid"})["sinkChecked"] == Failure("sink needs a topic")
    assert file.env({"sink": "eventgrid", "topic": "https://t"})["sinkChecked"] == "eventgrid"
    assert file.env({"topic": "http://t"})["https"] == Failure("topic must be https")
    assert file.env({"topic": "HTTPS://t"})["https"] == "HTTPS://t"


def test_arithmetic_members_and_unknowns() -> None:
    file = BicepFile(GUARDED)
    assert file.env()["sum"] == 8
    assert file.env()["mod"] is UNKNOWN
    assert file.env(known={"child": {"outputs": {"value": "v"}}})["mod"] == "v"
    assert file.env()["unknownCompare"] is UNKNOWN
