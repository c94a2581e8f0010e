# Topics, encrypted with the module's key:
#
#   notifications    Ferry's notify.sns target (file.quarantined, ...);
#                    subscribers filter on the attributes type and partner
#   alerts-critical  Alertmanager's paging receiver
#   alerts-warning   Alertmanager's ticket receiver
#                    (deploy/alertmanager/alertmanager-aws.yml)

locals {
  topic_names = {
    notifications   = "${var.name}-notifications"
    alerts_critical = "${var.name}-alerts-critical"
    alerts_warning  = "${var.name}-alerts-warning"
  }
}

resource "aws_sns_topic" "ferry" {
  for_each = local.topic_names

  name              = each.value
  kms_master_key_id = aws_kms_key.ferry.arn
  tags              = local.tags
}

resource "aws_sns_topic_policy" "alerts" {
  for_each = length(var.alert_publisher_arns) > 0 ? toset(["alerts_critical", "alerts_warning"]) : toset([])

  arn = aws_sns_topic.ferry[each.key].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AlertPublishers"
        Effect    = "Allow"
        Principal = { AWS = var.alert_publisher_arns }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.ferry[each.key].arn
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.ferry[each.key].arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}
