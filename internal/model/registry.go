package model

import "time"

// ContainerRepository is one image repository of a project's container
// registry (GitLab's ContainerRepository): the project's path itself
// (Name "") or <project path>/<Name>.
type ContainerRepository struct {
	ID        int64
	ProjectID int64
	Name      string
	Path      string
	CreatedAt time.Time
}

// ContainerPolicy is a project's container registry cleanup policy
// (GitLab's ContainerExpirationPolicy): every Cadence, in each of the
// project's image repositories, the tags whose names match NameRegex and
// not NameRegexKeep are deleted, but for the KeepN newest and those
// younger than OlderThan. A nil field is GitLab's null (no such limit).
type ContainerPolicy struct {
	ProjectID     int64
	Enabled       bool
	Cadence       string
	KeepN         *int
	OlderThan     *string
	NameRegex     *string
	NameRegexKeep *string
	// NextRunAt is zero while the policy is disabled.
	NextRunAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}
