package registry

import (
	"testing"
	"time"
)

// TestParseAge: older_than as GitLab's API takes it.
func TestParseAge(t *testing.T) {
	day := 24 * time.Hour
	for in, want := range map[string]time.Duration{
		"90s": 90 * time.Second, "15m": 15 * time.Minute, "1h": time.Hour, "7d": 7 * day, "2 weeks": 14 * day,
		"1month": 30 * day, "3 months": 90 * day, "1y": 365 * day, " 5 Days ": 5 * day,
	} {
		if got, err := ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "-1d", "1.5h", "1 fortnight", "9999999d"} {
		if _, err := ParseAge(bad); err == nil {
			t.Errorf("ParseAge(%q) accepted", bad)
		}
	}
}
