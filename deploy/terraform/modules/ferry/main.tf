# Ferry's AWS landing zone: SFTP (Transfer Family) into a landing bucket,
# events to the bridge's queue, the buckets, tables, topics and key the
# worker uses, and least-privilege roles for the worker, the bridge and
# each partner. Resources are split by concern:
#
#   kms.tf       the key that encrypts buckets, queues, tables, topics, logs
#   buckets.tf   landing, delivered (Object Lock), quarantine; CloudTrail
#   transfer.tf  the SFTP server, its logs and one user + role per partner
#   events.tf    landing's Object Created events to SQS, with a DLQ
#   dynamodb.tf  the files table (by-status, by-partner) and the audit table
#   sns.tf       notification and alert topics
#   iam.tf       the worker's and the bridge's roles (IRSA or Pod Identity)
#   outputs.tf   what `ferry config from-terraform` renders ferry.yaml from

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.id
  partition  = data.aws_partition.current.partition

  # S3 bucket names are global: the account and region keep the defaults
  # unique. Any of them can be given in var.bucket_names.
  bucket_names = {
    landing    = coalesce(var.bucket_names.landing, "${var.name}-landing-${local.account_id}-${local.region}")
    delivered  = coalesce(var.bucket_names.delivered, "${var.name}-delivered-${local.account_id}-${local.region}")
    quarantine = coalesce(var.bucket_names.quarantine, "${var.name}-quarantine-${local.account_id}-${local.region}")
    trail      = coalesce(var.bucket_names.trail, "${var.name}-trail-${local.account_id}-${local.region}")
    anchors    = coalesce(var.bucket_names.anchors, "${var.name}-anchors-${local.account_id}-${local.region}")
  }

  # Each partner's files are delivered below this prefix of the delivered
  # bucket (Ferry's partners.<name>.destination.prefix).
  destination_prefixes = { for p, cfg in var.partners : p => coalesce(cfg.destination_prefix, "${p}/") }

  # One entry per partner SSH key, for aws_transfer_ssh_key.
  partner_keys = merge([
    for p, cfg in var.partners : {
      for i, key in cfg.ssh_public_keys : "${p}/${i}" => { partner = p, body = key }
    }
  ]...)

  tags = merge({ Application = "ferry" }, var.tags)
}
