// Read access to one Dev Center project, so the watcher may GET
// https://<devcenter>.devcenter.azure.com/projects/<project>/operationstatuses/<id>.
//
// No built-in role names an operationStatuses data action; the Dev Center roles grant
// Microsoft.DevCenter/projects/read and projects/*/read. Deployment Environments Reader is the
// read-only one (it adds read-only environment data actions); DevCenter Project Admin also reads,
// but can change and delete every dev box and environment, so it is not granted here.
// Deployed by main.bicep into the project's resource group for each id in devCenterProjectIds.

@description('Name of the existing Dev Center project in this resource group.')
param projectName string

@description('Principal (object) id of the watcher identity.')
param principalId string

var deploymentEnvironmentsReader = 'eb960402-bf75-4cc3-8d68-35b34f960f72' // Deployment Environments Reader

resource project 'Microsoft.DevCenter/projects@2024-02-01' existing = {
  name: projectName
}

resource watcherProjectReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(project.id, principalId, deploymentEnvironmentsReader)
  scope: project
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', deploymentEnvironmentsReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
