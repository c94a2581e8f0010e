# Landing's Object Created events to the bridge's queue (bridge.sqs.queue),
# with a dead-letter queue (bridge.sqs.dead_letter_queue). Two ways,
# chosen by var.event_source:
#
#   eventbridge  S3 sends every event to EventBridge (on for the bucket
#                either way); a rule on the default bus forwards landing's
#                "Object Created" to the queue
#   s3           S3 event notifications straight to the queue
#
# The bridge takes both shapes from one queue, and ignores what is not a
# partner's upload (folder markers, other prefixes).

locals {
  queue_names = {
    events = "${var.name}-events"
    dlq    = "${var.name}-events-dlq"
  }
  events_rule_name = "${var.name}-landing-object-created"

  # What the rule matches: the aws.s3 events Ferry's bridge parses
  # (internal/s3event) for the landing bucket.
  landing_event_pattern = {
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [aws_s3_bucket.ferry["landing"].bucket] }
    }
  }
}

resource "aws_sqs_queue" "dlq" {
  name                              = local.queue_names.dlq
  message_retention_seconds         = 1209600 # 14 days, SQS's longest: time to fix and replay
  kms_master_key_id                 = aws_kms_key.ferry.arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = local.tags
}

resource "aws_sqs_queue" "events" {
  name                              = local.queue_names.events
  visibility_timeout_seconds        = var.queue.visibility_timeout_seconds
  message_retention_seconds         = var.queue.retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.ferry.arn
  kms_data_key_reuse_period_seconds = 300
  # The bridge moves a message that keeps failing to the DLQ itself after
  # queue.max_receives receives, with the reason as attributes; the
  # queue's redrive, a few receives later, catches what it never got to.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.queue.max_receives + 5
  })
  tags = local.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.events.arn]
  })
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      var.event_source == "eventbridge" ? {
        Sid       = "LandingEventsFromEventBridge"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.events.arn
        Condition = { ArnEquals = { "aws:SourceArn" = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.events_rule_name}" } }
        } : {
        Sid       = "LandingEventsFromS3"
        Effect    = "Allow"
        Principal = { Service = "s3.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.events.arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_s3_bucket.ferry["landing"].arn } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.events.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

resource "aws_cloudwatch_event_rule" "landing_object_created" {
  count = var.event_source == "eventbridge" ? 1 : 0

  name          = local.events_rule_name
  description   = "Object Created in Ferry's landing bucket, to the bridge's queue"
  event_pattern = jsonencode(local.landing_event_pattern)
  tags          = local.tags
}

resource "aws_cloudwatch_event_target" "landing_object_created" {
  count = var.event_source == "eventbridge" ? 1 : 0

  rule      = aws_cloudwatch_event_rule.landing_object_created[0].name
  target_id = "ferry-bridge-queue"
  arn       = aws_sqs_queue.events.arn
  # EventBridge retries for a day; what it still cannot deliver lands in
  # the DLQ with its error, not lost.
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }
  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

# EventBridge's own DLQ delivery needs the DLQ to accept it.
resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "UndeliverableEventsFromEventBridge"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.dlq.arn
        Condition = { ArnEquals = { "aws:SourceArn" = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.events_rule_name}" } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.dlq.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

resource "aws_s3_bucket_notification" "landing" {
  bucket = aws_s3_bucket.ferry["landing"].id
  # Every event of the bucket to EventBridge (the rule picks), whichever
  # event_source: other consumers may subscribe there too.
  eventbridge = true

  dynamic "queue" {
    for_each = var.event_source == "s3" ? [aws_sqs_queue.events.arn] : []
    content {
      id        = "ferry-bridge"
      queue_arn = queue.value
      events    = ["s3:ObjectCreated:*"]
    }
  }
  depends_on = [aws_sqs_queue_policy.events]
}
