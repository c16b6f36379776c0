// The virtual network of the private option (main.bicep vnetEnabled), shaped like the Flex Consumption
// quickstarts' (Azure-Samples functions-quickstart-*-azd, infra/app/vnet.bicep): one subnet for private
// endpoints, one delegated to Microsoft.App/environments for the function app's VNet integration.

@description('Name of the virtual network.')
param name string

@description('Azure region of the virtual network (the function app\'s region).')
param location string

@description('Tags applied to the virtual network.')
param tags object = {}

@description('Address space of the virtual network; pick one that does not overlap networks you peer it with.')
param addressPrefix string = '10.0.0.0/16'

@description('Subnet of the private endpoints (storage blob and queue, the topic).')
param privateEndpointSubnetPrefix string = '10.0.1.0/24'

@description('Subnet the function app integrates with (a /27 at least; Flex Consumption uses one address per instance).')
param appSubnetPrefix string = '10.0.2.0/24'

resource virtualNetwork 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'private-endpoints-subnet'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
          privateLinkServiceNetworkPolicies: 'Enabled'
        }
      }
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          // Flex Consumption integrates through a subnet delegated to Microsoft.App/environments.
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
          privateEndpointNetworkPolicies: 'Disabled'
          privateLinkServiceNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

output id string = virtualNetwork.id
output name string = virtualNetwork.name
output privateEndpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', virtualNetwork.name, 'private-endpoints-subnet')
output appSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', virtualNetwork.name, 'app')
