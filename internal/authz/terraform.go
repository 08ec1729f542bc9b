package authz

import "github.com/ciwarden/ciwarden/internal/model"

// Terraform state actions, with GitLab's roles: Developers read a state
// (read_terraform_state), Maintainers write, lock, unlock and delete it
// (admin_terraform_state). A state is never public, whatever the
// project's visibility. A job token acts as its user; writing the state
// of another project also needs an allowlist entry naming
// admin_terraform_state (EntryPolicyRequired): gitlab-compat.md §8 item
// 10, "cross-project Terraform state poisoning".
var (
	ReadTerraformState  = Action{Name: "read_terraform_state", Auth: true, Min: model.Developer, Policy: PolicyReadTerraformState}
	AdminTerraformState = Action{Name: "admin_terraform_state", Write: true, Min: model.Maintainer, Policy: PolicyAdminTerraformState,
		EntryPolicyRequired: true}
)
