package authz

import "github.com/ciwarden/ciwarden/internal/model"

// Releases (issue 18, GitLab's release rights): whoever sees a public or
// internal project reads its releases, a private one needs Reporter;
// Developers create, update and delete them. A job token acts as its
// user, with read_releases or admin_releases (gitlab-compat.md §6).
var (
	ReadRelease  = Action{Name: "read_release", MinPrivate: model.Reporter, Policy: PolicyReadReleases}
	AdminRelease = Action{Name: "admin_release", Write: true, Min: model.Developer, Policy: PolicyAdminReleases}
	// AdminReleaseOnTag is admin_release on the release's tag: GitLab
	// lets only who may create a protected tag create, update or delete
	// its release (and create the tag from ref), so the protected_ref
	// check applies as for creating the tag by a push, without the push's
	// job-token restrictions (the release API is a job token's own).
	AdminReleaseOnTag = onRef(AdminRelease, "admin_release_on_tag", RefCreateTag)
)
