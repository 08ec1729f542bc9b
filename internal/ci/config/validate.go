package config

import (
	"fmt"
	"strings"
)

// validate checks what involves more than one job: needs and dependencies
// against the whole file, as GitLab does when it reads the file. Plan checks
// them again against the jobs that rules actually create.
func validate(cfg *Config) error {
	stage := stageIndex(cfg.Stages)
	byName := make(map[string]*Job, len(cfg.Jobs))
	for _, j := range cfg.Jobs {
		byName[j.Name] = j
	}
	for _, j := range cfg.Jobs {
		if err := checkNeedsStatic(j, j.Needs, byName, stage); err != nil {
			return err
		}
		for _, r := range j.Rules {
			if err := checkNeedsStatic(j, r.Needs, byName, stage); err != nil {
				return err
			}
		}
		for _, dep := range j.Dependencies {
			t := byName[dep]
			switch {
			case t == nil:
				return jobErr(j, "job %q depends on %q, which is not defined", j.Name, dep)
			case j.NeedsSet && !needsJob(j.Needs, dep):
				return jobErr(j, "job %q depends on %q, which must also be listed in its needs", j.Name, dep)
			case !j.NeedsSet && stage[t.Stage] >= stage[j.Stage]:
				return jobErr(j, "job %q depends on %q, which is not in an earlier stage", j.Name, dep)
			}
		}
	}
	names := make([]string, len(cfg.Jobs))
	for i, j := range cfg.Jobs {
		names[i] = j.Name
	}
	needsOf := func(name string) ([]Need, bool) {
		j, ok := byName[name]
		if !ok {
			return nil, false
		}
		return j.Needs, true
	}
	if cycle := needsCycle(names, needsOf); cycle != nil {
		return jobErr(byName[cycle[0]], "needs form a cycle: %s", strings.Join(cycle, " -> "))
	}
	return nil
}

func checkNeedsStatic(j *Job, needs []Need, byName map[string]*Job, stage map[string]int) error {
	for _, n := range needs {
		if !n.local() {
			continue
		}
		t := byName[n.Job]
		switch {
		case t == nil && n.Optional:
		case t == nil:
			return &Error{File: j.File, Line: n.Line, Msg: fmt.Sprintf("job %q needs %q, which is not defined", j.Name, n.Job)}
		case stage[t.Stage] > stage[j.Stage]:
			return &Error{File: j.File, Line: n.Line, Msg: fmt.Sprintf("job %q needs %q, which is in a later stage (%s)", j.Name, n.Job, t.Stage)}
		}
	}
	return nil
}

func jobErr(j *Job, format string, args ...any) *Error {
	return &Error{File: j.File, Line: j.Line, Msg: fmt.Sprintf(format, args...)}
}

func stageIndex(stages []string) map[string]int {
	m := make(map[string]int, len(stages))
	for i, s := range stages {
		m[s] = i
	}
	return m
}

func needsJob(needs []Need, name string) bool {
	for _, n := range needs {
		if n.local() && n.Job == name {
			return true
		}
	}
	return false
}

// needsCycle returns a cycle among the local needs of the named jobs (the
// first name repeated at the end), or nil. needsOf reports a job's needs and
// whether the job exists; needs on jobs that do not exist are ignored.
func needsCycle(names []string, needsOf func(name string) ([]Need, bool)) []string {
	const (
		unvisited = iota
		onPath
		done
	)
	state := make(map[string]int, len(names))
	var path []string
	var visit func(name string, needs []Need) []string
	visit = func(name string, needs []Need) []string {
		state[name] = onPath
		path = append(path, name)
		for _, n := range needs {
			if !n.local() {
				continue
			}
			next, ok := needsOf(n.Job)
			if !ok {
				continue
			}
			switch state[n.Job] {
			case onPath:
				for i, p := range path {
					if p == n.Job {
						return append(append([]string(nil), path[i:]...), n.Job)
					}
				}
			case unvisited:
				if c := visit(n.Job, next); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	for _, name := range names {
		if state[name] != unvisited {
			continue
		}
		if needs, ok := needsOf(name); ok {
			if c := visit(name, needs); c != nil {
				return c
			}
		}
	}
	return nil
}
