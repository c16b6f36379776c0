// Keyless storage: the request, result and poison queues, the Flex Consumption deployment container,
// and who may touch which queue. Shared keys are off, so every caller authenticates with Entra ID and
// needs one of the role assignments below.

@description('Name of the storage account (3-24 lowercase letters and digits, globally unique).')
param name string

@description('Azure region of the storage account.')
param location string

@description('Tags applied to the storage account.')
param tags object = {}

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Redundancy (SKU) of the storage account.')
param skuName string = 'Standard_ZRS'

@description('Accept traffic from public networks. false: only through private endpoints (main.bicep vnetEnabled).')
param publicNetworkAccess bool = true

@description('Name of the request queue (OPERATIONS_QUEUE); the poison queue is <name>-poison.')
param operationsQueueName string

@description('Name of the result queue (RESULTS_QUEUE).')
param resultsQueueName string

@description('Name of the blob container Flex Consumption deploys the app package from.')
param deploymentContainerName string

@description('Principal (object) id of the watcher identity.')
param appPrincipalId string

@description('Object ids that may add messages to the operations queue, and nothing else.')
param producerPrincipalIds array = []

@description('Object ids that may read and delete messages of the results queue, and nothing else.')
param consumerPrincipalIds array = []

@description('Object ids of operators (tools.poison, tools.results): they may read and delete poison entries, add messages to the operations queue (replay) and peek the results queue, and nothing else.')
param operatorPrincipalIds array = []

var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageQueueDataMessageSender = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a' // Storage Queue Data Message Sender
var storageQueueDataMessageProcessor = '8a0f0c08-91a1-4084-bc3d-661d67233fed' // Storage Queue Data Message Processor
var storageQueueDataReader = '19e7f393-937e-4f77-808e-94535e297925' // Storage Queue Data Reader

// Operators replay requests into the operations queue, so they hold the producers' role there. One
// assignment per id for both lists: an id in both (or twice in one) would otherwise declare the same
// guid(scope, principal, role) twice, and union drops such repeats.
var operationsSenderIds = union(producerPrincipalIds, operatorPrincipalIds)
var operatorIds = union(operatorPrincipalIds, [])

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // #checkov:skip=CKV_AZURE_35:Public network access is the default because Flex Consumption without VNet integration reaches storage over its public endpoint; vnetEnabled sets defaultAction Deny.
  // #checkov:skip=CKV_AZURE_59:Public network access is the default because Flex Consumption without VNet integration reaches storage over its public endpoint; vnetEnabled disables it, and shared keys are off either way.
  // #checkov:skip=CKV_AZURE_206:The queues hold short-lived work that producers can resubmit, so zone redundancy (the Standard_ZRS default) is enough; Standard_GRS and Standard_GZRS stay available through storageSkuName.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowCrossTenantReplication: false
    dnsEndpointType: 'Standard'
    publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'
    networkAcls: {
      defaultAction: publicNetworkAccess ? 'Allow' : 'Deny'
      bypass: publicNetworkAccess ? 'AzureServices' : 'None'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource operationsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: operationsQueueName
}

resource resultsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: resultsQueueName
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${operationsQueueName}-poison'
}

// The watcher reads and deletes requests, re-enqueues them, writes results and poison entries.
resource appQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The Functions host keeps its locks and keys in blobs, and Flex Consumption reads the app package
// from the deployment container with the same identity.
resource appBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Producers (deployment pipelines) may add requests, and operators replay poison entries: scoped to
// the operations queue, so they can neither read other requests nor touch results or poison entries.
resource operationsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for senderId in operationsSenderIds: {
  name: guid(operationsQueue.id, senderId, storageQueueDataMessageSender)
  scope: operationsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSender)
    principalId: senderId
  }
}]

// Consumers may peek, receive and delete outcomes: scoped to the results queue only.
resource consumerProcessor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for consumerId in consumerPrincipalIds: {
  name: guid(resultsQueue.id, consumerId, storageQueueDataMessageProcessor)
  scope: resultsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageProcessor)
    principalId: consumerId
  }
}]

// Operators list (also past the 32-message peek, by receiving), replay and discard poison entries:
// scoped to the poison queue only.
resource operatorPoisonProcessor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for operatorId in operatorIds: {
  name: guid(poisonQueue.id, operatorId, storageQueueDataMessageProcessor)
  scope: poisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageProcessor)
    principalId: operatorId
  }
}]

// Operators peek outcomes (tools.results) without receiving them, so the real consumer is not
// disturbed: read-only, scoped to the results queue only.
resource operatorResultsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for operatorId in operatorIds: {
  name: guid(resultsQueue.id, operatorId, storageQueueDataReader)
  scope: resultsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataReader)
    principalId: operatorId
  }
}]

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output operationsQueueName string = operationsQueue.name
output resultsQueueName string = resultsQueue.name
output poisonQueueName string = poisonQueue.name
output deploymentContainerName string = deploymentContainer.name
