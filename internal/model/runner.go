package model

import "time"

// Runner types, GitLab's names.
const (
	InstanceRunner = "instance_type"
	GroupRunner    = "group_type"
	ProjectRunner  = "project_type"
)

// Runner is a registered runner; its token is stored as a digest.
type Runner struct {
	ID             int64
	Type           string
	GroupID        *int64
	ProjectIDs     []int64 // project runners: the projects it serves
	Description    string
	Tags           []string
	RunUntagged    bool
	Paused         bool
	Locked         bool
	MaximumTimeout int // seconds; 0 = no cap
	CreatedBy      int64
	CreatedAt      time.Time
	ContactedAt    *time.Time
}

// Online reports whether the runner asked for jobs recently.
func (r *Runner) Online(now time.Time) bool {
	return r.ContactedAt != nil && now.Sub(*r.ContactedAt) < 2*time.Hour
}

// CanRun reports whether the runner's tags allow a job with tags.
func (r *Runner) CanRun(tags []string) bool {
	if len(tags) == 0 {
		return r.RunUntagged
	}
	have := map[string]bool{}
	for _, t := range r.Tags {
		have[t] = true
	}
	for _, t := range tags {
		if !have[t] {
			return false
		}
	}
	return true
}
