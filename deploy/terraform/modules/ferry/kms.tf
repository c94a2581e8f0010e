# One customer managed key for everything Ferry keeps: the buckets
# (SSE-KMS with bucket keys), the queues, the tables, the topics and the
# SFTP server's logs. Ferry's roles are named in the key policy itself,
# each only through the services it uses (kms:ViaService), so their IAM
# policies carry no KMS actions.

locals {
  transfer_log_group_name = "/aws/transfer/${var.name}"
  # Built from names, not resource references: the log group is encrypted
  # with this key, so the key's policy cannot wait for the log group.
  transfer_log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.transfer_log_group_name}"
  # Partner roles are matched by name for the same reason: their trust
  # names the SFTP server, whose logs need the key.
  partner_role_arn_pattern = "arn:${local.partition}:iam::${local.account_id}:role/${var.name}-sftp-*"

  via = { for svc in ["s3", "sqs", "sns", "dynamodb"] : svc => "${svc}.${local.region}.amazonaws.com" }

  key_policy = {
    Version = "2012-10-17"
    Statement = concat([
      {
        # The account's administrators manage the key through IAM (the
        # AWS default; without it the key could become unmanageable).
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # Reading SSE-KMS objects and writing new ones (deliveries,
        # quarantine copies), and publishing to the encrypted topics.
        Sid       = "FerryWorkerViaS3AndSNS"
        Effect    = "Allow"
        Principal = { AWS = aws_iam_role.worker.arn }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = [local.via.s3, local.via.sns] } }
      },
      {
        # Tables encrypted with a customer managed key: what DynamoDB
        # asks of a principal that reads and writes them.
        Sid       = "FerryWorkerViaDynamoDB"
        Effect    = "Allow"
        Principal = { AWS = aws_iam_role.worker.arn }
        Action    = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = local.via.dynamodb } }
      },
      {
        # Receiving from the encrypted queue, sending to the encrypted DLQ.
        Sid       = "FerryBridgeViaSQS"
        Effect    = "Allow"
        Principal = { AWS = aws_iam_role.bridge.arn }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = local.via.sqs } }
      },
      {
        # Transfer Family writes and reads partners' files as their roles:
        # the landing bucket's default encryption is this key.
        Sid       = "TransferFamilyPartnersViaS3"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = {
          StringEquals = { "kms:ViaService" = local.via.s3, "kms:CallerAccount" = local.account_id }
          ArnLike      = { "aws:PrincipalArn" = local.partner_role_arn_pattern }
        }
      },
      {
        # EventBridge (the rule's target) and S3 (direct notifications)
        # send to the encrypted queue.
        Sid       = "EventSourcesToEncryptedQueue"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "s3.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
      {
        Sid       = "TransferLogsEncryption"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = { ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.transfer_log_group_arn } }
      },
      ], length(var.alert_publisher_arns) == 0 ? [] : [
      {
        # Alertmanager (or whoever publishes alerts) to the encrypted topics.
        Sid       = "AlertPublishersViaSNS"
        Effect    = "Allow"
        Principal = { AWS = var.alert_publisher_arns }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = local.via.sns } }
      },
    ])
  }
}

resource "aws_kms_key" "ferry" {
  description             = "Ferry (${var.name}): landing, delivered and quarantine buckets, queues, tables, topics, SFTP logs"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = jsonencode(local.key_policy)
  tags                    = local.tags
}

resource "aws_kms_alias" "ferry" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.ferry.key_id
}
