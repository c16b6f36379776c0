"""ARM's path grammar (shared/core/arm_paths.py): real resource ids and status URLs parse, hostile paths do not.

The corpus of real ids comes from the public REST specs' examples and the ids Azure prints
(azure-rest-api-specs, the ARM async-operation docs, azure-sdk recordings, Terraform's import ids).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core.arm_paths import ArmPathError, is_operation_type, operation_status_path, parse_arm_path, resource_id

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"

#: (resourceId, ARM type, name): real ids, every scope and shape.
REAL_RESOURCE_IDS = [
    (f"{SUB}/resourceGroups/myResourceGroup", "Microsoft.Resources/resourceGroups", "myResourceGroup"),
    (f"{SUB}/resourcegroups/rg1/providers/Microsoft.Resources/deployments/my-deployment", "Microsoft.Resources/deployments", "my-deployment"),
    (f"{SUB}/providers/Microsoft.Resources/deployments/azuredeploy", "Microsoft.Resources/deployments", "azuredeploy"),
    ("/providers/Microsoft.Management/managementGroups/my-management-group-id/providers/Microsoft.Resources/deployments/deploy1",
     "Microsoft.Resources/deployments", "deploy1"),
    ("/providers/Microsoft.Resources/deployments/Deploy01", "Microsoft.Resources/deployments", "Deploy01"),
    ("/providers/Microsoft.Management/managementGroups/my-management-group-id", "Microsoft.Management/managementGroups", "my-management-group-id"),
    (f"{SUB}/resourceGroups/contoso/providers/Microsoft.Search/searchServices/contoso-search/sharedPrivateLinkResources/blob-pe",
     "Microsoft.Search/searchServices/sharedPrivateLinkResources", "blob-pe"),
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/subnet1",
     "Microsoft.Network/virtualNetworks/subnets", "subnet1"),
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.Sql/servers/sqlcrudtest-4645/databases/testdb",
     "Microsoft.Sql/servers/databases", "testdb"),
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.Web/sites/sitef6141/slots/staging/config/web",
     "Microsoft.Web/sites/slots/config", "web"),
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sto8596/blobServices/default/containers/container6185",
     "Microsoft.Storage/storageAccounts/blobServices/containers", "container6185"),
    (f"{SUB}/resourcegroups/myResourceGroup/providers/Microsoft.ContainerService/managedClusters/myAKSCluster"
     "/providers/Microsoft.Authorization/roleAssignments/b2712174-5a41-4ecb-82c5-12b8ad43d4fb",
     "Microsoft.Authorization/roleAssignments", "b2712174-5a41-4ecb-82c5-12b8ad43d4fb"),
    (f"{SUB}/resourceGroups/marketflow-rg/providers/Microsoft.KeyVault/vaults/marketflow-vault"
     "/providers/Microsoft.Authorization/roleAssignments/b2e92eae-f8c9-4cae-8c31-b9e5e0a12f61",
     "Microsoft.Authorization/roleAssignments", "b2e92eae-f8c9-4cae-8c31-b9e5e0a12f61"),
    (f"{SUB}/providers/Microsoft.Authorization/roleAssignments/baa6e199-ad19-4667-b768-623fde31aedd",
     "Microsoft.Authorization/roleAssignments", "baa6e199-ad19-4667-b768-623fde31aedd"),
    (f"{SUB}/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/b402bd74-157f-425c-bf7d-0ed3a3a58100",
     "Microsoft.Authorization/roleAssignments", "b402bd74-157f-425c-bf7d-0ed3a3a58100"),
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1/providers/Microsoft.Insights/diagnosticSettings/service",
     "Microsoft.Insights/diagnosticSettings", "service"),
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.OperationalInsights/workspaces/oiautorest6685",
     "Microsoft.OperationalInsights/workspaces", "oiautorest6685"),
    (f"{SUB}/resourceGroups/operations/providers/Microsoft.OperationsManagement/solutions/Updates(ws1)",
     "Microsoft.OperationsManagement/solutions", "Updates(ws1)"),
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.ApiManagement/service/apimService1/apis/echo-api/operations/create-resource",
     "Microsoft.ApiManagement/service/apis/operations", "create-resource"),
    # extension resources on nested children, on resource groups, on management groups and at tenant scope
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa1/blobServices/default/containers/c1"
     "/providers/Microsoft.Authorization/roleAssignments/05c5a614-a7d6-4502-b150-c2fb455033ff",
     "Microsoft.Authorization/roleAssignments", "05c5a614-a7d6-4502-b150-c2fb455033ff"),
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.Sql/servers/s1/databases/db1/providers/Microsoft.Insights/diagnosticSettings/ds1",
     "Microsoft.Insights/diagnosticSettings", "ds1"),
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.Authorization/locks/lock1", "Microsoft.Authorization/locks", "lock1"),
    ("/providers/Microsoft.Management/managementGroups/MyManagementGroup/providers/Microsoft.Authorization/policyAssignments/EnforceNaming",
     "Microsoft.Authorization/policyAssignments", "EnforceNaming"),
    ("/providers/Microsoft.Management/managementGroups/mg1/providers/Microsoft.Authorization/roleAssignments/"
     "b0f43c54-e787-4862-89b1-a653fa9cf747", "Microsoft.Authorization/roleAssignments", "b0f43c54-e787-4862-89b1-a653fa9cf747"),
    ("/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
     "Microsoft.Authorization/roleDefinitions", "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
    # subscription-level resources, children with dotted names, resource groups named with ARM's allowed punctuation
    (f"{SUB}/providers/Microsoft.Security/pricings/VirtualMachines", "Microsoft.Security/pricings", "VirtualMachines"),
    (f"{SUB}/resourceGroups/templateSpecRG/providers/Microsoft.Resources/templateSpecs/simpleTemplateSpec/versions/v1.0",
     "Microsoft.Resources/templateSpecs/versions", "v1.0"),
    (f"{SUB}/resourceGroups/rg.prod_(west)-1/providers/Microsoft.Resources/deploymentScripts/MyDeploymentScript",
     "Microsoft.Resources/deploymentScripts", "MyDeploymentScript"),
    (f"{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/aks1/agentPools/nodepool1",
     "Microsoft.ContainerService/managedClusters/agentPools", "nodepool1"),
]

#: Real status URLs' paths (Azure-AsyncOperation / Location values): every one is an operation.
REAL_STATUS_PATHS = [
    f"{SUB}/providers/Microsoft.Compute/locations/westus/operations/840391d3-fe88-4cfd-8866-da9cf84e5fb8",
    f"{SUB}/providers/Microsoft.Storage/operations/337358c9-9644-4b6c-a652-542a0295601d",
    f"{SUB}/providers/Microsoft.Storage/locations/eastus/asyncoperations/0d3c2b7d-3e3c-4d0b-9a3f-1c0f8a1e2b3c",
    f"{SUB}/providers/Microsoft.OperationalInsights/locations/eastus/operationStatuses/operation-id",
    f"{SUB}/resourceGroups/myjstest/providers/Microsoft.Sql/locations/eastus/databaseAzureAsyncOperation/8596fda7-a569-4772-b4b3-8b631d794833",
    f"{SUB}/resourceGroups/myjstest/providers/Microsoft.Sql/locations/eastus/databaseOperationResults/8596fda7-a569-4772-b4b3-8b631d794833",
    f"{SUB}/resourceGroups/contoso/providers/Microsoft.Search/searchServices/contoso-search/sharedPrivateLinkResources/blob-pe/operationStatuses/08586060559526078782",
    f"{SUB}/resourceGroups/contoso/providers/Microsoft.SignalRService/webPubSub/contoso-webpubsub/operationStatuses/c0786383-8d5f-4554-8d17-f16fcf482fb2",
    f"{SUB}/resourcegroups/rg/providers/Microsoft.Resources/deployments/d/operationStatuses/08584936342410000000",
    f"{SUB}/providers/Microsoft.DocumentDB/locations/westus/operationsStatus/1",
    f"{SUB}/providers/Microsoft.Web/locations/westus/operationResults/abc",
    f"{SUB}/operationresults/eyJqb2JJZCI6IlJFU09VUkNFR1JPVVBERUxFVElPTkpPQi1SRzEtRUFTVFVTIn0",
    "/providers/Microsoft.Management/managementGroups/mg/providers/Microsoft.Resources/deployments/d/operationStatuses/1",
    "/providers/Microsoft.Resources/deployments/d/operationStatuses/1",
    f"{SUB}/providers/Microsoft.Compute/locations/westus/OPERATIONS/1",
]

#: Paths that are not an operation status resource, though a word search would have passed them.
NOT_OPERATIONS = [
    f"{SUB}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces",
    f"{SUB}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w",
    f"{SUB}/resourceGroups/operations-rg",
    f"{SUB}/resourceGroups/operations",
    f"{SUB}/resourceGroups/operations/providers/Microsoft.Web/sites/app",
    f"{SUB}/resourceGroups/rg/providers/Microsoft.OperationsManagement/solutions/s",
    f"{SUB}/providers/Microsoft.OperationsManagement/operations",  # the provider's operation listing
    f"{SUB}/providers/Microsoft.Compute/locations/westus/operations",  # a collection
    f"{SUB}/providers/Microsoft.Compute/locations/westus/operations/1/extra",
    f"{SUB}/providers/Microsoft.Web/operationResults/1/providers/Microsoft.KeyVault/vaults/v",
    f"{SUB}/providers/Microsoft.Operations/locations/westus",
    "/operations/1",
    "/tenants/t/operations/1",
    f"{SUB}",
]

#: Hostile or malformed paths: never a resource id, never a status path.
HOSTILE = [
    f"{SUB}/resourceGroups/rg/../../providers/Microsoft.Web/operations/1",
    f"{SUB}/resourceGroups/./providers/Microsoft.Web/sites/a",
    f"{SUB}//resourceGroups/rg",
    f"{SUB}/resourceGroups/rg/",
    f"{SUB}/resourceGroups/rg?api-version=1",
    f"{SUB}/resourceGroups/rg#x",
    f"{SUB}/resourceGroups/rg%2f..%2fx",
    f"{SUB}/resourceGroups/%2e%2e",
    f"{SUB}/resourceGroups/rg%5cx",
    f"{SUB}/resourceGroups/rg%00",
    f"{SUB}/resourceGroups/r g",
    f"{SUB}/resourceGroups/rg\\x",
    f"{SUB}/resourceGroups/r\u00e9",
    f"{SUB}/resourceGroups/rg/providers",
    f"{SUB}/resourceGroups/rg/providers/Microsoft.Web",
    f"{SUB}/resourceGroups/rg/providers/NotANamespace/sites/a",
    f"{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites",
    f"{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/a/subscriptions/b",
    "subscriptions/x/resourceGroups/rg",
    "https://management.azure.com/subscriptions/x/resourceGroups/rg",
    "//management.azure.com/subscriptions/x",
    "/subscriptions",
    "/subscriptions/x/resourceGroups",
    "/",
    "",
    "/" + "a/" * 2000,
]


@pytest.mark.parametrize(("path", "arm_type", "name"), REAL_RESOURCE_IDS)
def test_real_resource_ids_parse_with_their_type_and_name(path: str, arm_type: str, name: str) -> None:
    parsed = resource_id(path)
    assert parsed.type == arm_type
    assert parsed.name == name


def test_deployments_at_every_scope_are_deployments() -> None:
    deployments = [path for path, arm_type, _ in REAL_RESOURCE_IDS if arm_type == "Microsoft.Resources/deployments"]
    assert len(deployments) == 4  # resource group, subscription, management group, tenant
    assert all(resource_id(path).is_deployment for path in deployments)
    assert not resource_id(f"{SUB}/resourceGroups/rg").is_deployment


def test_an_extension_resource_keeps_its_target_blocks() -> None:
    parsed = resource_id(REAL_RESOURCE_IDS[11][0])
    assert [block.namespace for block in parsed.blocks] == ["Microsoft.ContainerService", "Microsoft.Authorization"]
    assert parsed.resource_group == "myResourceGroup" and parsed.subscription == SUB.rsplit("/", 1)[1]


@pytest.mark.parametrize("path", REAL_STATUS_PATHS)
def test_real_status_urls_name_an_operation(path: str) -> None:
    assert operation_status_path(path).name == path.rsplit("/", 1)[1]
    assert operation_status_path(path + "/").name == path.rsplit("/", 1)[1]  # one trailing slash: ARM ignores it


@pytest.mark.parametrize("path", NOT_OPERATIONS + HOSTILE)
def test_other_paths_are_not_operations(path: str) -> None:
    with pytest.raises(ArmPathError):
        operation_status_path(path)


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_are_not_resource_ids(path: str) -> None:
    with pytest.raises(ArmPathError):
        resource_id(path)


def test_a_bare_subscription_is_not_a_resource_id() -> None:
    with pytest.raises(ArmPathError, match="subscription"):
        resource_id(SUB)


@pytest.mark.parametrize("word", ["operations", "operationStatuses", "OperationResults", "asyncOperations", "operationsStatus",
                                  "databaseOperationResults", "databaseAzureAsyncOperation", "serverAzureAsyncOperation"])
def test_operation_words(word: str) -> None:
    assert is_operation_type(word) and is_operation_type(word.upper())


@pytest.mark.parametrize("word", ["workspaces", "operation", "operationalInsights", "operationsManagement", "solutions"])
def test_words_that_are_not_operations(word: str) -> None:
    assert not is_operation_type(word)


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_arm_path_error(text: str) -> None:
    try:
        parsed = parse_arm_path(text)
    except ArmPathError:
        return
    rebuilt = "/" + "/".join(
        ([f"subscriptions/{parsed.subscription}"] if parsed.subscription is not None else [])
        + ([f"resourceGroups/{parsed.resource_group}"] if parsed.resource_group is not None else [])
        + [f"{p.type}/{p.name}" for p in parsed.builtin]
        + [f"providers/{b.namespace}/" + "/".join(f"{p.type}/{p.name}" for p in b.pairs) for b in parsed.blocks]
    )
    assert rebuilt.lower() == text.lower()  # the parse loses nothing (keywords compare in any case)
