packer {
  required_plugins {
    proxmox = {
      source = "github.com/hashicorp/proxmox"
      version = ">= 1.2.3"
    }
  }
}

variable "node" {
  type = string
  default = "pve2"
}

variable "vm_id" {
  type = number
  default = 9100
}

variable "vm_name" {
  type = string
  default = "ubuntu-24-04-2026-11-ga"
}

variable "vm_storage" {
  type = string
  default = "local-lvm"
}

variable "cloud_init_storage_pool" {
  type = string
  default = "local"
}

variable "bridge" {
  type = string
  default = "vmbr1"
}

variable "memory" {
  type = number
  default = 4096
}

variable "cores" {
  type = number
  default = 8
}

variable "cpu_type" {
  type = string
  default = "host"
}

variable "ssh_username" {
  type = string
  default = "ubuntu"
}

variable "clone_vm_id" {
  type = number
  default = 9000
}

source "proxmox-clone" "image" {
  proxmox_url = env("PROXMOX_URL")
  username = env("PROXMOX_USERNAME")
  token = env("PROXMOX_TOKEN")
  node = var.node
  vm_id = var.vm_id
  vm_name = var.vm_name
  template_name = var.vm_name
  clone_vm_id = var.clone_vm_id
  full_clone = true
  memory = var.memory
  cores = var.cores
  cpu_type = var.cpu_type
  scsi_controller = "virtio-scsi-pci"
  qemu_agent = true
  cloud_init = true
  cloud_init_storage_pool = var.cloud_init_storage_pool

  network_adapters {
    model = "virtio"
    bridge = var.bridge
  }

  ssh_username = var.ssh_username
}

build {
  name = "ubuntu-2404"
  sources = [
    "source.proxmox-clone.image"
  ]

  provisioner "shell" {
    script = "recipes/ubuntu-base.sh"
  }
}
