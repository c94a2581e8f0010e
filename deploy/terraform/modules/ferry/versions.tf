terraform {
  # optional() object attributes with defaults need 1.3; 1.8.5 is the
  # version Ferry's checks run (deploy/local/install.sh).
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # structured_log_destinations on aws_transfer_server and
      # aws_eks_pod_identity_association need 5.x releases of 2024.
      version = ">= 5.50.0"
    }
  }
}
