variable "region" {
  description = "AWS region of the landing zone."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of the names the module gives."
  type        = string
  default     = "ferry"
}
