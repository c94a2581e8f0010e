# The worker's and the bridge's roles. Each policy allows exactly the AWS
# API actions that process's code calls, on exactly Ferry's resources:
# deploy/terraform_test.go derives the calls from the code (worker/main.go
# run, starter/bridge.go runBridge) and fails on any action missing or
# beyond them. Their KMS use is granted in the key policy (kms.tf).
#
# Operators' commands (ferry list, show, approve, audit, backfill) run with
# the operator's own credentials, not these roles.

locals {
  oidc_issuer = trimprefix(coalesce(var.workload_identity.oidc_issuer, "https://unused"), "https://")

  # Who may assume a role: a Kubernetes service account, through EKS Pod
  # Identity (the association below names the service account; the agent
  # tags the session) or IRSA (the cluster's OIDC provider).
  trust = {
    for role, sa in {
      worker = var.workload_identity.worker_service_account
      bridge = var.workload_identity.bridge_service_account
    } :
    role => var.workload_identity.kind == "irsa" ? jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Federated = coalesce(var.workload_identity.oidc_provider_arn, "unused") }
        Action    = "sts:AssumeRoleWithWebIdentity"
        Condition = {
          StringEquals = {
            "${local.oidc_issuer}:sub" = "system:serviceaccount:${var.workload_identity.namespace}:${sa}"
            "${local.oidc_issuer}:aud" = "sts.amazonaws.com"
          }
        }
      }]
      }) : jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Service = "pods.eks.amazonaws.com" }
        Action    = ["sts:AssumeRole", "sts:TagSession"]
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      }]
    })
  }

  landing    = aws_s3_bucket.ferry["landing"].arn
  delivered  = aws_s3_bucket.ferry["delivered"].arn
  quarantine = aws_s3_bucket.ferry["quarantine"].arn
  anchors    = aws_s3_bucket.ferry["anchors"].arn

  worker_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        # Inspect (HeadObject, GetObject), the sidecar (GetObject), the
        # copy's source (CopyObject, UploadPartCopy: with the version,
        # and its tags under the default tagging directive), and what
        # source_after_delivery does (DeleteObject, PutObjectTagging of
        # the version).
        Sid    = "LandingObjects"
        Effect = "Allow"
        Action = [
          "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
          "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging", "s3:PutObjectVersionTagging",
        ]
        Resource = ["${local.landing}/*"]
      },
      {
        # The reconciler's listing (ListObjectVersions), the versioning
        # check at start (GetBucketVersioning), the readiness probe
        # (HeadBucket), and 404 rather than 403 for a missing key.
        Sid      = "LandingBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"]
        Resource = [local.landing]
      },
      {
        # Deliveries: CopyObject or a multipart copy (CreateMultipartUpload,
        # UploadPartCopy, ListParts, CompleteMultipartUpload, or
        # AbortMultipartUpload on the last attempt), with tags and an
        # Object Lock retention (PutObjectRetention extends it), read
        # back with HeadObject.
        Sid    = "DeliveredObjects"
        Effect = "Allow"
        Action = [
          "s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectRetention",
          "s3:GetObject", "s3:GetObjectVersion",
          "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
        ]
        Resource = ["${local.delivered}/*"]
      },
      {
        # Quarantine copies in, a rejection's copy to rejected/ and the
        # removal of the quarantined copy; the plaintext of PGP uploads
        # under plaintext/ (PutObject, UploadPart), deleted by version once
        # the file's journey is over.
        Sid    = "QuarantineObjects"
        Effect = "Allow"
        Action = [
          "s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
          "s3:DeleteObject", "s3:DeleteObjectVersion",
          "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
        ]
        Resource = ["${local.quarantine}/*"]
      },
      {
        # Before writing, Ferry asks whether a retried attempt already
        # wrote the version (HeadObject): without ListBucket S3 answers
        # 403 instead of 404 for a key not there yet.
        Sid      = "DestinationBuckets"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = [local.delivered, local.quarantine]
      },
      {
        # A retried decryption aborts the plaintext upload a killed worker
        # left (ListMultipartUploads), and the plaintext's versions are
        # listed to be deleted (ListObjectVersions).
        Sid      = "QuarantineBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucketMultipartUploads", "s3:ListBucketVersions"]
        Resource = [local.quarantine]
      },
      {
        # Audit anchors: written once each (PutObject with If-None-Match
        # and a COMPLIANCE retention) and read back, every version, to
        # check chains against them. No delete: the lock refuses it anyway.
        Sid      = "AnchorObjects"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject", "s3:GetObjectVersion"]
        Resource = ["${local.anchors}/*"]
      },
      {
        # Finding a file's anchors (ListObjectVersions) and the latest
        # checkpoint (ListObjectsV2).
        Sid      = "AnchorBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:ListBucketVersions"]
        Resource = [local.anchors]
      },
      {
        # The file records and the audit trail (conditional puts, reads,
        # updates, queries; the reconciler's batched record lookups), and
        # the readiness probe (DescribeTable).
        Sid      = "Tables"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:DescribeTable"]
        Resource = [aws_dynamodb_table.files.arn, aws_dynamodb_table.audit.arn]
      },
      {
        # Listing files by status (the audit verifier) or partner.
        Sid      = "FilesIndexes"
        Effect   = "Allow"
        Action   = ["dynamodb:Query"]
        Resource = ["${aws_dynamodb_table.files.arn}/index/*"]
      },
      {
        Sid      = "Notifications"
        Effect   = "Allow"
        Action   = ["sns:Publish"]
        Resource = [aws_sns_topic.ferry["notifications"].arn]
      },
      {
        # A topic given by name in notify.sns is found with ListTopics,
        # which has no resource to scope to. The rendered config gives
        # the ARN, so this is used only for names added by hand.
        Sid      = "FindTopicsByName"
        Effect   = "Allow"
        Action   = ["sns:ListTopics"]
        Resource = ["*"]
      },
    ]
  }

  bridge_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        # Long polls, deletes after a durable start, visibility extended
        # while a start is slow or set to 0 at shutdown; the queue found
        # by name; the readiness probe (GetQueueAttributes).
        Sid      = "ConsumeEvents"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
        Resource = [aws_sqs_queue.events.arn]
      },
      {
        # Messages that cannot become a start, with the reason.
        Sid      = "DeadLetters"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
        Resource = [aws_sqs_queue.dlq.arn]
      },
    ]
  }
}

resource "aws_iam_role" "worker" {
  name               = "${var.name}-worker"
  description        = "Ferry worker: S3, DynamoDB and SNS for IngestFile and the reconciler"
  assume_role_policy = local.trust.worker
  tags               = local.tags
}

resource "aws_iam_role_policy" "worker" {
  name   = "ferry-worker"
  role   = aws_iam_role.worker.id
  policy = jsonencode(local.worker_policy)
}

resource "aws_iam_role" "bridge" {
  name               = "${var.name}-bridge"
  description        = "Ferry bridge: consumes landing's events from SQS"
  assume_role_policy = local.trust.bridge
  tags               = local.tags
}

resource "aws_iam_role_policy" "bridge" {
  name   = "ferry-bridge"
  role   = aws_iam_role.bridge.id
  policy = jsonencode(local.bridge_policy)
}

resource "aws_eks_pod_identity_association" "ferry" {
  for_each = var.workload_identity.kind == "pod_identity" && var.workload_identity.eks_cluster_name != null ? {
    worker = { sa = var.workload_identity.worker_service_account, role = aws_iam_role.worker.arn }
    bridge = { sa = var.workload_identity.bridge_service_account, role = aws_iam_role.bridge.arn }
  } : {}

  cluster_name    = var.workload_identity.eks_cluster_name
  namespace       = var.workload_identity.namespace
  service_account = each.value.sa
  role_arn        = each.value.role
  tags            = local.tags
}
