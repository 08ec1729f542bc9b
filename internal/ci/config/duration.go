package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

var durationUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "wk": 7 * 24 * time.Hour, "wks": 7 * 24 * time.Hour,
	"week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
	"mo": 30 * 24 * time.Hour, "mos": 30 * 24 * time.Hour, "month": 30 * 24 * time.Hour, "months": 30 * 24 * time.Hour,
	"y": 365 * 24 * time.Hour, "yr": 365 * 24 * time.Hour, "yrs": 365 * 24 * time.Hour,
	"year": 365 * 24 * time.Hour, "years": 365 * 24 * time.Hour,
}

// maxParsedDuration keeps the arithmetic far from overflowing.
const maxParsedDuration = 100 * 365 * 24 * time.Hour

// ParseDuration parses the human durations GitLab accepts for timeout,
// start_in and expire_in: "3600" (seconds), "90 minutes", "1h 30m",
// "1h30m", "1 hour and 30 min", "2 days", "1.5 hours". A month is 30 days
// and a year 365, as in GitLab's ChronicDuration.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	if in == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	i := 0
	for i < len(in) {
		c := in[i]
		if c == ' ' || c == ',' || c == '\t' {
			i++
			continue
		}
		if strings.HasPrefix(in[i:], "and ") {
			i += 4
			continue
		}
		j := i
		for j < len(in) && (in[j] >= '0' && in[j] <= '9' || in[j] == '.') {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		n, err := strconv.ParseFloat(in[i:j], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		for j < len(in) && in[j] == ' ' {
			j++
		}
		k := j
		for k < len(in) && in[k] >= 'a' && in[k] <= 'z' {
			k++
		}
		unit := time.Second
		if k > j {
			u, ok := durationUnits[in[j:k]]
			if !ok {
				return 0, fmt.Errorf("invalid duration %q: unknown unit %q", s, in[j:k])
			}
			unit = u
		}
		part := n * float64(unit)
		if part > float64(maxParsedDuration) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += time.Duration(part)
		if total > maxParsedDuration {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		i = k
	}
	return total, nil
}
