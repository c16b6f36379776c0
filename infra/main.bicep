// lro-watcher: everything `azd up` (or `az deployment sub create`) needs, with no key anywhere.
//
// One resource group holding: a user-assigned identity, a keyless storage account (the three
// queues + the Flex Consumption deployment container), Log Analytics + Application Insights
// (Entra-only ingestion), a Flex Consumption (FC1) Python 3.11 function app and, optionally, an
// Event Grid custom topic (CloudEvents 1.0, Entra-only); with vnetEnabled, a virtual network, the
// app's VNet integration and private endpoints, and no public access to storage or the topic.
// Outside the group: Reader on each watched subscription, a read-only Dev Center role on each watched
// project and, for an existing topic (eventGridTopicId), EventGrid Data Sender on that topic.
//
// Guards (app/guards.bicep): a parameter combination the watcher would refuse at start-up fails the
// deployment before anything is created, with a message naming the parameter.
targetScope = 'subscription'

// ---------------------------------------------------------------- where and who

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds the unique token in every resource name and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Azure region for every resource. Pick one that offers the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person or pipeline running the deployment (azd fills it). When set, it may enqueue requests and read results, like a producer and a consumer. Leave empty to grant nothing.')
param principalId string = ''

@description('Name of the resource group to create or reuse; empty means rg-<environmentName>.')
param resourceGroupName string = ''

// ---------------------------------------------------------------- hosting

@minValue(1)
@maxValue(1000)
@description('Flex Consumption: the most instances the app may scale out to.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption: memory of each instance, in MB.')
param instanceMemoryMB int = 2048

@description('Create an Event Grid custom topic (CloudEvents 1.0, Entra auth only) and point EVENTGRID_TOPIC_ENDPOINT at it.')
param deployEventGridTopic bool = false

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Redundancy of the storage account holding the queues and the app package. Standard_ZRS (the default) survives the loss of a zone; pick Standard_LRS in a region without availability zones. See docs/deploy.md.')
param storageSkuName string = 'Standard_ZRS'

@description('Private networking: a virtual network, the app integrated into it (subnet delegated to Microsoft.App/environments), private endpoints and private DNS zones for the storage queue and blob services (and the topic when deployEventGridTopic), and public network access disabled on them. Producers, consumers and operators must then reach the queues from inside that network.')
param vnetEnabled bool = false

@minValue(1)
@maxValue(1000)
@description('PYTHON_THREADPOOL_THREAD_COUNT: threads the Python worker runs the (synchronous) function on in each instance. The default is host.json\'s queue concurrency, batchSize 16 + newBatchThreshold 8 = 24, so every message the host hands over is polled at once.')
param pythonThreadpoolThreadCount int = 24

// ---------------------------------------------------------------- who can do what

@description('Subscription ids whose ARM operations the watcher polls (sources apim, operationalinsights, arm). The watcher identity gets Reader on each; the deploying principal needs Owner or User Access Administrator there.')
param watchedSubscriptionIds array = []

@description('Resource ids of the Dev Center projects whose operations the watcher polls (source devcenter), e.g. /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.DevCenter/projects/<name>. The watcher identity gets Deployment Environments Reader on each.')
param devCenterProjectIds array = []

@description('Object ids of pipelines or apps that submit requests. Each gets Storage Queue Data Message Sender on the operations queue only.')
param producerPrincipalIds array = []

@description('Object ids of apps that read outcomes. Each gets Storage Queue Data Message Processor on the results queue only.')
param consumerPrincipalIds array = []

@description('Object ids of operators (users, groups or identities running tools.poison and tools.results). Each gets Storage Queue Data Message Processor on the poison queue, Storage Queue Data Message Sender on the operations queue (replay) and Storage Queue Data Reader on the results queue (peek), each on that queue only.')
param operatorPrincipalIds array = []

// ---------------------------------------------------------------- watcher settings (README "Settings"), contract defaults

@minLength(3)
@maxLength(56)
@description('OPERATIONS_QUEUE: the request queue; its poison queue is <name>-poison. Lowercase letters, digits and hyphens.')
param operationsQueue string = 'operations'

@minLength(3)
@maxLength(63)
@description('RESULTS_QUEUE: the queue outcomes are published to.')
param resultsQueue string = 'operation-results'

@allowed([
  'queue'
  'eventgrid'
  'both'
])
@description('RESULT_SINK: where outcomes go. eventgrid and both need a topic: deployEventGridTopic, eventGridTopicId or eventGridTopicEndpoint (the deployment fails otherwise).')
param resultSink string = 'queue'

@description('Resource id of an Event Grid topic you already have (/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.EventGrid/topics/<name>). The watcher identity gets EventGrid Data Sender on it and EVENTGRID_TOPIC_ENDPOINT is read from it; the deploying principal needs Owner or User Access Administrator there. Ignored when deployEventGridTopic is true.')
param eventGridTopicId string = ''

@description('EVENTGRID_TOPIC_ENDPOINT (https://...) for a topic you already have but whose roles you do not manage; someone must grant the watcher identity EventGrid Data Sender there. Ignored when deployEventGridTopic is true or eventGridTopicId is set.')
param eventGridTopicEndpoint string = ''

@description('EVENT_SOURCE: the CloudEvent source attribute.')
param eventSource string = 'lro-watcher'

@description('ARM_ENDPOINT: ARM base URL; change it for sovereign clouds.')
param armEndpoint string = 'https://management.azure.com'

@description('ARM_SCOPE: token scope for ARM sources.')
param armScope string = '${armEndpoint}/.default'

@description('DEVCENTER_SCOPE: token scope for Dev Center data-plane status URLs.')
param devCenterScope string = 'https://devcenter.azure.com/.default'

@description('STATUS_HOST_ALLOWLIST: comma-separated host[:port] list devcenter endpoints must match; a leading *. matches subdomains.')
param statusHostAllowlist string = '*.devcenter.azure.com'

@description('DATAPLANE_HOSTS: pattern=scope entries separated by ;, the data-plane hosts dataplane requests may name and the token scope each gets.')
param dataplaneHosts string = '*.devcenter.azure.com=https://devcenter.azure.com/.default'

@description('CALLBACK_HOST_ALLOWLIST: comma-separated host[:port] list an Azure Pipelines planUrl (the watch HTTP function\'s PlanUrl header) must match.')
param callbackHostAllowlist string = 'dev.azure.com,*.visualstudio.com'

@description('PUBLISH_PROGRESS: publish LroWatcher.Operation.Progress events to Event Grid when a status or percentComplete changes.')
param publishProgress bool = false

@minValue(0)
@maxValue(604800)
@description('POLL_MIN_DELAY_SECONDS: lower clamp of the re-enqueue delay; at most pollMaxDelaySeconds.')
param pollMinDelaySeconds int = 5

@minValue(0)
@maxValue(604800)
@description('POLL_MAX_DELAY_SECONDS: upper clamp of the re-enqueue delay; a Storage queue message can be hidden for at most 7 days (604,800 s).')
param pollMaxDelaySeconds int = 300

@minValue(1)
@maxValue(2592000)
@description('POLL_DEFAULT_TIMEOUT_SECONDS: deadline of a request that has no timeoutSeconds.')
param pollDefaultTimeoutSeconds int = 86400

@minValue(1)
@maxValue(10000)
@description('POLL_MAX_FAILURES: consecutive failed status reads before the outcome is PollingFailed.')
param pollMaxFailures int = 10

@minValue(1)
@maxValue(60)
@description('STATUS_READ_TIMEOUT_SECONDS: the deadline of one status read as a whole (connect, headers and body); a slower or dripping answer is a failed read, retried later.')
param statusReadTimeoutSeconds int = 30

@minValue(0)
@maxValue(12000)
@description('ARM_READS_RESERVE: when ARM says fewer subscription reads than this remain (x-ms-ratelimit-remaining-subscription-reads), the watcher stretches its polling delays.')
param armReadsReserve int = 100

// ---------------------------------------------------------------- names

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionApp = '${abbrs.webSitesFunctions}${resourceToken}'
// Flex Consumption pulls the app package from this blob container.
var deploymentContainer = 'app-package-${take(functionApp, 32)}-${take(resourceToken, 7)}'
// The deployer is a producer and a consumer too, so `azd up` can be followed by a test request.
var deployerIds = empty(principalId) ? [] : [
  principalId
]

// A bad parameter combination fails here, before the resource group (and so anything) is created.
module guards 'app/guards.bicep' = {
  name: 'lro-watcher-guards-${resourceToken}'
  params: {
    resultSink: resultSink
    deployEventGridTopic: deployEventGridTopic
    eventGridTopicId: eventGridTopicId
    eventGridTopicEndpoint: eventGridTopicEndpoint
    pollMinDelaySeconds: pollMinDelaySeconds
    pollMaxDelaySeconds: pollMaxDelaySeconds
  }
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
  dependsOn: [
    guards
  ]
}

// ---------------------------------------------------------------- resources

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    publicNetworkAccess: !vnetEnabled
    operationsQueueName: operationsQueue
    resultsQueueName: resultsQueue
    deploymentContainerName: deploymentContainer
    appPrincipalId: identity.outputs.principalId
    producerPrincipalIds: union(producerPrincipalIds, deployerIds)
    consumerPrincipalIds: union(consumerPrincipalIds, deployerIds)
    operatorPrincipalIds: operatorPrincipalIds
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
  }
}

module eventGrid 'app/eventgrid.bicep' = if (deployEventGridTopic) {
  name: 'eventgrid'
  scope: rg
  params: {
    name: '${abbrs.eventGridDomainsTopics}${resourceToken}'
    location: location
    tags: tags
    publicNetworkAccess: !vnetEnabled
    appPrincipalId: identity.outputs.principalId
  }
}

// An existing topic (eventGridTopicId): EventGrid Data Sender there, and its endpoint read back.
// A topic id is /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.EventGrid/topics/<name>.
module existingTopicSender 'app/eventgrid-sender.bicep' = if (!deployEventGridTopic && !empty(eventGridTopicId)) {
  name: 'lro-watcher-topic-${uniqueString(eventGridTopicId, resourceToken)}'
  scope: resourceGroup(split(eventGridTopicId, '/')[2], split(eventGridTopicId, '/')[4])
  params: {
    topicName: last(split(eventGridTopicId, '/'))
    principalId: identity.outputs.principalId
  }
}

// ---------------------------------------------------------------- private networking (vnetEnabled)

module vnet 'app/vnet.bicep' = if (vnetEnabled) {
  name: 'vnet'
  scope: rg
  params: {
    name: '${abbrs.networkVirtualNetworks}${resourceToken}'
    location: location
    tags: tags
  }
}

module blobPrivateEndpoint 'app/private-endpoint.bicep' = if (vnetEnabled) {
  name: 'blob-private-endpoint'
  scope: rg
  params: {
    name: '${abbrs.networkPrivateLinkServices}blob-${resourceToken}'
    location: location
    tags: tags
    virtualNetworkName: vnet.outputs.name
    subnetId: vnet.outputs.privateEndpointSubnetId
    targetResourceId: storage.outputs.id
    groupId: 'blob'
    privateDnsZoneName: 'privatelink.blob.${environment().suffixes.storage}'
  }
}

module queuePrivateEndpoint 'app/private-endpoint.bicep' = if (vnetEnabled) {
  name: 'queue-private-endpoint'
  scope: rg
  params: {
    name: '${abbrs.networkPrivateLinkServices}queue-${resourceToken}'
    location: location
    tags: tags
    virtualNetworkName: vnet.outputs.name
    subnetId: vnet.outputs.privateEndpointSubnetId
    targetResourceId: storage.outputs.id
    groupId: 'queue'
    privateDnsZoneName: 'privatelink.queue.${environment().suffixes.storage}'
  }
}

// Event Grid's private DNS zone is the same in every public-cloud region.
module topicPrivateEndpoint 'app/private-endpoint.bicep' = if (vnetEnabled && deployEventGridTopic) {
  name: 'topic-private-endpoint'
  scope: rg
  params: {
    name: '${abbrs.networkPrivateLinkServices}topic-${resourceToken}'
    location: location
    tags: tags
    virtualNetworkName: vnet.outputs.name
    subnetId: vnet.outputs.privateEndpointSubnetId
    targetResourceId: eventGrid.outputs.id
    groupId: 'topic'
    privateDnsZoneName: 'privatelink.eventgrid.azure.net'
  }
}

// ---------------------------------------------------------------- guards and app settings

var topicEndpoint = deployEventGridTopic ? eventGrid.outputs.endpoint : (!empty(eventGridTopicId) ? existingTopicSender.outputs.endpoint : guards.outputs.eventGridTopicEndpoint)

// Every setting of the contract (README "Settings") except the Event Grid key: the watcher
// authenticates to Event Grid with its identity, so there is no key to set. AzureWebJobsStorage__*
// and AZURE_CLIENT_ID are added by app/function.bicep, which knows the identity and the endpoints.
var watcherSettings = {
  OPERATIONS_QUEUE: operationsQueue
  RESULTS_QUEUE: resultsQueue
  RESULT_SINK: guards.outputs.resultSink
  EVENTGRID_TOPIC_ENDPOINT: topicEndpoint
  EVENT_SOURCE: eventSource
  ARM_ENDPOINT: armEndpoint
  ARM_SCOPE: armScope
  DEVCENTER_SCOPE: devCenterScope
  STATUS_HOST_ALLOWLIST: statusHostAllowlist
  DATAPLANE_HOSTS: dataplaneHosts
  CALLBACK_HOST_ALLOWLIST: callbackHostAllowlist
  PUBLISH_PROGRESS: publishProgress ? 'true' : 'false'
  POLL_MIN_DELAY_SECONDS: string(pollMinDelaySeconds)
  POLL_MAX_DELAY_SECONDS: string(guards.outputs.pollMaxDelaySeconds)
  POLL_DEFAULT_TIMEOUT_SECONDS: string(pollDefaultTimeoutSeconds)
  POLL_MAX_FAILURES: string(pollMaxFailures)
  STATUS_READ_TIMEOUT_SECONDS: string(statusReadTimeoutSeconds)
  ARM_READS_RESERVE: string(armReadsReserve)
  // The Python worker's thread pool for synchronous functions (README "Concurrency").
  PYTHON_THREADPOOL_THREAD_COUNT: string(pythonThreadpoolThreadCount)
}

module api 'app/function.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionApp
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    deploymentContainerName: deploymentContainer
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    virtualNetworkSubnetId: vnetEnabled ? vnet.outputs.appSubnetId : ''
    appSettings: watcherSettings
  }
  // With vnetEnabled the app reaches storage only through the private endpoints: create them first.
  dependsOn: [
    blobPrivateEndpoint
    queuePrivateEndpoint
  ]
}

// ---------------------------------------------------------------- access outside the resource group

module watchedSubscriptionReader 'app/subscription-reader.bicep' = [for subscriptionId in watchedSubscriptionIds: {
  name: 'lro-watcher-reader-${uniqueString(subscriptionId, resourceToken)}'
  scope: subscription(subscriptionId)
  params: {
    principalId: identity.outputs.principalId
  }
}]

// A project resource id is /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.DevCenter/projects/<name>.
module devCenterProjectReader 'app/devcenter-project-reader.bicep' = [for projectId in devCenterProjectIds: {
  name: 'lro-watcher-devcenter-${uniqueString(projectId, resourceToken)}'
  scope: resourceGroup(split(projectId, '/')[2], split(projectId, '/')[4])
  params: {
    projectName: last(split(projectId, '/'))
    principalId: identity.outputs.principalId
  }
}]

// ---------------------------------------------------------------- outputs (azd stores them in .azure/<env>/.env); no secret here

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_APP_URL string = api.outputs.url
output WATCHER_CLIENT_ID string = identity.outputs.clientId
output WATCHER_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output OPERATIONS_QUEUE string = storage.outputs.operationsQueueName
output RESULTS_QUEUE string = storage.outputs.resultsQueueName
output POISON_QUEUE string = storage.outputs.poisonQueueName
output OPERATIONS_QUEUE_URL string = '${storage.outputs.queueEndpoint}${storage.outputs.operationsQueueName}'
output RESULTS_QUEUE_URL string = '${storage.outputs.queueEndpoint}${storage.outputs.resultsQueueName}'
output POISON_QUEUE_URL string = '${storage.outputs.queueEndpoint}${storage.outputs.poisonQueueName}'
output RESULT_SINK string = guards.outputs.resultSink
output EVENTGRID_TOPIC_ENDPOINT string = topicEndpoint
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
