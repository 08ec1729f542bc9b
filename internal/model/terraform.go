package model

import "time"

// TerraformState is one named Terraform/OpenTofu state of a project (the
// HTTP backend's address .../terraform/state/<name>): its lock, and its
// newest version, the one a GET answers.
type TerraformState struct {
	ID        int64
	ProjectID int64
	Name      string
	// Lock is nil while the state is unlocked.
	Lock      *TerraformLock
	CreatedAt time.Time
	UpdatedAt time.Time
	// Latest is the version with the highest serial; nil before the
	// first write (a state that was only locked).
	Latest *TerraformStateVersion
}

// TerraformLock is who holds a state's lock: the lock ID the client chose
// and the lock information it sent, kept as given (JSON), which a
// refused lock or write answers with.
type TerraformLock struct {
	ID       string
	Info     string
	UserID   int64
	LockedAt time.Time
}

// TerraformStateVersion is one stored version of a state: its serial
// (from the state's JSON) and the blob that holds it, sealed with the
// instance key.
type TerraformStateVersion struct {
	ID      int64
	StateID int64
	Serial  int64
	BlobKey string
	// Size is the state's length in clear.
	Size      int64
	CreatedBy int64
	// JobID is the job whose token wrote it, if one did.
	JobID     *int64
	CreatedAt time.Time
}

// StateLockedError refuses a lock, a write, an unlock or a delete of a
// state whose lock someone else holds (or, Lock nil, a write naming a lock
// that the state no longer has). GitLab answers 409 with the holder's lock
// information, which OpenTofu shows.
type StateLockedError struct {
	Lock *TerraformLock
}

func (e *StateLockedError) Error() string { return "the terraform state is locked by another lock" }

func (e *StateLockedError) Unwrap() error { return ErrConflict }
