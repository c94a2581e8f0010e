# AWS Transfer Family: one SFTP server, service-managed users (one per
# partner, SSH keys only), structured JSON logs of logins, uploads and
# errors in CloudWatch Logs.
#
# Each partner's home is logical: "/" is /<landing bucket>/<partner>, so a
# partner sees only its own folder and uploads to /inbound/. Its role is
# what confines it: that prefix and nothing else.

resource "aws_cloudwatch_log_group" "transfer" {
  name              = local.transfer_log_group_name
  retention_in_days = var.sftp.log_retention_days
  kms_key_id        = aws_kms_key.ferry.arn
  tags              = local.tags
}

locals {
  # Transfer Family assumes the logging role and the partners' roles.
  # Confused-deputy protection: only this account's servers may.
  transfer_trust = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "transfer.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
}

resource "aws_iam_role" "transfer_logging" {
  name               = "${var.name}-transfer-logging"
  assume_role_policy = local.transfer_trust
  tags               = local.tags
}

resource "aws_iam_role_policy" "transfer_logging" {
  name = "write-sftp-logs"
  role = aws_iam_role.transfer_logging.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "SFTPServerLogs"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
      Resource = ["${aws_cloudwatch_log_group.transfer.arn}:*"]
    }]
  })
}

resource "aws_transfer_server" "sftp" {
  identity_provider_type = "SERVICE_MANAGED"
  protocols              = ["SFTP"]
  domain                 = "S3"
  endpoint_type          = var.sftp.endpoint_type
  security_policy_name   = var.sftp.security_policy_name

  dynamic "endpoint_details" {
    for_each = var.sftp.endpoint_type == "VPC" ? [var.sftp] : []
    content {
      vpc_id                 = endpoint_details.value.vpc_id
      subnet_ids             = endpoint_details.value.subnet_ids
      security_group_ids     = endpoint_details.value.security_group_ids
      address_allocation_ids = length(endpoint_details.value.address_allocation_ids) > 0 ? endpoint_details.value.address_allocation_ids : null
    }
  }

  # Structured JSON logs: AUTH (every login attempt, with the client's
  # address), OPEN/CLOSE (every upload, with bytes), ERRORS.
  logging_role                = aws_iam_role.transfer_logging.arn
  structured_log_destinations = ["${aws_cloudwatch_log_group.transfer.arn}:*"]

  tags = merge(local.tags, { Name = "${var.name}-sftp" })
}

# --- one role and one user per partner ------------------------------------

resource "aws_iam_role" "partner" {
  for_each = var.partners

  name               = "${var.name}-sftp-${each.key}"
  description        = "Transfer Family user ${each.key}: its own landing prefix, nothing else"
  assume_role_policy = local.transfer_trust
  tags               = merge(local.tags, { FerryPartner = each.key })
}

resource "aws_iam_role_policy" "partner" {
  for_each = var.partners

  name = "landing-prefix-${each.key}"
  role = aws_iam_role.partner[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # ls in its home (and below), nowhere else.
        Sid       = "ListOwnPrefix"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = aws_s3_bucket.ferry["landing"].arn
        Condition = { StringLike = { "s3:prefix" = ["${each.key}/", "${each.key}/*"] } }
      },
      {
        # put (PutObject, multipart parts included), overwrite, stat and
        # resume (GetObject: clients read the size of what is there),
        # rm and rename (DeleteObject: a rename is a copy and a delete;
        # in the versioned bucket only a delete marker, so a version Ferry
        # ingests stays), and an aborted upload's parts.
        Sid      = "ReadWriteOwnPrefix"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        Resource = "${aws_s3_bucket.ferry["landing"].arn}/${each.key}/*"
      },
    ]
  })
}

resource "aws_transfer_user" "partner" {
  for_each = var.partners

  server_id           = aws_transfer_server.sftp.id
  user_name           = each.key
  role                = aws_iam_role.partner[each.key].arn
  home_directory_type = "LOGICAL"
  home_directory_mappings {
    entry  = "/"
    target = "/${aws_s3_bucket.ferry["landing"].bucket}/${each.key}"
  }
  tags = merge(local.tags, { FerryPartner = each.key })
}

resource "aws_transfer_ssh_key" "partner" {
  for_each = local.partner_keys

  server_id = aws_transfer_server.sftp.id
  user_name = aws_transfer_user.partner[each.value.partner].user_name
  body      = each.value.body
}
