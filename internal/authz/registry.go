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

	// The container registry REST API (/projects/:id/registry/...):
	// Reporters read, Maintainers delete; a job token reaches its own
	// project's only (gitlab-compat.md §3.1 step 5, §3.4).
	ReadContainerRepository = Action{Name: "read_container_repository", MinPrivate: model.Reporter,
		Policy: PolicyReadContainers, JobOwnProject: true, OwnProjectMessage: MsgRegistryOtherProject}
	DestroyContainerRepository = Action{Name: "destroy_container_repository", Write: true, Min: model.Maintainer,
		Policy: PolicyAdminContainers, JobOwnProject: true, OwnProjectMessage: MsgRegistryOtherProject}
	// FindContainerRepository is GET /registry/repositories/:id, whose
	// project is known only once the repository is loaded: the handler
	// then decides ReadContainerRepository on it.
	FindContainerRepository = Action{Name: "find_container_repository"}
)

// MsgRegistryOtherProject is GitLab's refusal of a job token on another
// project's container registry API.
const MsgRegistryOtherProject = "This project's CI/CD job token cannot be used to authenticate with the container registry of a different project."

// The fine-grained policies GitLab names for its container registry.
const (
	PolicyReadContainers  = "read_containers"
	PolicyAdminContainers = "admin_containers"
)

// MsgInsufficientRegistryScope: a personal access token without a
// registry scope (read_registry, write_registry, api; read_api reads).
const MsgInsufficientRegistryScope = "insufficient_scope"
