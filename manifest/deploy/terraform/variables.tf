variable "virtual_machine_id" {
  description = "Resource ID of an existing Linux VM that has a system-assigned managed identity (identity { type = \"SystemAssigned\" } on the azurerm_linux_virtual_machine, or az vm identity assign)."
  type        = string
}

variable "mirror_url" {
  description = "Optional: base URL of a private mirror of packages.microsoft.com. Leave empty to install from packages.microsoft.com and send no settings."
  type        = string
  default     = ""
}

variable "mirror_public_key" {
  description = "Optional: ASCII-armored public key that signs the private mirror. Used only when mirror_url is set."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags for the extension resource."
  type        = map(string)
  default     = {}
}
