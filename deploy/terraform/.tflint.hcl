# tflint with only the terraform ruleset bundled in the binary (no plugin
# is downloaded: the build machines reach no plugin registry), its
# recommended preset plus the naming and documentation rules.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

rule "terraform_naming_convention" {
  enabled = true
}

rule "terraform_documented_variables" {
  enabled = true
}

rule "terraform_documented_outputs" {
  enabled = true
}

rule "terraform_standard_module_structure" {
  enabled = true
}
