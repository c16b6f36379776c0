// The watcher: a Python 3.11 function app on a Flex Consumption (FC1) plan. It runs as the
// user-assigned identity and holds no secret: storage, the deployment package, Application Insights
// and Event Grid are all reached with Entra tokens.

@description('Name of the function app (globally unique: <name>.azurewebsites.net).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to the plan and the app.')
param tags object = {}

@description('azd service this app hosts (services.<name> in azure.yaml); azd finds the app by its azd-service-name tag.')
param serviceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId).')
param identityClientId string

@description('Blob endpoint of the storage account, with its trailing slash.')
param blobEndpoint string

@description('Queue endpoint of the storage account, with its trailing slash.')
param queueEndpoint string

@description('Blob container Flex Consumption deploys the app package from.')
param deploymentContainerName string

@description('Name of the existing Application Insights component in this resource group.')
param applicationInsightsName string

@minValue(1)
@maxValue(1000)
@description('Most instances the app may scale out to.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Memory of each instance, in MB.')
param instanceMemoryMB int = 2048

@description('The watcher settings (OPERATIONS_QUEUE, RESULTS_QUEUE, ...); the identity-based settings are added here.')
param appSettings object

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  // Flex Consumption sets the worker runtime and the Functions version itself (functionAppConfig);
  // FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION and the WEBSITE_CONTENT* settings are not
  // allowed here. The host's storage connection is identity-based: no AzureWebJobsStorage string.
  resource settings 'config' = {
    name: 'appsettings'
    properties: union(appSettings, {
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      AzureWebJobsStorage__blobServiceUri: blobEndpoint
      AzureWebJobsStorage__queueServiceUri: queueEndpoint
      AZURE_CLIENT_ID: identityClientId
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    })
  }
}

output id string = functionApp.id
output name string = functionApp.name
output url string = 'https://${functionApp.properties.defaultHostName}'
