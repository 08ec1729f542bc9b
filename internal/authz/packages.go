package authz

import "github.com/ciwarden/ciwarden/internal/model"

// Package registry actions, with GitLab's roles: whoever sees a public or
// internal project may pull its packages, a private one needs Reporter;
// Developers publish and Maintainers delete. A job token acts as its user,
// so the same roles bind it.
var (
	ReadPackage    = Action{Name: "read_package", MinPrivate: model.Reporter, Policy: PolicyReadPackages}
	CreatePackage  = Action{Name: "create_package", Write: true, Min: model.Developer, Policy: PolicyAdminPackages}
	DestroyPackage = Action{Name: "destroy_package", Write: true, Min: model.Maintainer, Policy: PolicyAdminPackages}
)
