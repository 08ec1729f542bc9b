package model

import "time"

// Trigger is a project's pipeline trigger token: whoever holds it creates
// pipelines there as its owner (source trigger). Only the token's digest
// is kept; ShortToken is what GitLab shows of it after creation.
type Trigger struct {
	ID          int64
	ProjectID   int64
	OwnerID     int64
	Description string
	ShortToken  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	LastUsedAt  *time.Time
}
