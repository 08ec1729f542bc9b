package config

import (
	"errors"
	"strings"
	"testing"
)

type errorCase struct {
	name string
	src  string
	line int
	msg  string
}

var errorCases = []errorCase{
	// The document itself.
	{"empty", ``, 0, `configuration is empty`},
	{"only comments", "# nothing\n", 0, `configuration is empty`},
	{"list document", "- a\n- b\n", 1, `configuration must be a mapping of keywords and jobs, not a list`},
	{"string document", "hello\n", 1, `configuration must be a mapping of keywords and jobs, not a string`},
	{"null document", "~\n", 1, `configuration must be a mapping of keywords and jobs, not null`},
	{"syntax", "a:\n  b: c\n   d: e\n", 3, `invalid YAML: mapping values are not allowed in this context`},
	{"unclosed flow", "a: [\n", 2, `invalid YAML: did not find expected node content`},
	{"unclosed flow in a job", "x:\n  script: [a\n", 2, `invalid YAML: did not find expected ',' or ']'`},
	{"bad indentation of a key", "a: 1\nb:\n  - c\n d: e\n", 4, `invalid YAML: did not find expected key`},
	{"control characters", "\x00\x01\x02", 0, `invalid YAML: control characters are not allowed`},
	{"unknown anchor", "a: *nope\n", 0, `invalid YAML: unknown anchor 'nope' referenced`},
	{"self alias", "a: &x [*x]\n", 1, `alias *x refers to a node that contains it`},
	{"duplicate key", "a:\n  script: x\na:\n  script: y\n", 3, `duplicate key "a" (first defined at line 1)`},
	{"duplicate job key", "a:\n  script: x\n  script: y\n", 3, `duplicate key "script" (first defined at line 2)`},
	{"complex key", "? [a]\n: b\n", 1, `mapping keys must be strings`},
	{"unknown tag", "job:\n  script: !shell x\n", 2, `unsupported YAML tag "!shell"`},
	{"reference scalar", "job:\n  script: !reference x\n", 2, `!reference must be a list such as [job, key]`},
	{"reference empty", "job:\n  script: !reference []\n", 2, `!reference needs at least a job name`},
	{"reference mapping entry", "job:\n  script: !reference [{a: b}]\n", 2, `!reference entries must be names, not a mapping`},
	{"bad merge", "a:\n  <<: [x]\n  script: y\n", 2, `a merge key (<<) needs a mapping or a list of mappings, not a string`},
	{"types", "types: [a]\n", 1, `types is not supported; use stages`},
	{"spec", "spec:\n  inputs: {}\n", 1, `spec (CI/CD inputs) is not supported`},

	// Stages.
	{"stages not list", "stages: build\n", 1, `stages must be a list, not a string`},
	{"stage empty", "stages: ['']\n", 1, `stage names must not be empty`},
	{"stage twice", "stages:\n  - a\n  - a\n", 3, `stage "a" is listed twice`},
	{".pre not first", "stages: [a, .pre]\n", 1, `stage .pre must be the first stage`},
	{".post not last", "stages: [.post, a]\n", 1, `stage .post must be the last stage`},
	{"unknown stage", "job:\n  script: x\n  stage: nope\n", 3, `job "job": stage "nope" is not one of the stages (.pre, build, test, deploy, .post)`},
	{"default stage missing", "stages: [build]\njob:\n  script: x\n", 2, `job "job": stage "test" is not one of the stages (.pre, build, .post)`},
	{"stage not string", "job:\n  script: x\n  stage: [a]\n", 3, `stage must be a string, not a list`},

	// Jobs.
	{"no script", "build:\n  stage: build\n", 1, `job "build" has neither script nor trigger`},
	{"job not mapping", "build: [a]\n", 1, `job "build" must be a mapping, not a list`},
	{"job null", "build:\n", 1, `job "build" must be a mapping, not null`},
	{"job blank", "' ': {script: x}\n", 1, `job names must not be blank`},
	{"job name long", strings.Repeat("n", 256) + ": {script: x}\n", 1, `job name "nnnnnnnnnnnnnnnnnnnn"... is longer than 255 bytes`},
	{"unknown keyword", "build:\n  script: x\n  scrpit: y\n", 3, `job "build": unknown keyword "scrpit"`},
	{"unsupported keyword", "build:\n  script: x\n  only: [main]\n", 3, `job "build": keyword "only" is not supported`},
	{"parallel", "build:\n  script: x\n  parallel: 3\n", 3, `job "build": keyword "parallel" is not supported`},
	{"script empty", "build:\n  script: []\n", 2, `script must not be empty`},
	{"script mapping line", "build:\n  script:\n    - echo key: value\n", 3, `script entries must be strings, not a mapping (quote a line that contains ": ")`},
	{"script null entry", "build:\n  script: [a, ~]\n", 2, `script entries must be strings, not null`},
	{"script mapping", "build:\n  script: {a: b}\n", 2, `script must be a list, not a mapping`},
	{"script too nested", "build:\n  script: [[[[[[[[[[[x]]]]]]]]]]]\n", 2, `script is nested deeper than 10 levels`},
	{"before_script mapping", "build:\n  script: x\n  before_script: [{a: b}]\n", 3, `before_script entries must be strings, not a mapping (quote a line that contains ": ")`},
	{"trigger and script", "b:\n  script: x\n  trigger: a/b\n", 3, `job "b" has both script and trigger`},
	{"when unknown", "b:\n  script: x\n  when: sometimes\n", 3, `when must be one of on_success, manual, always, on_failure, never, delayed, not "sometimes"`},
	{"delayed without start_in", "b:\n  script: x\n  when: delayed\n", 3, `job "b": when: delayed needs start_in`},
	{"start_in without delayed", "b:\n  script: x\n  start_in: 5 min\n", 3, `job "b": start_in needs when: delayed`},
	{"start_in too long", "b:\n  script: x\n  when: delayed\n  start_in: 2 weeks\n", 4, `start_in must be between 1 second and 1 week, not "2 weeks"`},
	{"start_in invalid", "b:\n  script: x\n  when: delayed\n  start_in: soon\n", 4, `start_in: invalid duration "soon"`},
	{"start_in with rules", "b:\n  script: x\n  rules: [{when: always}]\n  start_in: 1 min\n", 4, `job "b": start_in cannot be used with rules; set it in the rule`},
	{"allow_failure string", "b:\n  script: x\n  allow_failure: maybe\n", 3, `allow_failure must be true or false, not a string`},
	{"allow_failure quoted", "b:\n  script: x\n  allow_failure: \"true\"\n", 3, `allow_failure must be true or false, not a string`},
	{"exit_codes empty", "b:\n  script: x\n  allow_failure: {exit_codes: []}\n", 3, `allow_failure:exit_codes must not be empty`},
	{"exit_codes string", "b:\n  script: x\n  allow_failure: {exit_codes: [one]}\n", 3, `allow_failure:exit_codes must be an integer, not a string`},
	{"allow_failure key", "b:\n  script: x\n  allow_failure:\n    exit_code: 1\n", 4, `unknown allow_failure keyword "exit_code"`},
	{"allow_failure empty map", "b:\n  script: x\n  allow_failure: {}\n", 3, `allow_failure needs exit_codes`},
	{"timeout too long", "b:\n  script: x\n  timeout: 2 months\n", 3, `timeout must be between 1 second and 1 month, not "2 months"`},
	{"timeout unit", "b:\n  script: x\n  timeout: 5 fortnights\n", 3, `timeout: invalid duration "5 fortnights": unknown unit "fortnights"`},
	{"timeout zero", "b:\n  script: x\n  timeout: 0\n", 3, `timeout must be between 1 second and 1 month, not "0"`},
	{"retry too high", "b:\n  script: x\n  retry: 3\n", 3, `retry must be between 0 and 2, not 3`},
	{"retry when", "b:\n  script: x\n  retry:\n    max: 1\n    when: [always, sometimes]\n", 5, `unknown retry:when value "sometimes"`},
	{"retry key", "b:\n  script: x\n  retry: {tries: 1}\n", 3, `unknown retry keyword "tries"`},
	{"retry float", "b:\n  script: x\n  retry: 1.5\n", 3, `retry must be an integer, not a number`},
	{"interruptible", "b:\n  script: x\n  interruptible: sure\n", 3, `interruptible must be true or false, not a string`},
	{"image entrypoint", "b:\n  script: x\n  image:\n    name: a\n    entrypoint: ['']\n", 5, `image:entrypoint is not supported`},
	{"image no name", "b:\n  script: x\n  image: {}\n", 3, `image needs name`},
	{"services no name", "b:\n  script: x\n  services: [{alias: db}]\n", 3, `services entries need name`},
	{"environment no name", "b:\n  script: x\n  environment: {action: stop}\n", 3, `environment needs name`},
	{"environment action", "b:\n  script: x\n  environment: {name: p, action: destroy}\n", 3, `environment:action must be one of start, prepare, stop, verify, access, not "destroy"`},
	{"environment key", "b:\n  script: x\n  environment:\n    name: p\n    color: red\n", 5, `unknown environment keyword "color"`},
	{"inherit default key", "b:\n  script: x\n  inherit:\n    default: [image, script]\n", 4, `inherit:default: "script" is not a default keyword`},
	{"inherit key", "b:\n  script: x\n  inherit: {stages: false}\n", 3, `unknown inherit keyword "stages"`},
	{"inherit not map", "b:\n  script: x\n  inherit: false\n", 3, `inherit must be a mapping, not a boolean`},
	{"job_token list", "b:\n  script: x\n  job_token: [read]\n", 3, `job_token must be a mapping, not a list`},
	{"job_token empty", "b:\n  script: x\n  job_token: {}\n", 3, `job_token needs permissions`},
	{"job_token entry", "b:\n  script: x\n  job_token:\n    permissions: [{a: b}]\n", 4, `job_token:permissions entries must be a string, not a mapping`},
	{"job_token key", "b:\n  script: x\n  job_token:\n    scopes: [a]\n", 4, `unknown job_token keyword "scopes"`},
	{"job_token unknown permission", "b:\n  script: x\n  job_token:\n    permissions:\n      - read_packages\n      - read_everything\n", 6, `job_token:permissions: unknown permission "read_everything"`},
	{"job_token unknown in default", "default:\n  job_token: {permissions: [admin_package]}\nb:\n  script: x\n", 2, `job_token:permissions: unknown permission "admin_package"`},
	{"tags string", "b:\n  script: x\n  tags: docker\n", 3, `tags must be a list, not a string`},
	{"id_tokens no aud", "b:\n  script: x\n  id_tokens:\n    T: {}\n", 4, `id_tokens:T needs aud`},
	{"id_tokens name", "b:\n  script: x\n  id_tokens:\n    BAD-NAME: {aud: x}\n", 4, `id_tokens name "BAD-NAME" must contain only letters, digits and _`},
	{"id_tokens key", "b:\n  script: x\n  id_tokens:\n    T: {aud: x, exp: 5}\n", 4, `unknown id_tokens keyword "exp"`},
	{"id_tokens not map", "b:\n  script: x\n  id_tokens: [T]\n", 3, `id_tokens must be a mapping, not a list`},

	// Variables.
	{"variable name", "variables:\n  BAD-NAME: x\n", 2, `variable name "BAD-NAME" must contain only letters, digits and _`},
	{"variable list", "variables:\n  A: [1]\n", 2, `variable "A" must be a string or a mapping with value, not a list`},
	{"variable key", "variables:\n  A: {value: x, secret: true}\n", 2, `unknown variable keyword "secret"`},
	{"variable value list", "variables:\n  A:\n    value: [x]\n", 3, `variable value must be a string, not a list`},
	{"variable expand", "variables:\n  A: {value: x, expand: nope}\n", 2, `variable expand must be true or false, not a string`},
	{"variables list", "variables: [a]\n", 1, `variables must be a mapping, not a list`},
	{"job variable options", "b:\n  script: x\n  variables:\n    A: {value: x, options: [x]}\n", 4, `variable options can only be set on global variables`},
	{"option mismatch", "variables:\n  A:\n    value: c\n    options: [a, b]\n", 3, `variable "A": value "c" is not one of its options`},

	// Rules and workflow.
	{"rules mapping", "b:\n  script: x\n  rules: {if: $A}\n", 3, `rules must be a list, not a mapping`},
	{"rules entry", "b:\n  script: x\n  rules: [always]\n", 3, `rules entries must be mappings, not a string`},
	{"rules if", "b:\n  script: x\n  rules:\n    - if: $A &&\n", 4, `invalid rules:if expression: unexpected end of expression at offset 5`},
	{"rules if quoted", "b:\n  script: x\n  rules:\n    - when: manual\n    - if: '$A == \"x'\n", 5, `invalid rules:if expression: unterminated string at offset 6`},
	{"rules if regex", "b:\n  script: x\n  rules:\n    - if: $A =~ /(/\n", 4, "invalid rules:if expression: invalid regex /(/ at offset 6: error parsing regexp: missing closing ): `(`"},
	{"rules if list", "b:\n  script: x\n  rules:\n    - if: [a]\n", 4, `rules:if must be a string, not a list`},
	{"rules key", "b:\n  script: x\n  rules:\n    - iff: $A\n", 4, `unknown rules keyword "iff"`},
	{"rules when", "b:\n  script: x\n  rules:\n    - when: later\n", 4, `rules:when must be one of on_success, manual, always, on_failure, never, delayed, not "later"`},
	{"rules delayed", "b:\n  script: x\n  rules:\n    - if: $A\n      when: delayed\n", 4, `rules: when: delayed needs start_in`},
	{"rules start_in", "b:\n  script: x\n  rules:\n    - start_in: 1 min\n", 4, `rules: start_in needs when: delayed`},
	{"rules allow_failure", "b:\n  script: x\n  rules:\n    - allow_failure: {exit_codes: 1}\n", 4, `rules:allow_failure must be true or false, not a mapping`},
	{"rules changes map", "b:\n  script: x\n  rules:\n    - changes: {compare_to: main}\n", 4, `rules:changes needs paths`},
	{"rules changes key", "b:\n  script: x\n  rules:\n    - changes:\n        paths: [a]\n        base: main\n", 6, `unknown rules:changes keyword "base"`},
	{"rules changes string", "b:\n  script: x\n  rules:\n    - changes: a/*\n", 4, `rules:changes must be a list, not a string`},
	{"rules exists project", "b:\n  script: x\n  rules:\n    - exists:\n        paths: [a]\n        project: g/p\n", 6, `rules:exists:project is not supported`},
	{"rules too many changes", "b:\n  script: x\n  rules:\n    - changes: [" + strings.Repeat("a,", 50) + "a]\n", 4, `rules:changes has 51 paths, more than 50`},
	{"workflow when", "workflow:\n  rules:\n    - when: manual\n", 3, `workflow:rules:when must be one of always, never, not "manual"`},
	{"workflow needs", "workflow:\n  rules:\n    - needs: [a]\n", 3, `unknown workflow:rules keyword "needs"`},
	{"workflow key", "workflow:\n  rule: []\n", 2, `unknown workflow keyword "rule"`},
	{"workflow auto_cancel", "workflow:\n  auto_cancel: {on_new_commit: none}\n", 2, `workflow:auto_cancel is not supported`},
	{"workflow list", "workflow: [a]\n", 1, `workflow must be a mapping, not a list`},
	{"workflow if", "workflow:\n  rules:\n    - if: ==\n", 3, `invalid workflow:rules:if expression: unexpected token "==" at offset 0`},

	// Needs and dependencies.
	{"needs string", "b:\n  script: x\n  needs: a\n", 3, `needs must be a list, not a string`},
	{"needs twice", "a:\n  script: x\n  stage: build\nb:\n  script: x\n  needs: [a, a]\n", 6, `needs lists "a" twice`},
	{"needs no job", "b:\n  script: x\n  needs:\n    - artifacts: true\n", 4, `needs entries must name a job`},
	{"needs project ref", "b:\n  script: x\n  needs:\n    - {project: g/p, job: j}\n", 4, `needs:project needs ref`},
	{"needs ref", "b:\n  script: x\n  needs:\n    - {job: j, ref: main}\n", 4, `needs:ref needs project`},
	{"needs project and pipeline", "b:\n  script: x\n  needs:\n    - {job: j, project: p, ref: r, pipeline: '1'}\n", 4, `needs entries cannot have both project and pipeline`},
	{"needs key", "b:\n  script: x\n  needs:\n    - {job: j, stage: s}\n", 4, `unknown needs keyword "stage"`},
	{"needs optional", "b:\n  script: x\n  needs:\n    - {job: j, optional: perhaps}\n", 4, `needs:optional must be true or false, not a string`},
	{"needs too many", "b:\n  script: x\n  needs: [" + strings.Repeat("a,", 50) + "a]\n", 3, `needs has 51 entries, more than 50`},
	{"needs undefined", "b:\n  script: x\n  needs:\n    - nope\n", 4, `job "b" needs "nope", which is not defined`},
	{"needs later stage", "a:\n  stage: build\n  script: x\n  needs: [c]\nc:\n  stage: deploy\n  script: x\n", 4, `job "a" needs "c", which is in a later stage (deploy)`},
	{"needs cycle", "a:\n  script: x\n  needs: [b]\nb:\n  script: x\n  needs: [a]\n", 1, `needs form a cycle: a -> b -> a`},
	{"needs self", "a:\n  script: x\n  needs: [a]\n", 1, `needs form a cycle: a -> a`},
	{"rules needs undefined", "b:\n  script: x\n  rules:\n    - needs: [nope]\n", 4, `job "b" needs "nope", which is not defined`},
	{"dependency undefined", "b:\n  script: x\n  dependencies: [nope]\n", 1, `job "b" depends on "nope", which is not defined`},
	{"dependency same stage", "a:\n  script: x\nb:\n  script: x\n  dependencies: [a]\n", 3, `job "b" depends on "a", which is not in an earlier stage`},
	{"dependency not needed", "a:\n  stage: build\n  script: x\nb:\n  script: x\n  needs: []\n  dependencies: [a]\n", 4, `job "b" depends on "a", which must also be listed in its needs`},

	// Artifacts, cache, trigger.
	{"artifacts list", "b:\n  script: x\n  artifacts: [a]\n", 3, `artifacts must be a mapping, not a list`},
	{"artifacts key", "b:\n  script: x\n  artifacts:\n    path: [a]\n", 4, `unknown artifacts keyword "path"`},
	{"artifacts when", "b:\n  script: x\n  artifacts: {when: sometimes}\n", 3, `artifacts:when must be one of on_success, on_failure, always, not "sometimes"`},
	{"artifacts expire_in", "b:\n  script: x\n  artifacts: {expire_in: forever}\n", 3, `artifacts:expire_in: invalid duration "forever"`},
	{"artifacts report type", "b:\n  script: x\n  artifacts:\n    reports:\n      junitt: a.xml\n", 5, `unknown artifacts:reports type "junitt"`},
	{"artifacts coverage_report", "b:\n  script: x\n  artifacts:\n    reports:\n      coverage_report: {coverage_format: cobertura}\n", 5, `artifacts:reports:coverage_report needs coverage_format and path`},
	{"artifacts access", "b:\n  script: x\n  artifacts: {access: everyone}\n", 3, `artifacts:access must be one of all, developer, maintainer, none, not "everyone"`},
	{"cache key slash", "b:\n  script: x\n  cache: {key: a/b}\n", 3, `cache:key "a/b" must not contain "/" or be "." or ".."`},
	{"cache key dot", "b:\n  script: x\n  cache: {key: ..}\n", 3, `cache:key ".." must not contain "/" or be "." or ".."`},
	{"cache policy", "b:\n  script: x\n  cache: {policy: pull-only}\n", 3, `cache:policy must be one of pull, push, pull-push, not "pull-only"`},
	{"cache too many", "b:\n  script: x\n  cache: [{}, {}, {}, {}, {}]\n", 3, `cache has 5 entries, more than 4`},
	{"cache key files", "b:\n  script: x\n  cache:\n    key: {files: [a, b, c]}\n", 4, `cache:key:files must list one or two files`},
	{"cache key no files", "b:\n  script: x\n  cache:\n    key: {prefix: p}\n", 4, `cache:key needs files`},
	{"cache fallback", "b:\n  script: x\n  cache:\n    fallback_keys: [a, b, c, d, e, f]\n", 4, `cache:fallback_keys has 6 entries, more than 5`},
	{"cache string", "b:\n  script: x\n  cache: vendor\n", 3, `cache must be a mapping or a list of mappings, not a string`},
	{"trigger both", "b:\n  trigger:\n    project: a/b\n    include: c.yml\n", 3, `trigger cannot have both project and include`},
	{"trigger neither", "b:\n  trigger: {strategy: depend}\n", 2, `trigger needs project or include`},
	{"trigger strategy", "b:\n  trigger: {project: a/b, strategy: wait}\n", 2, `trigger:strategy must be one of depend, not "wait"`},
	{"trigger branch", "b:\n  trigger: {include: a.yml, branch: main}\n", 2, `trigger:branch needs trigger:project`},
	{"trigger include remote", "b:\n  trigger:\n    include: https://example.com/a.yml\n", 3, `trigger:include supports only local files`},
	{"trigger include artifact key", "b:\n  trigger:\n    include:\n      - {artifact: gen.yml, pipeline: 3}\n", 4, `trigger:include supports local files, or artifact with job`},
	{"trigger include artifact no job", "b:\n  trigger:\n    include:\n      - {artifact: gen.yml, job: \"\"}\n", 4, `trigger:include:artifact needs artifact and job`},
	{"trigger include many", "b:\n  trigger:\n    include: [a.yml, b.yml, c.yml, d.yml]\n", 3, `trigger:include must list one to three files`},
	{"trigger forward", "b:\n  trigger:\n    project: a/b\n    forward: {secrets: true}\n", 4, `unknown trigger:forward keyword "secrets"`},
	{"trigger list", "b:\n  trigger: [a]\n", 2, `trigger must be a project path or a mapping, not a list`},

	// Defaults.
	{"default script", "default:\n  script: x\n", 2, `"script" cannot be set in default`},
	{"default not map", "default: [a]\n", 1, `default must be a mapping, not a list`},
	{"default and global", "default:\n  image: a\nimage: b\nj:\n  script: x\n", 3, `image is set both at the top level and in default; keep only default:image`},
	{"default bad value", "default:\n  timeout: forever\nj:\n  script: x\n", 2, `timeout: invalid duration "forever"`},

	// Extends and !reference.
	{"extends unknown", "b:\n  script: x\n  extends: .nope\n", 3, `"b" extends ".nope", which is not defined`},
	{"extends keyword", "b:\n  script: x\n  extends: variables\nvariables: {}\n", 3, `"b" extends "variables", which is not defined`},
	{"extends list", ".t: [a]\nb:\n  script: x\n  extends: .t\n", 4, `"b" extends ".t", which is not a mapping`},
	{"extends bad", "b:\n  script: x\n  extends: [{a: b}]\n", 3, `extends must be a job name or a list of job names, not a mapping`},
	{"extends cycle", ".a:\n  extends: .b\n.b:\n  extends: .c\n.c:\n  extends: .a\nj:\n  extends: .a\n", 6, `circular extends: j -> .a -> .b -> .c -> .a`},
	{"extends self", "j:\n  script: x\n  extends: j\n", 3, `circular extends: j -> j`},
	{"reference missing key", ".x:\n  script: [a]\nj:\n  script: !reference [.x, before_script]\n", 4, `!reference [.x, before_script]: "before_script" not found`},
	{"reference missing job", "j:\n  script: !reference [.x, script]\n", 2, `!reference [.x, script]: ".x" is not defined`},
	{"reference into list", ".x: [a]\nj:\n  script: !reference [.x, script]\n", 3, `!reference [.x, script]: cannot look up "script" in a list`},
	{"release not a map", "j:\n  script: x\n  release: v1\n", 3, `release must be a mapping, not a string`},
	{"release no tag", "j:\n  script: x\n  release:\n    description: d\n", 4, `release:tag_name must be set`},
	{"release no description", "j:\n  script: x\n  release:\n    tag_name: v1\n", 4, `release:description must be set`},
	{"release unknown", "j:\n  script: x\n  release:\n    tag_name: v1\n    bogus: 1\n", 5, `unknown release keyword "bogus"`},
	{"release link no url", "j:\n  script: x\n  release:\n    tag_name: v1\n    description: d\n    assets:\n      links:\n        - name: a\n", 8, `release:assets:links entries need name and url`},
	{"release link type", "j:\n  script: x\n  release:\n    tag_name: v1\n    description: d\n    assets:\n      links:\n        - {name: a, url: 'https://e', link_type: evil}\n", 8, `release:assets:links:link_type must be one of other, runbook, image, package, not "evil"`},
	{"reference loop", ".x:\n  script: !reference [.x, script]\nj:\n  script: !reference [.x, script]\n", 2, `!reference is nested deeper than 10 levels or refers to itself`},
}

func TestErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			e := parseError(t, tc.src)
			if e.File != "" || e.Line != tc.line || e.Msg != tc.msg {
				t.Errorf("got  file %q line %d: %s\nwant line %d: %s", e.File, e.Line, e.Msg, tc.line, tc.msg)
			}
			want := tc.msg
			if tc.line > 0 {
				want = "line " + itoa(tc.line) + ": " + tc.msg
			}
			if e.Error() != want {
				t.Errorf("Error() = %q, want %q", e.Error(), want)
			}
		})
	}
}

func TestErrorColumn(t *testing.T) {
	e := parseError(t, "b:\n  script: x\n  rules:\n    - if: $A &&\n")
	if e.Line != 4 || e.Column != 11 {
		t.Errorf("position = %d:%d, want 4:11", e.Line, e.Column)
	}
}

func TestIncludeErrors(t *testing.T) {
	repo := files{
		"ci/bad.yml":    "job:\n  script: x\n  bogus: 1\n",
		"ci/syntax.yml": "a:\n  b: c\n   d: e\n",
		"ci/list.yml":   "- a\n",
		"ci/empty.yml":  "",
		"ci/loop-a.yml": "include: ci/loop-b.yml\n",
		"ci/loop-b.yml": "include: ci/loop-a.yml\n",
		"ci/big.yml":    "a:\n  script: " + strings.Repeat("x", 200) + "\n",
		"ci/ref.yml":    "j:\n  script: !reference [.nope, script]\n",
		"ci/h.yml":      ".h: " + strings.Repeat("x", 84) + "\n",
	}
	for i := 0; i <= 11; i++ {
		repo["ci/chain"+itoa(i)+".yml"] = "include: ci/chain" + itoa(i+1) + ".yml\n"
	}
	repo["ci/chain12.yml"] = "j:\n  script: x\n"
	opts := Options{ReadFile: repo.read, MaxBytes: 100}
	many := "include:\n" + strings.Repeat("  - ci/chain12.yml\n", 101)
	cases := []struct {
		name, src, file string
		line            int
		msg             string
	}{
		{"remote string", "include: https://example.com/ci.yml\n", "", 1, `include:remote is not supported; only local files can be included`},
		{"remote", "include:\n  - remote: https://example.com/ci.yml\n", "", 2, `include:remote is not supported; only local files can be included`},
		{"project", "include:\n  - project: g/p\n    file: ci.yml\n", "", 2, `include:project is not supported; only local files can be included`},
		{"template", "include:\n  - template: Auto-DevOps.gitlab-ci.yml\n", "", 2, `include:template is not supported; only local files can be included`},
		{"component", "include:\n  - component: gitlab.com/a/b@1\n", "", 2, `include:component is not supported; only local files can be included`},
		{"rules", "include:\n  - local: ci/a.yml\n    rules: [{if: $A}]\n", "", 3, `include:rules is not supported`},
		{"unknown key", "include:\n  - locale: ci/a.yml\n", "", 2, `unknown include keyword "locale"`},
		{"no local", "include:\n  - {}\n", "", 2, `include entry needs local`},
		{"wildcard", "include: 'ci/*.yml'\n", "", 1, `include:local with wildcards is not supported`},
		{"root", "include: /\n", "", 1, `include:local needs a file path`},
		{"not string", "include: 5\n", "", 1, `cannot read included file "5": no such file`},
		{"nested list", "include: [[a]]\n", "", 1, `include must be a path, a list, or a mapping with local, not a list`},
		{"missing", "include:\n  - local: ci/missing.yml\n", "", 2, `cannot read included file "ci/missing.yml": no such file`},
		{"error inside", "include: ci/bad.yml\n", "ci/bad.yml", 3, `job "job": unknown keyword "bogus"`},
		{"syntax inside", "include: ci/syntax.yml\n", "ci/syntax.yml", 3, `invalid YAML: mapping values are not allowed in this context`},
		{"list inside", "include: ci/list.yml\n", "ci/list.yml", 1, `configuration must be a mapping of keywords and jobs, not a list`},
		{"empty inside", "include: ci/empty.yml\n", "ci/empty.yml", 0, `configuration is empty`},
		{"too big", "include: ci/big.yml\n", "ci/big.yml", 0, `file is 214 bytes, over the 100-byte limit`},
		{"reference inside", "include: ci/ref.yml\n", "ci/ref.yml", 2, `!reference [.nope, script]: ".nope" is not defined`},
		{"cycle", "include: ci/loop-a.yml\n", "ci/loop-b.yml", 1, `include cycle: ci/loop-a.yml -> ci/loop-b.yml -> ci/loop-a.yml`},
		{"too deep", "include: ci/chain2.yml\n", "ci/chain11.yml", 1, `includes are nested deeper than 10 levels`},
		{"too many", many, "", 102, `more than 100 files are included`},
		{"too many bytes", "include: [ci/h.yml, ci/h.yml, ci/h.yml, ci/h.yml, ci/h.yml]\n", "ci/h.yml", 0, `the configuration and its includes are over the 400-byte limit for all files together`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			if tc.name == "too many" {
				o.MaxBytes = 0
			}
			e := parseError(t, tc.src, o)
			if e.File != tc.file || e.Line != tc.line || e.Msg != tc.msg {
				t.Errorf("got  %q line %d: %s\nwant %q line %d: %s", e.File, e.Line, e.Msg, tc.file, tc.line, tc.msg)
			}
		})
	}
	// Ten levels of includes are fine.
	cfg := mustParse(t, "include: ci/chain3.yml\n", opts)
	if len(cfg.Jobs) != 1 {
		t.Errorf("jobs = %d", len(cfg.Jobs))
	}
	e := parseError(t, "include: ci/bad.yml\n", opts)
	if got := e.Error(); got != `ci/bad.yml: line 3: job "job": unknown keyword "bogus"` {
		t.Errorf("Error() = %q", got)
	}
	e = parseError(t, "include: ci/a.yml\n")
	if e.Line != 1 || e.Msg != "include is not available for this configuration" {
		t.Errorf("without ReadFile: %v", e)
	}
}

func TestMaskedVariables(t *testing.T) {
	cfg, err := Parse([]byte("variables:\n  API_KEY:\n    value: abcdefgh12\n    masked: true\njob:\n  script: [echo]\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Variables[0]; !v.Masked || v.Value != "abcdefgh12" {
		t.Fatalf("variable %+v, want masked", v)
	}
	_, err = Parse([]byte("job:\n  script: [echo]\n  variables:\n    PIN:\n      value: \"1234\"\n      masked: true\n"), Options{})
	var e *Error
	if !errors.As(err, &e) || e.Line != 5 || e.Msg != `variable "PIN" is marked masked but its value is shorter than 8 characters, so it cannot be masked` {
		t.Fatalf("short masked variable: %v", err)
	}
	if strings.Contains(err.Error(), "1234") {
		t.Fatalf("the error repeats the value: %v", err)
	}
}
