// Package ci turns a project's .gitlab-ci.yml into pipelines and drives
// them: the job state machine, pipeline processing after every change,
// and the predefined CI/CD variables.
package ci

import (
	"fmt"

	"github.com/ciwarden/ciwarden/internal/model"
)

// Event is something that happens to a job.
type Event string

const (
	EvEnqueue   Event = "enqueue"   // ready to run: to pending
	EvActionize Event = "actionize" // waits for a person: to manual
	EvSchedule  Event = "schedule"  // waits for its start_in: to scheduled
	EvSkip      Event = "skip"      // will not run
	EvRun       Event = "run"       // a runner took it
	EvSucceed   Event = "succeed"
	EvDrop      Event = "drop" // failed
	EvCancel    Event = "cancel"
	// EvCancelGracefully asks a running job to stop after its
	// after_script; the runner then reports the end.
	EvCancelGracefully Event = "cancel_gracefully"
	EvPlay             Event = "play" // a person started a manual job
)

// transitions is the job state machine: for each event, the statuses it may
// leave and the status it leads to.
var transitions = map[Event]struct {
	from []string
	to   string
}{
	EvEnqueue:          {[]string{model.StatusCreated, model.StatusScheduled}, model.StatusPending},
	EvActionize:        {[]string{model.StatusCreated}, model.StatusManual},
	EvSchedule:         {[]string{model.StatusCreated}, model.StatusScheduled},
	EvSkip:             {[]string{model.StatusCreated}, model.StatusSkipped},
	EvRun:              {[]string{model.StatusPending}, model.StatusRunning},
	EvSucceed:          {[]string{model.StatusRunning, model.StatusCanceling}, model.StatusSuccess},
	EvDrop:             {[]string{model.StatusCreated, model.StatusPending, model.StatusRunning, model.StatusCanceling, model.StatusScheduled}, model.StatusFailed},
	EvCancel:           {[]string{model.StatusCreated, model.StatusPending, model.StatusRunning, model.StatusCanceling, model.StatusManual, model.StatusScheduled}, model.StatusCanceled},
	EvCancelGracefully: {[]string{model.StatusRunning}, model.StatusCanceling},
	EvPlay:             {[]string{model.StatusManual}, model.StatusPending},
}

// ErrTransition is an event that the job's status does not allow.
type ErrTransition struct {
	From  string
	Event Event
}

func (e *ErrTransition) Error() string {
	return fmt.Sprintf("a %s job cannot %s", e.From, e.Event)
}

// Transition returns the status a job in from reaches on ev.
func Transition(from string, ev Event) (string, error) {
	t, ok := transitions[ev]
	if !ok {
		return "", &ErrTransition{From: from, Event: ev}
	}
	for _, f := range t.from {
		if f == from {
			return t.to, nil
		}
	}
	return "", &ErrTransition{From: from, Event: ev}
}

// Composite derives one status from many (a job's needs, earlier stages,
// a whole pipeline), with GitLab's precedence. A failed or canceled job
// that may fail counts as success with warnings; a manual job that may be
// skipped (allow_failure) does not block and counts as ignored.
func Composite(jobs []*model.Job) string {
	const warn, ignored = "success_with_warnings", "ignored"
	has := map[string]bool{}
	for _, j := range jobs {
		s := j.Status
		switch {
		case j.AllowFailure && (s == model.StatusFailed || s == model.StatusCanceled):
			s = warn
		case j.AllowFailure && s == model.StatusManual:
			s = ignored
		case s == model.StatusCanceling:
			s = model.StatusRunning
		}
		has[s] = true
	}
	only := func(allowed ...string) bool {
		for s := range has {
			found := false
			for _, a := range allowed {
				found = found || s == a
			}
			if !found {
				return false
			}
		}
		return true
	}
	switch {
	case len(has) == 0 || only(model.StatusSkipped, ignored):
		return model.StatusSkipped
	case only(model.StatusSuccess, model.StatusSkipped, warn, ignored):
		return model.StatusSuccess
	case only(model.StatusCreated, warn, ignored):
		return model.StatusCreated
	case only(model.StatusCanceled, model.StatusSuccess, model.StatusSkipped, warn, ignored):
		return model.StatusCanceled
	case only(model.StatusPending, model.StatusCreated, model.StatusSkipped, warn, ignored):
		return model.StatusPending
	case has[model.StatusRunning] || has[model.StatusPending]:
		return model.StatusRunning
	case has[model.StatusManual]:
		return model.StatusManual
	case has[model.StatusScheduled]:
		return model.StatusScheduled
	case has[model.StatusCreated]:
		return model.StatusRunning
	}
	return model.StatusFailed
}
