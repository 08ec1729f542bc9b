package model

import "time"

// Schedule is a project's pipeline schedule: at each time its cron names
// (in CronTimezone) it creates a pipeline on Ref as its owner, source
// schedule, with its variables. NextRunAt is the next due time; a replica
// fires the schedule by claiming that exact value (store.ClaimSchedule).
type Schedule struct {
	ID             int64
	ProjectID      int64
	OwnerID        int64
	Description    string
	Ref            string
	Cron           string
	CronTimezone   string
	Active         bool
	NextRunAt      time.Time
	LastPipelineID int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ScheduleVariable is a variable a schedule gives its pipelines.
type ScheduleVariable struct {
	Key          string
	Value        string
	VariableType string // env_var or file
}
