package model

import (
	"strconv"
	"strings"
	"time"
)

// The two kinds of CI/CD variable (GitLab's variable_type).
const (
	VariableEnv  = "env_var"
	VariableFile = "file" // the runner writes the value to a file; the variable holds its path
)

// VariableOwner is whose list a CI/CD variable is on: the instance, a
// group or a project.
type VariableOwner struct {
	Kind string // "instance", "group" or "project"
	ID   int64  // 0 for the instance
}

// Variable owner kinds.
const (
	OwnerInstance = "instance"
	OwnerGroup    = "group"
	OwnerProject  = "project"
)

// String is the owner as stored ("group:12"), and part of what a sealed
// value is bound to.
func (o VariableOwner) String() string {
	if o.Kind == OwnerInstance {
		return OwnerInstance
	}
	return o.Kind + ":" + strconv.FormatInt(o.ID, 10)
}

// ParseVariableOwner reads what String wrote.
func ParseVariableOwner(s string) VariableOwner {
	kind, id, _ := strings.Cut(s, ":")
	n, _ := strconv.ParseInt(id, 10, 64)
	return VariableOwner{Kind: kind, ID: n}
}

// CIVariable is a project's, group's or the instance's CI/CD variable.
// Sealed is the value as stored; Value is filled in once opened.
type CIVariable struct {
	ID               int64
	Owner            VariableOwner
	Key              string
	Value            string
	Sealed           []byte
	Type             string
	Protected        bool
	Masked           bool
	Hidden           bool
	Raw              bool
	EnvironmentScope string
	Description      *string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}
