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

@description('Resource id of the subnet (delegated to Microsoft.App/environments) the app integrates with; empty: no VNet integration.')
param virtualNetworkSubnetId string = ''

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // #checkov:skip=CKV_AZURE_225:The watcher only consumes queues, so losing a zone delays polls without losing work: the messages wait in zone-redundant storage (the Standard_ZRS default).
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
  // #checkov:skip=CKV_AZURE_222:The app has no HTTP function, but azd deploys its package through the app's scm endpoint, which must stay reachable; basic auth is off, so that endpoint takes Entra tokens only.
  // #checkov:skip=CKV_AZURE_17:Client certificates guard HTTP functions, and this app has none: it is triggered by a queue.
  // #checkov:skip=CKV_AZURE_212:Flex Consumption scales the instance count with the queue length, from zero; always-ready instances would cost money to poll an empty queue.
  // #checkov:skip=CKV_AZURE_213:A health check probes an HTTP path, and this queue-triggered app serves none.
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
    virtualNetworkSubnetId: !empty(virtualNetworkSubnetId) ? virtualNetworkSubnetId : null
    siteConfig: {
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
      http20Enabled: true
    }
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
    // #checkov:skip=CKV_AZURE_222:The app has no HTTP function, but azd deploys its package through the app's scm endpoint, which must stay reachable; basic auth is off, so that endpoint takes Entra tokens only.
    // #checkov:skip=CKV_AZURE_13:App Service Authentication guards HTTP requests, and this queue-triggered app serves none.
    // #checkov:skip=CKV_AZURE_63:App Service HTTP logs record HTTP requests, and this app serves none; its logs go to Application Insights.
    // #checkov:skip=CKV_AZURE_65:Detailed error pages are for HTTP responses, and this app serves none; failures are logged to Application Insights.
    // #checkov:skip=CKV_AZURE_66:Failed request tracing is for HTTP requests, and this app serves none; failures are logged to Application Insights.
    // #checkov:skip=CKV_AZURE_80:The app runs Python 3.11 (functionAppConfig.runtime); it has no .NET Framework version.
    // #checkov:skip=CKV_AZURE_88:Flex Consumption runs the app from a blob container package and has no Azure Files content share.
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

// Basic-auth publishing off: FTP and the scm (Kudu) site accept Entra tokens only (azd deploys with one).
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = functionApp.id
output name string = functionApp.name
output url string = 'https://${functionApp.properties.defaultHostName}'
