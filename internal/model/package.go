package model

import "time"

// PackageGeneric is the generic package registry's type, the only one
// ciwarden stores so far.
const PackageGeneric = "generic"

// PackageTypes are GitLab's package types, accepted by the package_type
// filter of the packages API (a filter on a type ciwarden never stores
// simply finds nothing).
var PackageTypes = []string{"maven", "npm", "conan", "nuget", "pypi", "composer", "generic", "golang", "debian",
	"rubygems", "helm", "terraform_module", "rpm", "ml_model", "cargo"}

// Package statuses, GitLab's names. Uploads set default or hidden; the
// others exist for the status filter.
const (
	PackageDefault = "default"
	PackageHidden  = "hidden"
)

// PackageStatuses are every status GitLab knows.
var PackageStatuses = []string{PackageDefault, PackageHidden, "processing", "error", "pending_destruction", "deprecated"}

// Package is one version of a named package in a project.
type Package struct {
	ID        int64
	ProjectID int64
	Type      string
	Name      string
	Version   string
	Status    string
	CreatorID int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PackageFile is one uploaded file of a package. BlobKey names its bytes
// in blob storage; a row exists only for a complete blob.
type PackageFile struct {
	ID        int64
	PackageID int64
	FileName  string
	Size      int64
	SHA256    string
	BlobKey   string
	// PipelineID is the pipeline of the job that published the file, when
	// it was published with a job token.
	PipelineID *int64
	CreatedAt  time.Time
}
