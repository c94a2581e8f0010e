output "ferry_config" {
  description = "For `ferry config from-terraform` (see main.tf)."
  value       = module.ferry.ferry_config
}

output "sftp_endpoint" {
  description = "Where partners connect: sftp acme@<this>."
  value       = module.ferry.sftp_endpoint
}

output "worker_role_arn" {
  description = "The worker's role (Pod Identity association created for service account ferry/ferry-worker)."
  value       = module.ferry.worker_role_arn
}

output "bridge_role_arn" {
  description = "The bridge's role (service account ferry/ferry-bridge)."
  value       = module.ferry.bridge_role_arn
}

output "alert_topic_arns" {
  description = "Put these in deploy/alertmanager/alertmanager-aws.yml."
  value       = module.ferry.alert_topic_arns
}
