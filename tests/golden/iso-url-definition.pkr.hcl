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
  default = "pve1"
}

variable "vm_id" {
  type = number
}

variable "vm_name" {
  type = string
  default = "debian-13"
}

variable "vm_storage" {
  type = string
  default = "ceph"
}

variable "cloud_init_storage_pool" {
  type = string
  default = "ceph"
}

variable "bridge" {
  type = string
  default = "vmbr0"
}

variable "memory" {
  type = number
  default = 2048
}

variable "cores" {
  type = number
  default = 2
}

variable "cpu_type" {
  type = string
  default = "x86-64-v2-AES"
}

variable "ssh_username" {
  type = string
  default = "debian"
}

variable "iso_url" {
  type = string
  default = "https://cdimage.example.org/debian-13.iso?a=1&b=\"2\""
}

variable "iso_checksum" {
  type = string
  default = "sha256:abababababababababababababababababababababababababababababababab"
}

variable "iso_storage_pool" {
  type = string
  default = "local"
}

source "proxmox-iso" "image" {
  proxmox_url = env("PROXMOX_URL")
  username = env("PROXMOX_USERNAME")
  token = env("PROXMOX_TOKEN")
  node = var.node
  vm_id = var.vm_id
  vm_name = var.vm_name
  template_name = var.vm_name

  boot_iso {
    type = "scsi"
    iso_url = var.iso_url
    iso_checksum = var.iso_checksum
    iso_storage_pool = var.iso_storage_pool
    unmount = true
  }

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

  disks {
    type = "scsi"
    disk_size = "20G"
    storage_pool = var.vm_storage
  }

  ssh_username = var.ssh_username
}

build {
  name = "debian-13"
  sources = [
    "source.proxmox-iso.image"
  ]

  provisioner "shell" {
    script = "recipes/debian-base.sh"
  }
}
