# ferry_config is what `ferry config from-terraform` turns into ferry.yaml
# (merged with a base file holding partners' rules and approvals):
#
#   terraform output -json | ferry config from-terraform --base partners.yaml > ferry.yaml
#
# Its keys are the renderer's contract (starter/configrender.go): change
# both together.
output "ferry_config" {
  description = "The names and ARNs Ferry's config needs, for `ferry config from-terraform`."
  value = {
    region            = local.region
    landing_bucket    = aws_s3_bucket.ferry["landing"].bucket
    quarantine_bucket = aws_s3_bucket.ferry["quarantine"].bucket
    delivered_bucket  = aws_s3_bucket.ferry["delivered"].bucket
    files_table       = aws_dynamodb_table.files.name
    audit_table       = aws_dynamodb_table.audit.name
    anchor_bucket     = aws_s3_bucket.ferry["anchors"].bucket
    anchor_retention  = var.audit_anchor_retention_days
    # Names, which the bridge looks up with GetQueueUrl (its role may).
    events_queue           = aws_sqs_queue.events.name
    dead_letter_queue      = aws_sqs_queue.dlq.name
    max_receives           = var.queue.max_receives
    visibility_timeout     = "${var.queue.visibility_timeout_seconds}s"
    notification_topic_arn = aws_sns_topic.ferry["notifications"].arn
    kms_key_arn            = aws_kms_key.ferry.arn
    retention_mode         = var.delivered_retention.mode
    retention_days         = var.delivered_retention.days
    partners = {
      for p, cfg in var.partners : p => {
        destination_bucket = aws_s3_bucket.ferry["delivered"].bucket
        destination_prefix = local.destination_prefixes[p]
      }
    }
  }
}

output "sftp_endpoint" {
  description = "Host name partners connect to (sftp PARTNER@HOST); with Elastic IPs, those addresses."
  value       = aws_transfer_server.sftp.endpoint
}

output "sftp_server_id" {
  description = "The Transfer Family server's ID (s-...)."
  value       = aws_transfer_server.sftp.id
}

output "sftp_log_group" {
  description = "CloudWatch log group of the server's structured logs (logins, uploads, errors)."
  value       = aws_cloudwatch_log_group.transfer.name
}

output "worker_role_arn" {
  description = "Role of the worker's service account (IRSA annotation eks.amazonaws.com/role-arn, or Pod Identity)."
  value       = aws_iam_role.worker.arn
}

output "bridge_role_arn" {
  description = "Role of the bridge's service account."
  value       = aws_iam_role.bridge.arn
}

output "partner_role_arns" {
  description = "Each partner's Transfer Family role, by partner."
  value       = { for p, r in aws_iam_role.partner : p => r.arn }
}

output "kms_key_arn" {
  description = "The key of the buckets, queues, tables and topics."
  value       = aws_kms_key.ferry.arn
}

output "alert_topic_arns" {
  description = "Alertmanager's SNS receivers (deploy/alertmanager/alertmanager-aws.yml): critical pages, warning makes a ticket."
  value = {
    critical = aws_sns_topic.ferry["alerts_critical"].arn
    warning  = aws_sns_topic.ferry["alerts_warning"].arn
  }
}

output "cloudtrail_bucket" {
  description = "Bucket of the S3 data events trail, when cloudtrail_data_events is on."
  value       = var.cloudtrail_data_events ? aws_s3_bucket.trail[0].bucket : null
}
