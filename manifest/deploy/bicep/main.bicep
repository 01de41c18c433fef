// Adds the AADSSHLoginForLinux extension (Microsoft Entra ID login over SSH)
// to an existing Linux VM. Same content as ../arm/azuredeploy.json.
// The VM must already have a system-assigned managed identity
// (az vm identity assign); declaring only the extension cannot add one.

@description('Name of an existing Linux VM in the deployment\'s resource group, with a system-assigned managed identity.')
param vmName string

@description('Region of the VM. The extension must be in the VM\'s region; change this if the VM is not in the resource group\'s region.')
param location string = resourceGroup().location

@description('Optional: base URL of a private mirror of packages.microsoft.com. Leave empty to install from packages.microsoft.com and send no settings.')
param mirrorUrl string = ''

@description('Optional: ASCII-armored public key that signs the private mirror. Used only when mirrorUrl is set.')
param mirrorPublicKey string = ''

resource vm 'Microsoft.Compute/virtualMachines@2024-07-01' existing = {
  name: vmName
}

resource aadSshLogin 'Microsoft.Compute/virtualMachines/extensions@2024-07-01' = {
  parent: vm
  name: 'AADSSHLoginForLinux'
  location: location
  properties: {
    publisher: 'Microsoft.Azure.ActiveDirectory'
    type: 'AADSSHLoginForLinux'
    typeHandlerVersion: '1.0'
    autoUpgradeMinorVersion: true
    settings: empty(mirrorUrl) ? null : {
      mirror: {
        url: mirrorUrl
        publicKey: mirrorPublicKey
      }
    }
  }
}

output extensionId string = aadSshLogin.id
