// One private endpoint (main.bicep vnetEnabled): the endpoint in the private-endpoints subnet, its
// private DNS zone linked to the virtual network, and the zone group that keeps the zone's A record.
// Shaped like the Flex Consumption quickstarts' infra/app/storage-PrivateEndpoint.bicep, for any service.

@description('Name of the private endpoint.')
param name string

@description('Azure region of the private endpoint (the virtual network\'s region).')
param location string

@description('Tags applied to the endpoint, the zone and the link.')
param tags object = {}

@description('Name of the existing virtual network the DNS zone is linked to.')
param virtualNetworkName string

@description('Resource id of the subnet the endpoint takes its address from.')
param subnetId string

@description('Resource id of the resource behind the endpoint (storage account, Event Grid topic).')
param targetResourceId string

@allowed([
  'blob'
  'queue'
  'topic'
])
@description('Sub-resource (group id) the endpoint connects to.')
param groupId string

@description('Private DNS zone of that sub-resource, e.g. privatelink.queue.core.windows.net.')
param privateDnsZoneName string

resource virtualNetwork 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {
  name: virtualNetworkName
}

resource privateDnsZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: privateDnsZoneName
  location: 'global'
  tags: tags
}

resource dnsZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: privateDnsZone
  name: '${groupId}-link-${take(uniqueString(virtualNetwork.id), 6)}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: virtualNetwork.id
    }
  }
}

resource privateEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: '${groupId}PrivateLinkConnection'
        properties: {
          privateLinkServiceId: targetResourceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource dnsZoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: privateEndpoint
  name: '${groupId}PrivateDnsZoneGroup'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: '${groupId}ARecord'
        properties: {
          privateDnsZoneId: privateDnsZone.id
        }
      }
    ]
  }
}

output id string = privateEndpoint.id
