variable "name" {
  description = "Prefix of every name the module gives (tables, queues, topics, roles, default bucket names). With \"ferry\" the tables are ferry-files and ferry-audit, as on the local stack."
  type        = string
  default     = "ferry"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 characters of a-z, 0-9 and '-', starting with a letter: it prefixes bucket, table, queue and role names."
  }
}

variable "bucket_names" {
  description = "Bucket names, when the defaults (<name>-<purpose>-<account>-<region>) will not do. trail is CloudTrail's log bucket (only with cloudtrail_data_events)."
  type = object({
    landing    = optional(string)
    delivered  = optional(string)
    quarantine = optional(string)
    trail      = optional(string)
    anchors    = optional(string)
  })
  default = {}
}

variable "audit_anchor_retention_days" {
  description = "COMPLIANCE retention of the audit anchor bucket's objects (Ferry's audit.anchor.retention_days): nobody can delete an anchor before. At least the audit trail's own retention."
  type        = number
  default     = 2557 # 7 years

  validation {
    condition     = var.audit_anchor_retention_days >= 1
    error_message = "audit_anchor_retention_days must be at least 1."
  }
}

variable "partners" {
  description = <<-EOT
    Ferry's partners, by name (Ferry's partners.<name> and the SFTP login).
    ssh_public_keys: the partner's OpenSSH public keys (ssh-ed25519 ..., ecdsa-sha2-..., ssh-rsa ...), at least one.
    destination_prefix: where its files are delivered in the delivered bucket (default "<name>/").
  EOT
  type = map(object({
    ssh_public_keys    = list(string)
    destination_prefix = optional(string)
  }))

  validation {
    # The same rule as Ferry's config (internal/config): the name is the
    # landing prefix and the SFTP login.
    condition     = alltrue([for p in keys(var.partners) : can(regex("^[a-z0-9][a-z0-9-]{2,31}$", p))])
    error_message = "Each partner name must be 3-32 characters of a-z, 0-9 and '-' (it is the landing prefix and the SFTP login), as in Ferry's config."
  }
  validation {
    condition     = length(var.partners) > 0
    error_message = "partners: at least one partner is required (Ferry refuses a config without one)."
  }
  validation {
    condition     = alltrue([for p, cfg in var.partners : length(cfg.ssh_public_keys) > 0])
    error_message = "Each partner needs at least one key in partners.<name>.ssh_public_keys, or it cannot log in."
  }
  validation {
    condition     = alltrue(flatten([for p, cfg in var.partners : [for k in cfg.ssh_public_keys : can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$", k))]]))
    error_message = "partners.<name>.ssh_public_keys holds OpenSSH public keys, one per entry: \"ssh-ed25519 AAAA... comment\" (the contents of id_ed25519.pub)."
  }
  validation {
    condition     = alltrue([for p, cfg in var.partners : cfg.destination_prefix == null || can(regex("^([^/].*)?/$", cfg.destination_prefix))])
    error_message = "partners.<name>.destination_prefix must end with '/' and not start with one (e.g. \"acme/\"), as Ferry's destination.prefix."
  }
}

variable "sftp" {
  description = <<-EOT
    The Transfer Family SFTP server.
    endpoint_type: PUBLIC, or VPC (then vpc_id and subnet_ids; security_group_ids; address_allocation_ids to expose it on Elastic IPs, one per subnet).
    security_policy_name: a current Transfer Family security policy.
    log_retention_days: how long the server's structured logs (logins, uploads, errors) are kept.
  EOT
  type = object({
    endpoint_type          = optional(string, "PUBLIC")
    vpc_id                 = optional(string)
    subnet_ids             = optional(list(string), [])
    security_group_ids     = optional(list(string), [])
    address_allocation_ids = optional(list(string), [])
    security_policy_name   = optional(string, "TransferSecurityPolicy-2024-01")
    log_retention_days     = optional(number, 365)
  })
  default = {}

  validation {
    condition     = contains(["PUBLIC", "VPC"], var.sftp.endpoint_type)
    error_message = "sftp.endpoint_type must be PUBLIC or VPC."
  }
  validation {
    condition     = var.sftp.endpoint_type != "VPC" || (var.sftp.vpc_id != null && length(var.sftp.subnet_ids) > 0)
    error_message = "sftp.endpoint_type VPC needs sftp.vpc_id and at least one of sftp.subnet_ids."
  }
  validation {
    condition     = length(var.sftp.address_allocation_ids) == 0 || length(var.sftp.address_allocation_ids) == length(var.sftp.subnet_ids)
    error_message = "sftp.address_allocation_ids (Elastic IPs) must be empty or one per subnet in sftp.subnet_ids."
  }
  validation {
    # Older policies allow SHA-1 and CBC ciphers.
    condition     = can(regex("^TransferSecurityPolicy-(2024-01|2025-03|FIPS-2024-01|FIPS-2025-03|PQ-SSH-.*2025-03|SshAuditCompliant-2025-02)$", var.sftp.security_policy_name))
    error_message = "sftp.security_policy_name must be a current policy (TransferSecurityPolicy-2024-01 or later, FIPS or PQ variants); older ones allow weak ciphers."
  }
}

variable "event_source" {
  description = "How landing's Object Created events reach the bridge's queue: \"eventbridge\" (a rule on the default bus; EventBridge is turned on for the bucket either way) or \"s3\" (S3 event notifications straight to SQS)."
  type        = string
  default     = "eventbridge"

  validation {
    condition     = contains(["eventbridge", "s3"], var.event_source)
    error_message = "event_source must be eventbridge or s3."
  }
}

variable "queue" {
  description = <<-EOT
    The bridge's queue. max_receives: receives after which the bridge moves a failing message to the DLQ itself, with the reason (Ferry's bridge.sqs.max_receives); the queue's own redrive comes 5 receives later, for messages the bridge never got to.
    visibility_timeout_seconds: Ferry's bridge.sqs.visibility_timeout.
  EOT
  type = object({
    max_receives               = optional(number, 10)
    visibility_timeout_seconds = optional(number, 60)
    retention_seconds          = optional(number, 1209600)
  })
  default = {}

  validation {
    condition     = var.queue.max_receives >= 1 && var.queue.visibility_timeout_seconds >= 2 && var.queue.visibility_timeout_seconds <= 43200
    error_message = "queue.max_receives must be at least 1 and queue.visibility_timeout_seconds between 2 and 43200 (as Ferry's bridge.sqs checks)."
  }
}

variable "landing_noncurrent_version_days" {
  description = "Days after which noncurrent versions in the landing bucket (overwritten or deleted uploads) expire."
  type        = number
  default     = 90
}

variable "delivered_retention" {
  description = "Default Object Lock retention of the delivered bucket (every new version), and what the rendered config asks per partner. mode: GOVERNANCE or COMPLIANCE."
  type = object({
    mode = optional(string, "GOVERNANCE")
    days = optional(number, 2555) # 7 years
  })
  default = {}

  validation {
    condition     = contains(["GOVERNANCE", "COMPLIANCE"], var.delivered_retention.mode) && var.delivered_retention.days > 0
    error_message = "delivered_retention.mode must be GOVERNANCE or COMPLIANCE and delivered_retention.days positive."
  }
}

variable "delivered_tags" {
  description = "Tags of the delivered bucket, for data classification."
  type        = map(string)
  default = {
    GxP       = "true"
    DataType  = "partner-files"
    Retention = "7y"
  }
}

variable "cloudtrail_data_events" {
  description = "Record S3 data events (who read or wrote which object) of the landing, delivered and quarantine buckets with CloudTrail, into a bucket of their own."
  type        = bool
  default     = false
}

variable "workload_identity" {
  description = <<-EOT
    How the worker's and the bridge's pods assume their roles.
    kind: "pod_identity" (EKS Pod Identity; with eks_cluster_name the associations are created too) or "irsa" (IAM roles for service accounts: oidc_provider_arn and oidc_issuer, the cluster's OIDC issuer URL).
  EOT
  type = object({
    kind                   = optional(string, "pod_identity")
    namespace              = optional(string, "ferry")
    worker_service_account = optional(string, "ferry-worker")
    bridge_service_account = optional(string, "ferry-bridge")
    eks_cluster_name       = optional(string)
    oidc_provider_arn      = optional(string)
    oidc_issuer            = optional(string)
  })
  default = {}

  validation {
    condition     = contains(["pod_identity", "irsa"], var.workload_identity.kind)
    error_message = "workload_identity.kind must be pod_identity or irsa."
  }
  validation {
    condition     = var.workload_identity.kind != "irsa" || (var.workload_identity.oidc_provider_arn != null && var.workload_identity.oidc_issuer != null)
    error_message = "workload_identity.kind irsa needs oidc_provider_arn and oidc_issuer (aws eks describe-cluster --query cluster.identity.oidc.issuer)."
  }
}

variable "alert_publisher_arns" {
  description = "Principals (e.g. Alertmanager's role) allowed to publish to the alert topics; see deploy/alertmanager/alertmanager-aws.yml."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
