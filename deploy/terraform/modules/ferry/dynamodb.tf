# Ferry's two tables, shaped as internal/filestore and internal/audit
# create them on the local stack (the Go tests compare the two):
#
#   files  one item per object version, key file_id; by-status (status,
#          updated_at) lists files by status, by-partner (partner,
#          received_at) a partner's files
#   audit  the append-only, hash-chained trail, key (file_id, seq)
#
# Both: on-demand, point-in-time recovery, deletion protection, the
# module's key.

locals {
  table_names = {
    files = "${var.name}-files"
    audit = "${var.name}-audit"
  }
}

resource "aws_dynamodb_table" "files" {
  name                        = local.table_names.files
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "file_id"
  deletion_protection_enabled = true

  attribute {
    name = "file_id"
    type = "S"
  }
  attribute {
    name = "status"
    type = "S"
  }
  attribute {
    name = "updated_at"
    type = "S"
  }
  attribute {
    name = "partner"
    type = "S"
  }
  attribute {
    name = "received_at"
    type = "S"
  }

  global_secondary_index {
    name            = "by-status"
    hash_key        = "status"
    range_key       = "updated_at"
    projection_type = "ALL"
  }
  global_secondary_index {
    name            = "by-partner"
    hash_key        = "partner"
    range_key       = "received_at"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.ferry.arn
  }
  tags = local.tags
}

resource "aws_dynamodb_table" "audit" {
  name                        = local.table_names.audit
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "file_id"
  range_key                   = "seq"
  deletion_protection_enabled = true

  attribute {
    name = "file_id"
    type = "S"
  }
  attribute {
    name = "seq"
    type = "N"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.ferry.arn
  }
  tags = local.tags
}
