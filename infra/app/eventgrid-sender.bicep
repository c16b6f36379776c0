// EventGrid Data Sender on an Event Grid topic that already exists (main.bicep eventGridTopicId), so the
// watcher may publish outcomes to it; the topic's endpoint comes back for EVENTGRID_TOPIC_ENDPOINT.
// Deployed by main.bicep into the topic's resource group, which may be in another subscription.

@description('Name of the existing Event Grid topic in this resource group.')
param topicName string

@description('Principal (object) id of the watcher identity.')
param principalId string

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7' // EventGrid Data Sender

resource topic 'Microsoft.EventGrid/topics@2022-06-15' existing = {
  name: topicName
}

// The watcher publishes outcome events to this topic and nowhere else.
resource watcherSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, principalId, eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = topic.properties.endpoint
