package ci

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ciwarden/ciwarden/internal/model"
)

var allStatuses = []string{
	model.StatusCreated, model.StatusPending, model.StatusRunning, model.StatusSuccess, model.StatusFailed,
	model.StatusCanceled, model.StatusCanceling, model.StatusSkipped, model.StatusManual, model.StatusScheduled,
}

var allEvents = []Event{EvEnqueue, EvActionize, EvSchedule, EvSkip, EvRun, EvSucceed, EvDrop, EvCancel, EvCancelGracefully, EvPlay}

// TestTransitions checks every status x event pair against the expected
// state machine, written out here independently of the transitions map.
func TestTransitions(t *testing.T) {
	want := map[string]string{ // "from/event" -> to; absent means refused
		"created/enqueue": model.StatusPending, "scheduled/enqueue": model.StatusPending,
		"created/actionize": model.StatusManual,
		"created/schedule":  model.StatusScheduled,
		"created/skip":      model.StatusSkipped,
		"pending/run":       model.StatusRunning,
		"running/succeed":   model.StatusSuccess, "canceling/succeed": model.StatusSuccess,
		"created/drop": model.StatusFailed, "pending/drop": model.StatusFailed, "running/drop": model.StatusFailed,
		"canceling/drop": model.StatusFailed, "scheduled/drop": model.StatusFailed,
		"created/cancel": model.StatusCanceled, "pending/cancel": model.StatusCanceled, "running/cancel": model.StatusCanceled,
		"canceling/cancel": model.StatusCanceled, "manual/cancel": model.StatusCanceled, "scheduled/cancel": model.StatusCanceled,
		"running/cancel_gracefully": model.StatusCanceling,
		"manual/play":               model.StatusPending,
	}
	n := 0
	for _, from := range allStatuses {
		for _, ev := range allEvents {
			key := fmt.Sprintf("%s/%s", from, ev)
			t.Run(key, func(t *testing.T) {
				got, err := Transition(from, ev)
				exp, ok := want[key]
				if !ok {
					var te *ErrTransition
					if !errors.As(err, &te) || got != "" {
						t.Fatalf("Transition(%s, %s) = %q, %v; want refusal", from, ev, got, err)
					}
					if te.Error() != fmt.Sprintf("a %s job cannot %s", from, ev) {
						t.Fatalf("message %q", te.Error())
					}
					return
				}
				if err != nil || got != exp {
					t.Fatalf("Transition(%s, %s) = %q, %v; want %q", from, ev, got, err, exp)
				}
			})
			n++
		}
	}
	if n != len(allStatuses)*len(allEvents) {
		t.Fatalf("covered %d pairs", n)
	}
	if _, err := Transition(model.StatusCreated, Event("explode")); err == nil {
		t.Fatal("unknown event accepted")
	}
}

func jobs(specs ...string) []*model.Job {
	var out []*model.Job
	for _, s := range specs {
		j := &model.Job{Status: s}
		if len(s) > 1 && s[len(s)-1] == '!' { // "failed!" = may fail
			j.Status, j.AllowFailure = s[:len(s)-1], true
		}
		out = append(out, j)
	}
	return out
}

func TestComposite(t *testing.T) {
	cases := []struct {
		jobs []string
		want string
	}{
		{nil, model.StatusSkipped},
		{[]string{"skipped"}, model.StatusSkipped},
		{[]string{"manual!"}, model.StatusSkipped},
		{[]string{"success"}, model.StatusSuccess},
		{[]string{"success", "skipped"}, model.StatusSuccess},
		{[]string{"success", "failed!"}, model.StatusSuccess},
		{[]string{"success", "canceled!"}, model.StatusSuccess},
		{[]string{"success", "manual!"}, model.StatusSuccess},
		{[]string{"created"}, model.StatusCreated},
		{[]string{"created", "manual!"}, model.StatusCreated},
		{[]string{"created", "success"}, model.StatusRunning},
		{[]string{"canceled"}, model.StatusCanceled},
		{[]string{"canceled", "success"}, model.StatusCanceled},
		{[]string{"pending"}, model.StatusPending},
		{[]string{"pending", "created", "skipped"}, model.StatusPending},
		{[]string{"pending", "success"}, model.StatusRunning},
		{[]string{"running"}, model.StatusRunning},
		{[]string{"canceling"}, model.StatusRunning},
		{[]string{"running", "failed"}, model.StatusRunning},
		{[]string{"manual", "success"}, model.StatusManual},
		{[]string{"manual", "failed"}, model.StatusManual},
		{[]string{"scheduled", "success"}, model.StatusScheduled},
		{[]string{"failed"}, model.StatusFailed},
		{[]string{"failed", "success"}, model.StatusFailed},
		{[]string{"failed", "canceled"}, model.StatusFailed},
		{[]string{"failed", "skipped", "manual!"}, model.StatusFailed},
	}
	for _, c := range cases {
		if got := Composite(jobs(c.jobs...)); got != c.want {
			t.Errorf("Composite(%v) = %s, want %s", c.jobs, got, c.want)
		}
	}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		when, prev string
		want       Event
	}{
		{"on_success", model.StatusSuccess, EvEnqueue},
		{"on_success", model.StatusSkipped, EvEnqueue},
		{"on_success", model.StatusFailed, EvSkip},
		{"on_success", model.StatusCanceled, EvSkip},
		{"on_failure", model.StatusFailed, EvEnqueue},
		{"on_failure", model.StatusSuccess, EvSkip},
		{"always", model.StatusFailed, EvEnqueue},
		{"always", model.StatusSuccess, EvEnqueue},
		{"always", model.StatusCanceled, EvSkip},
		{"manual", model.StatusSuccess, EvActionize},
		{"manual", model.StatusFailed, EvSkip},
		{"delayed", model.StatusSuccess, EvSchedule},
		{"delayed", model.StatusFailed, EvSkip},
	}
	for _, c := range cases {
		if got := decide(&model.Job{When: c.when}, c.prev); got != c.want {
			t.Errorf("decide(%s after %s) = %s, want %s", c.when, c.prev, got, c.want)
		}
	}
	dag := []struct {
		when, prev string
		want       Event
	}{
		{"on_success", model.StatusSkipped, EvSkip},
		{"manual", model.StatusSkipped, EvSkip},
		{"on_success", model.StatusSuccess, EvEnqueue},
		{"always", model.StatusSkipped, EvEnqueue},
	}
	for _, c := range dag {
		if got := decide(&model.Job{When: c.when, DAG: true}, c.prev); got != c.want {
			t.Errorf("DAG decide(%s after %s) = %s, want %s", c.when, c.prev, got, c.want)
		}
	}
}

func TestSlug(t *testing.T) {
	cases := map[string]string{
		"main": "main", "Feature/Login_Page": "feature-login-page", "-x-": "x", "v1.2.3": "v1-2-3",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	}
	for in, want := range cases {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}
