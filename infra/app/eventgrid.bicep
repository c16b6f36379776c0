// Optional Event Grid custom topic for outcomes (RESULT_SINK eventgrid or both). CloudEvents 1.0
// input schema, matching what the watcher posts; local (key and SAS) auth off, so publishing needs an
// Entra token and the EventGrid Data Sender role.

@description('Name of the Event Grid topic.')
param name string

@description('Azure region of the topic.')
param location string

@description('Tags applied to the topic.')
param tags object = {}

@description('Principal (object) id of the watcher identity.')
param appPrincipalId string

@description('Accept publishing from public networks. false: only through a private endpoint (main.bicep vnetEnabled).')
param publicNetworkAccess bool = true

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7' // EventGrid Data Sender

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  // #checkov:skip=CKV_AZURE_193:Publishing is public by default so that a watcher outside a virtual network can reach the topic; it needs an Entra token (local auth is off), and vnetEnabled disables public access.
  // #checkov:skip=CKV_AZURE_191:A topic's own managed identity only serves event subscriptions that deliver with it; this template creates no subscription, and the watcher publishes with its own identity.
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'
  }
}

// The watcher publishes outcome events to this topic and nowhere else.
resource appSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, appPrincipalId, eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output id string = topic.id
output name string = topic.name
output endpoint string = topic.properties.endpoint
