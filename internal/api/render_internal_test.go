package api

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// TestTimeJSONIsTimeFormat: the digit-by-digit timeJSON writes exactly what
// time.Format wrote with GitLab's layout, whatever the time and zone.
func TestTimeJSONIsTimeFormat(t *testing.T) {
	zone := time.FixedZone("x", -7*3600-30*60)
	times := []time.Time{
		{}, time.Unix(0, 0), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2026, 12, 6, 21, 5, 9, 7_000_000, zone), time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Now(),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		times = append(times, time.Unix(rng.Int64N(400*365*86400)-100*365*86400, rng.Int64N(1e9)).In(zone))
	}
	for _, tm := range times {
		if got, want := timeJSON(tm), tm.UTC().Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Fatalf("timeJSON(%v) = %q, want %q", tm, got, want)
		}
	}
}

// TestJobTagsKeptBySpec: the tags read once per spec are those decoding
// the spec gives, on the first call and the next, for specs alike but for
// their tags.
func TestJobTagsKeptBySpec(t *testing.T) {
	specs := []string{``, `{}`, `not json`, `{"tags":null}`, `{"tags":[]}`, `{"tags":["docker"]}`,
		`{"tags":["docker","linux"]}`, `{"tags":["linux","docker"]}`, `{"script":["echo"],"tags":["a b","\u00e9"]}`,
		`{"tags":["docker"],"tags":["other"]}`}
	for round := range 2 {
		for _, spec := range specs {
			var want struct {
				Tags []string `json:"tags"`
			}
			_ = json.Unmarshal([]byte(spec), &want)
			if want.Tags == nil {
				want.Tags = []string{}
			}
			got := jobTags(&model.Job{Spec: []byte(spec)})
			if !slices.Equal(got, want.Tags) || got == nil {
				t.Errorf("round %d: jobTags(%s) = %#v, want %#v", round, spec, got, want.Tags)
			}
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(want.Tags)
			if string(a) != string(b) {
				t.Errorf("round %d: jobTags(%s) encodes as %s, want %s", round, spec, a, b)
			}
		}
	}
}
