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
