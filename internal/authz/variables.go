package authz

import "github.com/ciwarden/ciwarden/internal/model"

// CI/CD variables (issue 16): a project's and a group's variables are
// their Maintainers' to read and change (GitLab's admin_cicd_variables),
// the instance's its administrators'. Job tokens have no business with
// them (no Policy), as in GitLab: a job receives its variables in its
// payload, never through the API.
var (
	ReadCIVariables          = Action{Name: "read_cicd_variables", Auth: true, Min: model.Maintainer}
	AdminCIVariables         = Action{Name: "admin_cicd_variables", Write: true, Min: model.Maintainer}
	ReadInstanceCIVariables  = Action{Name: "read_instance_cicd_variables", Auth: true, AdminOnly: true}
	AdminInstanceCIVariables = Action{Name: "admin_instance_cicd_variables", Write: true, AdminOnly: true}
)
