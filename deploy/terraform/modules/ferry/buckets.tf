# The three buckets Ferry works with. All are versioned (Ferry tells files
# apart by version ID), encrypted with the module's key (bucket keys cut
# the KMS requests), closed to the public, owner-enforced (no ACLs) and
# refuse requests that are not TLS.
#
#   landing     partners upload here over SFTP (<partner>/inbound/...);
#               EventBridge notifications on; old versions expire
#   delivered   Ferry's verified copies; Object Lock with a default
#               retention, tagged for data classification
#   quarantine  files that broke a rule, waiting for a decision
#   anchors     the audit chains' heads (internal/anchor): Object Lock in
#               COMPLIANCE mode, so nobody, root included, deletes or
#               replaces an anchor before its retention ends

locals {
  buckets = {
    landing    = { object_lock = false, tags = {} }
    delivered  = { object_lock = true, tags = var.delivered_tags }
    quarantine = { object_lock = false, tags = {} }
    anchors    = { object_lock = true, tags = {} }
  }
}

resource "aws_s3_bucket" "ferry" {
  for_each = local.buckets

  bucket = local.bucket_names[each.key]
  # Object Lock can only be turned on when a bucket is created.
  object_lock_enabled = each.value.object_lock
  tags                = merge(local.tags, { FerryBucket = each.key }, each.value.tags)
}

resource "aws_s3_bucket_ownership_controls" "ferry" {
  for_each = aws_s3_bucket.ferry

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "ferry" {
  for_each = aws_s3_bucket.ferry

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "ferry" {
  for_each = aws_s3_bucket.ferry

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "ferry" {
  for_each = aws_s3_bucket.ferry

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.ferry.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_policy" "ferry" {
  for_each = aws_s3_bucket.ferry

  bucket = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [each.value.arn, "${each.value.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
  depends_on = [aws_s3_bucket_public_access_block.ferry]
}

resource "aws_s3_bucket_object_lock_configuration" "delivered" {
  bucket = aws_s3_bucket.ferry["delivered"].id
  rule {
    default_retention {
      mode = var.delivered_retention.mode
      days = var.delivered_retention.days
    }
  }
  depends_on = [aws_s3_bucket_versioning.ferry]
}

# Ferry writes every anchor with its own COMPLIANCE retention; this
# default covers any object written without one.
resource "aws_s3_bucket_object_lock_configuration" "anchors" {
  bucket = aws_s3_bucket.ferry["anchors"].id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.audit_anchor_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.ferry]
}

resource "aws_s3_bucket_lifecycle_configuration" "landing" {
  bucket = aws_s3_bucket.ferry["landing"].id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.landing_noncurrent_version_days
    }
    # Delete markers left once their versions expired.
    expiration {
      expired_object_delete_marker = true
    }
  }
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.ferry]
}

resource "aws_s3_bucket_lifecycle_configuration" "quarantine" {
  bucket = aws_s3_bucket.ferry["quarantine"].id

  # Ferry aborts a copy it cannot finish; this catches what a crash left.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # The plaintext of PGP uploads: Ferry deletes it once a file is
  # delivered or decided on; this removes what a workflow that failed or
  # was terminated left. Longer than any file waits for its approvers.
  rule {
    id     = "expire-plaintext"
    status = "Enabled"
    filter {
      prefix = "plaintext/"
    }
    expiration {
      days = 90
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.ferry]
}

# A folder per partner, so `cd inbound` works at a partner's first login.
# Ferry ignores folder markers.
resource "aws_s3_object" "inbound" {
  for_each = var.partners

  bucket       = aws_s3_bucket.ferry["landing"].id
  key          = "${each.key}/inbound/"
  content_type = "application/x-directory"
  depends_on   = [aws_s3_bucket_server_side_encryption_configuration.ferry]
}

# --- CloudTrail S3 data events (optional) -------------------------------

locals {
  trail_name = "${var.name}-s3-data-events"
  trail_arn  = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"
}

resource "aws_s3_bucket" "trail" {
  count = var.cloudtrail_data_events ? 1 : 0

  bucket = local.bucket_names.trail
  tags   = merge(local.tags, { FerryBucket = "trail" })
}

resource "aws_s3_bucket_public_access_block" "trail" {
  count = var.cloudtrail_data_events ? 1 : 0

  bucket                  = aws_s3_bucket.trail[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "trail" {
  count = var.cloudtrail_data_events ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "trail" {
  count = var.cloudtrail_data_events ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

# SSE-S3: CloudTrail then needs no share of the key.
resource "aws_s3_bucket_server_side_encryption_configuration" "trail" {
  count = var.cloudtrail_data_events ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_policy" "trail" {
  count = var.cloudtrail_data_events ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.trail[0].arn, "${aws_s3_bucket.trail[0].arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "CloudTrailAclCheck"
        Effect    = "Allow"
        Principal = { Service = "cloudtrail.amazonaws.com" }
        Action    = "s3:GetBucketAcl"
        Resource  = aws_s3_bucket.trail[0].arn
        Condition = { StringEquals = { "aws:SourceArn" = local.trail_arn } }
      },
      {
        Sid       = "CloudTrailWrite"
        Effect    = "Allow"
        Principal = { Service = "cloudtrail.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.trail[0].arn}/AWSLogs/${local.account_id}/*"
        Condition = { StringEquals = { "aws:SourceArn" = local.trail_arn } }
      },
    ]
  })
  depends_on = [aws_s3_bucket_public_access_block.trail]
}

resource "aws_cloudtrail" "data_events" {
  count = var.cloudtrail_data_events ? 1 : 0

  name                          = local.trail_name
  s3_bucket_name                = aws_s3_bucket.trail[0].id
  include_global_service_events = false
  enable_log_file_validation    = true

  # Only object-level reads and writes of Ferry's three buckets.
  advanced_event_selector {
    name = "S3 data events of Ferry's buckets"
    field_selector {
      field  = "eventCategory"
      equals = ["Data"]
    }
    field_selector {
      field  = "resources.type"
      equals = ["AWS::S3::Object"]
    }
    field_selector {
      field       = "resources.ARN"
      starts_with = [for b in aws_s3_bucket.ferry : "${b.arn}/"]
    }
  }
  tags       = local.tags
  depends_on = [aws_s3_bucket_policy.trail]
}
