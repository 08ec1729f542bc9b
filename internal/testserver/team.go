package testserver

import "testing"

// Team is a project "grp/app" in a group of the same visibility, with a
// member of each role (guest, reporter, dev, maint: Guest to Maintainer)
// and an outsider who belongs to nothing.
type Team struct {
	Project                               Project
	Guest, Reporter, Dev, Maint, Outsider User
}

// NewTeam creates a Team.
func (s *Server) NewTeam(t testing.TB, visibility string) *Team {
	t.Helper()
	e := &Team{}
	g := s.CreateGroup(t, "grp", 0, visibility)
	e.Project = s.CreateProject(t, g, "app", visibility)
	for _, m := range []struct {
		u     *User
		name  string
		level int
	}{{&e.Guest, "guest", 10}, {&e.Reporter, "reporter", 20}, {&e.Dev, "dev", 30}, {&e.Maint, "maint", 40}, {&e.Outsider, "outsider", 0}} {
		*m.u = s.CreateUser(t, m.name)
		if m.level > 0 {
			s.AddMember(t, "projects", e.Project.ID, m.u.ID, m.level)
		}
	}
	return e
}

// TeamCI is a private Team with a runner and, when created with a
// .gitlab-ci.yml, a pipeline of it pushed by the developer.
type TeamCI struct {
	*Team
	Runner *RunnerClient
	Repo   *Repo
}

// NewTeamCI creates a TeamCI; ciYAML "" pushes nothing.
func (s *Server) NewTeamCI(t testing.TB, ciYAML string) *TeamCI {
	t.Helper()
	e := &TeamCI{Team: s.NewTeam(t, "private")}
	_, tok := s.CreateRunner(t, nil)
	e.Runner = s.NewRunnerClient(tok)
	if ciYAML != "" {
		e.Repo, _ = s.PushCI(t, e.Project.Path, e.Dev, map[string]string{".gitlab-ci.yml": ciYAML})
	}
	return e
}

// Take asks for the next job, checks its name and starts it.
func (e *TeamCI) Take(t testing.TB, name string) *RunningJob {
	t.Helper()
	j := e.Runner.TakeJob(t)
	if j.Payload.JobInfo.Name != name {
		t.Fatalf("took job %q, want %q", j.Payload.JobInfo.Name, name)
	}
	j.Start(t)
	return j
}

// ArtifactsCI is a pipeline of two stages: build, which declares an
// archive (paths, an exclude, expire_in) and a junit report, and test.
const ArtifactsCI = `stages: [build, test]
build:
  stage: build
  script: [make]
  artifacts:
    paths: [out/]
    exclude: ["out/*.tmp"]
    expire_in: 1 week
    reports:
      junit: report.xml
test:
  stage: test
  script: [make test]
`
