# Adds the AADSSHLoginForLinux extension (Microsoft Entra ID login over SSH)
# to an existing Linux VM. The VM needs a system-assigned managed identity.

terraform {
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 3.0"
    }
  }
}

# Root-module use. When calling this directory as a child module, delete this
# block and pass the provider from the caller.
provider "azurerm" {
  features {}
}

locals {
  # No settings unless a private mirror is given.
  mirror_settings = var.mirror_url == "" ? null : jsonencode({
    mirror = {
      url       = var.mirror_url
      publicKey = var.mirror_public_key
    }
  })
}

resource "azurerm_virtual_machine_extension" "aadsshlogin" {
  name                       = "AADSSHLoginForLinux"
  virtual_machine_id         = var.virtual_machine_id
  publisher                  = "Microsoft.Azure.ActiveDirectory"
  type                       = "AADSSHLoginForLinux"
  type_handler_version       = "1.0"
  auto_upgrade_minor_version = true
  settings                   = local.mirror_settings
  tags                       = var.tags
}

output "extension_id" {
  description = "Resource ID of the extension."
  value       = azurerm_virtual_machine_extension.aadsshlogin.id
}
