# A complete Ferry landing zone with three partners, PUBLIC SFTP endpoint,
# EventBridge events and EKS Pod Identity. Replace the placeholder SSH keys
# with each partner's public key (the contents of its id_ed25519.pub),
# then:
#
#   terraform init && terraform apply
#   terraform output -json | ferry config from-terraform --base partners.yaml > ferry.yaml
#
# partners.yaml (beside this file) holds what Terraform does not know:
# each partner's rules, governance and approvers, Temporal's address.

module "ferry" {
  source = "../../modules/ferry"

  name = var.name

  partners = {
    acme = {
      ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDdcqEsIlZdJ6W6hdEewSMNUbO96Z7Jko9PcIIypZOQy acme-placeholder"]
    }
    globex = {
      ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMtY8xEjOO93T7T8E49K3OEwAtisGzMLxxKcjtHriUVT globex-placeholder"]
    }
    initech = {
      ssh_public_keys    = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFB75yTWY5ltqdk5vjV1hH3Fb+yhQaEPw4vEso9TAxm3 initech-placeholder"]
      destination_prefix = "initech/incoming/"
    }
  }

  sftp = {
    endpoint_type = "PUBLIC"
    # For a VPC endpoint, on Elastic IPs:
    # endpoint_type          = "VPC"
    # vpc_id                 = "vpc-..."
    # subnet_ids             = ["subnet-...", "subnet-..."]
    # security_group_ids     = ["sg-..."]  # allow 22/tcp from partners' addresses
    # address_allocation_ids = ["eipalloc-...", "eipalloc-..."]
  }

  event_source = "eventbridge"

  delivered_retention = {
    mode = "GOVERNANCE"
    days = 2555
  }

  cloudtrail_data_events = true

  workload_identity = {
    kind             = "pod_identity"
    namespace        = "ferry"
    eks_cluster_name = "ferry"
  }

  tags = {
    Environment = "example"
  }
}
