package authz

import "github.com/ciwarden/ciwarden/internal/model"

// Container registry actions, decided for each scope the token service
// (/jwt/auth) is asked for (gitlab-compat.md §3.4): pull needs read access
// to the project (anyone on public, anyone signed in on internal, Reporter
// on private) and, for another project's job token, the token access
// scope; push is Developer, and a job token pushes only to its own
// project; delete is Maintainer, or a job token in its own project, which
// owns what its jobs push (the handler states Owner). Image actions need a
// credential with registry scope (checkTokenScope).
var (
	PullImage   = Action{Name: "read_container_image", MinPrivate: model.Reporter, Policy: PolicyReadContainers, Image: true}
	PushImage   = Action{Name: "create_container_image", Write: true, Min: model.Developer, Policy: PolicyAdminContainers, JobOwnProject: true, Image: true}
	DeleteImage = Action{Name: "destroy_container_image", Write: true, Min: model.Developer, NonOwnerMin: model.Maintainer,
		Policy: PolicyAdminContainers, JobOwnProject: true, Image: true}
	// RegistryToken is the token service's own route: anyone may ask,
	// each scope is then decided on its own; a dead job token is refused
	// (liveness) with 401.
	RegistryToken = Action{Name: "registry_token", Image: true}
	// ServeRegistry is the embedded registry at /v2/: it checks the
	// token service's tokens itself.
	ServeRegistry = Action{Name: "registry_api"}
)

// The fine-grained policies GitLab names for its container registry.
const (
	PolicyReadContainers  = "read_containers"
	PolicyAdminContainers = "admin_containers"
)

// MsgInsufficientRegistryScope: a personal access token without a
// registry scope (read_registry, write_registry, api; read_api reads).
const MsgInsufficientRegistryScope = "insufficient_scope"
