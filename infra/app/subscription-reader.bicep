// Reader on one watched subscription, so the watcher may GET ARM operation-status URLs there (apim,
// operationalinsights and arm sources). Reader is read-only: */read, no data actions, no secrets.
// Deployed by main.bicep with scope: subscription(<id>) for each id in watchedSubscriptionIds.
targetScope = 'subscription'

@description('Principal (object) id of the watcher identity.')
param principalId string

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader

resource watcherReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
