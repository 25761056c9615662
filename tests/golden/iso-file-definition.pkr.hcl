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
  default = "rocky-9"
}

variable "vm_storage" {
  type = string
  default = "local-lvm"
}

variable "cloud_init_storage_pool" {
  type = string
  default = "local-lvm"
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
  default = "host"
}

variable "ssh_username" {
  type = string
  default = "ubuntu"
}

variable "iso_file" {
  type = string
  default = "local:iso/Rocky-9.5-x86_64-minimal.iso"
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
    iso_file = var.iso_file
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
  name = "rocky-9"
  sources = [
    "source.proxmox-iso.image"
  ]

  provisioner "shell" {
    script = "recipes/docker-host.sh"
  }
}
